/**
 * What this process holds, read from Linux's /proc: open file descriptors,
 * TCP sockets to a given port, memory after a full garbage collection, CPU
 * time. The leak and load tests measure with these.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { queryObjects, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Open file descriptors of this process. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Inodes of the sockets this process holds. */
function socketInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // closed between readdir and readlink
    }
  }
  return inodes;
}

/**
 * TCP sockets this process holds whose remote end is `port` (on any
 * address), in any state but LISTEN.
 */
export function socketsTo(port: number): number {
  const mine = socketInodes();
  let n = 0;
  for (const file of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const remotePort = parseInt(f[2].split(':')[1], 16);
      if (remotePort === port && f[3] !== '0A' && mine.has(f[9])) n++;
    }
  }
  return n;
}

let gcFn: (() => void) | undefined;

/** Runs a full garbage collection (enables `gc` on first use). */
export function fullGc(): void {
  if (!gcFn) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (g) {
      gcFn = g;
    } else {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    }
  }
  gcFn();
  gcFn();
}

/** Memory after a full collection, in bytes. */
export interface MemorySample {
  heapUsed: number;
  /** Heap plus off-heap buffers (the relay's Buffers live there). */
  heapAndExternal: number;
  rss: number;
}

/** Collects, lets pending closes finish, then samples. */
export async function memoryAfterGc(): Promise<MemorySample> {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    fullGc();
  }
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, heapAndExternal: m.heapUsed + m.external + m.arrayBuffers, rss: m.rss };
}

/** CPU seconds (user + system) of a process; this one by default. */
export function cpuSeconds(pid: number | 'self' = 'self'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are the 14th and 15th overall.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]);
  return ticks / 100;
}

/** Resident memory of a process, in bytes. */
export function rssBytes(pid: number | 'self' = 'self'): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** MiB with one decimal, for reports. */
export function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

/** CPU (user + system, reaped children included) and resident memory of every process in session `sid`. */
export function sessionStats(sid: number): { cpuSeconds: number; rssBytes: number; processes: number } {
  let ticks = 0;
  let rss = 0;
  let processes = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // f[0] state, f[3] session, f[11..14] utime stime cutime cstime, f[21] rss in pages.
    if (Number(f[3]) !== sid) continue;
    processes++;
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    rss += Number(f[21]) * 4096;
  }
  return { cpuSeconds: ticks / 100, rssBytes: rss, processes };
}

/** Live instances of a class on the heap (after a full collection); v8.queryObjects without its experimental-feature warning. */
export function liveInstances(ctor: abstract new (...args: never[]) => unknown): number {
  fullGc();
  const emit = process.emitWarning;
  process.emitWarning = () => undefined;
  try {
    return queryObjects(ctor as unknown as (...args: unknown[]) => unknown, { format: 'count' }) as number;
  } finally {
    process.emitWarning = emit;
  }
}
