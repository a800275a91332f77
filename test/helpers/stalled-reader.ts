/**
 * The attack of issue 15 (item 2): a token holder opens a real SSH session,
 * stops reading (its TCP socket paused, as a hostile or wedged client would)
 * and floods the internal pings the gateway answers. It runs against a
 * gateway child, whose resident memory is sampled throughout; whenever the
 * gateway drops the attacker, it opens a new session and goes on until the
 * time is up. The backlog test runs it for seconds, the soak run for a
 * minute (the figure in docs/security.md).
 */
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { encode } from '../../src/protocol/encoder.js';
import { sealToken } from '../../src/tunnel/token.js';
import { startGatewayChild } from './gateway-child.js';
import { mib, rssBytes } from './procfs.js';
import { Cleanups, openSession, sshParams } from './security.js';
import type { TunnelClient } from './ws-client.js';

/** Options of {@link runStalledReader}. */
export interface StalledReaderOptions {
  /** The guacd the gateway child relays to. */
  guacd: { host: string; port: number };
  /** How long the attack runs. */
  durationMs: number;
  /** The gateway's `browserTimeoutMs`; 0 keeps a stalled browser (held back, never cut). Default: the tunnel's. */
  browserTimeoutMs?: number;
  /** The pings' timestamp (default 13 digits, what guacamole-common-js sends). */
  timestamp?: string;
  /** Attackers at once, each with a session of its own (default 1). */
  attackers?: number;
}

/** A session end, as the gateway logged it. */
export interface LoggedEnd {
  id: string;
  status: number;
  statusName: string;
  code?: string;
  message?: string;
}

/** What {@link runStalledReader} measured. */
export interface StalledReaderResult {
  /** Sessions the attackers opened. */
  sessions: number;
  /** Bytes of pings the attacker's kernel accepted (the gateway read them, or they wait in socket buffers). */
  sent: number;
  /** For each session the gateway dropped: ms from the start of its flood. */
  droppedAfterMs: number[];
  rssStartMiB: number;
  rssPeakMiB: number;
  rssEndMiB: number;
  /** The gateway's heap and off-heap buffers after a full collection: before the attack, and at its end (sessions still held). */
  heapStartMiB: number;
  heapEndMiB: number;
  /** The gateway's RSS in MiB at each second of the attack. */
  rssBySecond: number[];
  /** The gateway's log of the attacker's sessions' ends. */
  ends: LoggedEnd[];
}

/** One WebSocket message of pings, about 256 KiB (the tunnel accepts up to 1 MiB). */
function pingMessage(timestamp: string): Buffer {
  const one = encode('', 'ping', timestamp);
  return Buffer.from(one.repeat(Math.ceil((256 * 1024) / Buffer.byteLength(one))), 'utf8');
}

/**
 * Floods `c` with `message` without reading, until `deadline` or until the
 * gateway drops the connection. At most four messages are queued on the
 * attacker's side: a gateway that stops reading stops the flood.
 */
function flood(c: TunnelClient, message: Buffer, deadline: number): Promise<{ sent: number; dropped: boolean }> {
  (c.ws as unknown as { _socket: net.Socket })._socket.pause();
  let sent = 0;
  let inFlight = 0;
  return new Promise((resolve) => {
    let done = false;
    const finish = (dropped: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ sent, dropped });
    };
    const timer = setTimeout(() => finish(false), Math.max(0, deadline - Date.now()));
    void c.closed.then(() => finish(true));
    const pump = (): void => {
      while (!done && inFlight < 4 && c.ws.readyState === c.ws.OPEN) {
        inFlight++;
        c.ws.send(message, (err) => {
          inFlight--;
          if (err) return;
          sent += message.length;
          pump();
        });
      }
    };
    pump();
  });
}

/** The gateway's `tunnel: session ended…` lines for these sessions. */
function loggedEnds(logs: readonly string[], ids: ReadonlySet<string>): LoggedEnd[] {
  const ends: LoggedEnd[] = [];
  for (const line of logs) {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (typeof entry.msg !== 'string' || !entry.msg.startsWith('tunnel: session ended') || !ids.has(entry.session as string)) continue;
    ends.push({
      id: entry.session as string, status: entry.status as number, statusName: entry.statusName as string,
      ...(typeof entry.code === 'string' ? { code: entry.code } : {}),
      ...(typeof entry.message === 'string' ? { message: entry.message } : {}),
    });
  }
  return ends;
}

