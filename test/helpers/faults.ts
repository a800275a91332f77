/**
 * Fault injection for the security tests: a guacd of the test's own (the
 * real 1.3.0 binary of the test environment, in a session of its own so it
 * can be killed with its connection processes without touching the shared
 * one), and a TCP proxy that can be cut, made to reset or to swallow bytes
 * (blackhole) in front of guacd, PostgreSQL or a target.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { freePort, loadTestEnv, waitFor } from './env.js';

export { freePort };

/** A guacd this test started. */
export interface OwnGuacd {
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  /** guacd's last 200 log lines. */
  readonly log: string[];
  /** SIGKILL to guacd and every connection process it forked (its session). */
  kill(): Promise<void>;
}

/**
 * Starts a guacd of the test environment (1.3.0 unless `wrapper` names
 * another version's, see env.json `guacds`) on a free port, in the
 * foreground and in a process group of its own; `extraArgs` are added to
 * its command line (`-C cert -K key` for TLS).
 * @throws Error when it does not listen within 15 s
 */
export async function startOwnGuacd(wrapper: string = loadTestEnv().guacd.wrapper, extraArgs: readonly string[] = []): Promise<OwnGuacd> {
  const port = await freePort();
  const child: ChildProcess = spawn(wrapper, ['-f', '-b', '127.0.0.1', '-l', String(port), '-L', 'info', ...extraArgs], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let listening!: () => void;
  const ready = new Promise<void>((resolve) => { listening = resolve; });
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      // The last lines only: a soak run's guacd logs thousands.
      if (lines.push(line) > 200) lines.shift();
      if (/Listening on host/.test(line)) listening();
    });
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid as number;
  let killed = false;
  const kill = async (): Promise<void> => {
    if (!killed) {
      killed = true;
      // guacd gives each connection process a process group of its own (setpgid), but
      // they all stay in the session the daemon leads (spawned detached: setsid). The
      // session is listed again until it is empty: a connection process forked while
      // the list was read would escape one pass (one was found alive an hour later).
      for (let round = 0; round < 5; round++) {
        const targets = round === 0 ? [pid, ...sessionMembers(pid)] : sessionMembers(pid);
        if (targets.length === 0) break;
        for (const p of targets) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    await exited;
  };
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then(() => 'ok'),
    exited.then(() => 'exited'),
    new Promise<string>((resolve) => { timer = setTimeout(() => resolve('timeout'), 15_000); }),
  ]);
  clearTimeout(timer);
  if (outcome !== 'ok') {
    await kill();
    throw new Error(`own guacd did not start (${outcome}): ${lines.slice(-5).join(' | ')}`);
  }
  // guacd logs "Listening on host" after bind() and before listen(): until then connections are refused.
  try {
    await waitFor(() => accepts(port), { timeoutMs: 5000, intervalMs: 20, what: `guacd to accept connections on port ${port}` });
  } catch (err) {
    await kill();
    throw err;
  }
  return { host: '127.0.0.1', port, pid, log: lines, kill };
}

/** Whether something accepts a TCP connection on 127.0.0.1:`port` (closed again at once). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** Pids of the processes in session `sid` (field 6 of /proc/PID/stat). */
function sessionMembers(sid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // After ") ": state, ppid, pgrp, session. A zombie is dead already (its parent reaps it).
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[3]) === sid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** What the proxy does with connections. */
export type ProxyMode = 'pass' | 'reset' | 'blackhole';

/** A TCP proxy the test controls. */
export interface TcpProxy {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections open right now. */
  readonly open: number;
  /** Most connections open at once so far. */
  readonly peakOpen: number;
  /**
   * `pass` forwards; `reset` destroys every open connection and each new one
   * at once (the server went away); `blackhole` keeps connections, forwards
   * nothing either way (a dead network path).
   */
  setMode(mode: ProxyMode): void;
  close(): Promise<void>;
}

/**
 * Starts a proxy on 127.0.0.1:0 to `target`.
 * @param target where `pass` forwards to
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: ProxyMode = 'pass';
  let accepted = 0;
  let peakOpen = 0;
  const pairs = new Set<[net.Socket, net.Socket | undefined]>();
  const server = net.createServer((down) => {
    accepted++;
    down.on('error', () => undefined);
    if (mode === 'reset') {
      down.destroy();
      return;
    }
    const pair: [net.Socket, net.Socket | undefined] = [down, undefined];
    pairs.add(pair);
    peakOpen = Math.max(peakOpen, pairs.size);
    down.once('close', () => {
      pairs.delete(pair);
      pair[1]?.destroy();
    });
    if (mode === 'blackhole') {
      down.resume();
      return;
    }
    const up = net.connect(target.port, target.host);
    pair[1] = up;
    up.on('error', () => undefined);
    up.once('close', () => down.destroy());
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    get accepted() { return accepted; },
    get open() { return pairs.size; },
    get peakOpen() { return peakOpen; },
    setMode(next) {
      mode = next;
      for (const pair of [...pairs]) {
        const [down, up] = pair;
        if (next === 'reset') {
          down.destroy();
          up?.destroy();
        } else if (next === 'blackhole') {
          down.unpipe();
          up?.unpipe();
          down.resume();
          up?.resume();
        }
      }
    },
    async close() {
      for (const [down, up] of pairs) {
        down.destroy();
        up?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A listener that accepts connections and never writes a byte (a target that hangs). */
export async function startSilentListener(): Promise<{ port: number; accepted: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.once('close', () => sockets.delete(s));
    s.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get accepted() { return accepted; },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
