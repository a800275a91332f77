/**
 * Concurrent real SSH sessions through one gateway process and a guacd
 * 1.3.0 of the run's own, with the gateway's and guacd's CPU and memory
 * measured apart (the load test runs 20, the soak 200).
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { sealToken } from '../../src/tunnel/token.js';
import { startOwnGuacd } from './faults.js';
import { startGatewayChild } from './gateway-child.js';
import { cpuSeconds, mib, sessionStats, rssBytes } from './procfs.js';
import { Cleanups, guacdRetries, openSession, runInShell, sshParams } from './security.js';
import type { TunnelClient } from './ws-client.js';

/** Options of {@link runLoad}. */
export interface LoadOptions {
  sessions: number;
  /** Sessions being opened at once (guacd forks one process each; sshd throttles unauthenticated connections). */
  openConcurrency?: number;
  /** Lines each session prints (`seq`) before touching its marker. */
  lines?: number;
  /** How long every session then stays open, idle but alive. */
  holdMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** What a load run measured. */
export interface LoadResult {
  sessions: number;
  /** Sessions whose typed command ran on the target. */
  working: number;
  /** Sessions opened again because guacd failed their handshake. */
  reopened: number;
  openSeconds: number;
  /** From the first session opening to the last one closing. */
  wallSeconds: number;
  bytesToBrowsers: number;
  gateway: { cpuSeconds: number; cpuPercentOfOneCore: number; rssStartMiB: number; rssPeakMiB: number };
  guacd: { cpuSeconds: number; rssPeakMiB: number; processesPeak: number };
}

/** Runs the load; every process and file it made is gone when it resolves. */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const { sessions: n, openConcurrency = 8, lines = 300, holdMs = 2000, log = () => undefined } = opts;
  const cleanups = new Cleanups();
  try {
    const guacd = await startOwnGuacd();
    cleanups.add(() => guacd.kill());
    const secret = randomBytes(24).toString('base64url');
    const gw = await startGatewayChild({ host: guacd.host, port: guacd.port }, secret, 8000);
    cleanups.add(() => gw.stop());
    const token = sealToken({ exp: Math.floor(Date.now() / 1000) + 3600, target: { protocol: 'ssh', params: sshParams() } }, secret);
    const query = `token=${encodeURIComponent(token)}`;

    const gwRssStart = rssBytes(gw.pid);
    const gwCpu0 = cpuSeconds(gw.pid);
    const guacdCpu0 = sessionStats(guacd.pid).cpuSeconds;
    let gwRssPeak = gwRssStart;
    let guacdRssPeak = 0;
    let guacdProcessesPeak = 0;
    const sampler = setInterval(() => {
      try {
        gwRssPeak = Math.max(gwRssPeak, rssBytes(gw.pid));
        const g = sessionStats(guacd.pid);
        guacdRssPeak = Math.max(guacdRssPeak, g.rssBytes);
        guacdProcessesPeak = Math.max(guacdProcessesPeak, g.processes);
      } catch {
        // a process went away between listing and reading
      }
    }, 250);
    cleanups.add(() => clearInterval(sampler));

    const retries0 = guacdRetries.count;
    const t0 = Date.now();
    const clients: TunnelClient[] = [];
    let next = 0;
    const opener = async (): Promise<void> => {
      while (next < n) {
        next++;
        clients.push(await openSession(cleanups, gw, query, {}, 60_000));
        if (clients.length % 20 === 0) log(`  ${clients.length}/${n} sessions open`);
      }
    };
    await Promise.all(Array.from({ length: openConcurrency }, opener));
    const openSeconds = (Date.now() - t0) / 1000;
    log(`  ${n} sessions open in ${openSeconds.toFixed(1)} s; typing`);

    const tag = randomBytes(4).toString('hex');
    const markers = clients.map((_, i) => `/tmp/gg-load-${tag}-${i}`);
    cleanups.add(() => { for (const m of markers) rmSync(m, { force: true }); });
    const timeoutMs = 30_000 + n * 300;
    const ran = await Promise.all(clients.map((c, i) => runInShell(c, `seq 1 ${lines}; touch ${markers[i]}`, markers[i], timeoutMs).then(() => true, () => false)));
    const working = ran.filter(Boolean).length;
    log(`  ${working}/${n} sessions ran their command; holding ${holdMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, holdMs));
    const alive = clients.filter((c) => c.ws.readyState === c.ws.OPEN).length;
    for (const c of clients) c.close();
    await Promise.all(clients.map((c) => c.waitClosed(30_000).catch(() => undefined)));
    const wallSeconds = (Date.now() - t0) / 1000;
    clearInterval(sampler);
    const gwCpu = cpuSeconds(gw.pid) - gwCpu0;
    const guacdCpu = sessionStats(guacd.pid).cpuSeconds - guacdCpu0;
    return {
      sessions: n,
      working: Math.min(working, alive),
      reopened: guacdRetries.count - retries0,
      openSeconds,
      wallSeconds,
      bytesToBrowsers: clients.reduce((sum, c) => sum + c.messageSizes.reduce((a, b) => a + b, 0), 0),
      gateway: {
        cpuSeconds: gwCpu,
        cpuPercentOfOneCore: (100 * gwCpu) / wallSeconds,
        rssStartMiB: Number(mib(gwRssStart)),
        rssPeakMiB: Number(mib(gwRssPeak)),
      },
      guacd: { cpuSeconds: guacdCpu, rssPeakMiB: Number(mib(guacdRssPeak)), processesPeak: guacdProcessesPeak },
    };
  } finally {
    await cleanups.run();
  }
}

/** One line for a report. */
export function describeLoad(r: LoadResult): string {
  return `${r.working}/${r.sessions} SSH sessions working (${r.reopened} reopened after guacd failed a handshake); opened in ${r.openSeconds.toFixed(1)} s, ` +
    `${r.wallSeconds.toFixed(1)} s in all, ${mib(r.bytesToBrowsers)} MiB to the browsers; gateway: ${r.gateway.cpuSeconds.toFixed(2)} CPU s ` +
    `(${r.gateway.cpuPercentOfOneCore.toFixed(1)} % of one core), RSS ${r.gateway.rssStartMiB} → peak ${r.gateway.rssPeakMiB} MiB; ` +
    `guacd: ${r.guacd.cpuSeconds.toFixed(2)} CPU s, RSS peak ${r.guacd.rssPeakMiB} MiB over ${r.guacd.processesPeak} processes`;
}