/** Runs the attack; the gateway child and every session are gone when it resolves. */
export async function runStalledReader(opts: StalledReaderOptions): Promise<StalledReaderResult> {
  const cleanups = new Cleanups();
  try {
    const secret = randomBytes(24).toString('base64url');
    const gw = await startGatewayChild(opts.guacd, secret, 15_000, {
      captureLog: true,
      ...(opts.browserTimeoutMs !== undefined ? { browserTimeoutMs: opts.browserTimeoutMs } : {}),
    });
    cleanups.add(() => gw.stop());
    const token = sealToken({ exp: Math.floor(Date.now() / 1000) + 3600, target: { protocol: 'ssh', params: sshParams() } }, secret);
    const query = `token=${encodeURIComponent(token)}`;
    const message = pingMessage(opts.timestamp ?? '1733300000000');

    const ids = new Set<string>();
    const droppedAfterMs: number[] = [];
    let sent = 0;
    let rssStart = 0;
    let rssPeak = 0;
    const rssBySecond: number[] = [];
    const sampler = setInterval(() => {
      if (deadline === 0) return;
      const rss = rssBytes(gw.pid);
      rssPeak = Math.max(rssPeak, rss);
      const second = Math.floor((Date.now() - (deadline - opts.durationMs)) / 1000);
      if (rssBySecond[second] === undefined) rssBySecond[second] = Number(mib(rss));
    }, 100);
    cleanups.add(() => clearInterval(sampler));
    let deadline = 0;
    const open = (): Promise<TunnelClient> => openSession(cleanups, gw, query, { pingMs: 0 });
    const first = await Promise.all(Array.from({ length: opts.attackers ?? 1 }, open));
    // Measured from the first live sessions on: the gateway's own start-up is not the attack's.
    const heapStart = (await gw.memoryAfterGc()).heapAndExternal;
    rssStart = rssBytes(gw.pid);
    rssPeak = rssStart;
    deadline = Date.now() + opts.durationMs;
    // Half a second before the end, while the attackers' sessions are still held.
    const heapEnd = new Promise<number>((resolve) => {
      setTimeout(() => void gw.memoryAfterGc().then((m) => resolve(m.heapAndExternal)), Math.max(0, opts.durationMs - 500));
    });
    await Promise.all(first.map(async (session) => {
      for (let c = session; ; c = await open()) {
        ids.add(c.uuid as string);
        const t0 = Date.now();
        const r = await flood(c, message, deadline);
        sent += r.sent;
        if (r.dropped) droppedAfterMs.push(Date.now() - t0);
        c.terminate();
        if (Date.now() >= deadline) return;
      }
    }));
    clearInterval(sampler);
    const rssEnd = rssBytes(gw.pid);
    await gw.stop();
    return {
      sessions: ids.size, sent, droppedAfterMs,
      rssStartMiB: Number(mib(rssStart)), rssPeakMiB: Number(mib(Math.max(rssPeak, rssEnd))), rssEndMiB: Number(mib(rssEnd)),
      rssBySecond: [...rssBySecond].map((v) => v ?? 0),
      heapStartMiB: Number(mib(heapStart)), heapEndMiB: Number(mib(await heapEnd)),
      ends: loggedEnds(gw.logs, ids),
    };
  } finally {
    await cleanups.run();
  }
}

/** One line for a report. */
export function describeStalledReader(r: StalledReaderResult): string {
  const statuses = [...new Set(r.ends.map((e) => `${e.statusName}${e.code ? `/${e.code}` : ''}`))].join(', ') || 'none';
  return `${r.sessions} session(s), ${mib(r.sent)} MiB of pings accepted by the kernel, dropped after ${r.droppedAfterMs.map((ms) => (ms / 1000).toFixed(1)).join(', ') || '—'} s; ` +
    `gateway heap+external after GC ${r.heapStartMiB} → ${r.heapEndMiB} MiB, RSS ${r.rssStartMiB} → peak ${r.rssPeakMiB} → end ${r.rssEndMiB} MiB ` +
    `(each second: ${r.rssBySecond.join(' ')}); ends: ${statuses}`;
}
