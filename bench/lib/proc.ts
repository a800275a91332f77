/**
 * Child processes for the bench. Every measurement runs in a process of its
 * own (clean heap, its own core when there is one), and talks to its parent
 * over the IPC channel with a tiny request/reply protocol: the child announces
 * `{ ready, info }`, then answers `{ id, cmd, arg }` with `{ id, ok, value }`.
 * A child exits when its parent goes away, so a killed bench leaves nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

type Handler = (arg: unknown) => unknown;
interface Reply { id: number; ok: boolean; value?: unknown; error?: string }
interface Ready { ready: true; info?: unknown; error?: string }

/** A running child that answers commands. */
export interface ChildPeer<Info = unknown> {
  readonly info: Info;
  readonly pid: number;
  call<T>(cmd: string, arg?: unknown, timeoutMs?: number): Promise<T>;
  /** Ends the child by its pid (and its process group when it leads one). */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Arguments for node itself (default `--expose-gc`). */
  execArgv?: string[];
  /** Raise the open-file limit in the launching shell first. */
  raiseFdLimit?: boolean;
  /** What to do with the child's stdout (guacamole-lite prints to it). */
  stdout?: 'inherit' | 'ignore';
  env?: NodeJS.ProcessEnv;
  startTimeoutMs?: number;
}

/** Path of a compiled module next to the caller: `modulePath(import.meta.url, '../procs/gateway.js')`. */
export function modulePath(base: string, rel: string): string {
  return fileURLToPath(new URL(rel, base));
}

/** Starts `script` with `init` (JSON in argv[2]) and waits for it to report ready. */
export function startChild<Info = unknown>(script: string, init: unknown, opts: StartOptions = {}): Promise<ChildPeer<Info>> {
  // BENCH_CPU_PROF=DIR: every child writes a .cpuprofile there (read them with dist/bench/profile.js).
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const nodeArgs = [...(opts.execArgv ?? ['--expose-gc']), ...prof, script, JSON.stringify(init)];
  const stdio: ('inherit' | 'ignore' | 'ipc')[] = ['ignore', opts.stdout ?? 'inherit', 'inherit', 'ipc'];
  const env = { GATEWAY_LOG_LEVEL: 'error', ...process.env, ...opts.env };
  // The shell raises the soft limit to the hard one, then becomes node (keeping the IPC fd).
  const child: ChildProcess = opts.raiseFdLimit
    ? spawn('bash', ['-c', 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"', process.execPath, ...nodeArgs], { stdio, env })
    : spawn(process.execPath, nodeArgs, { stdio, env });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${script}: no ready within ${opts.startTimeoutMs ?? 30000} ms`)), opts.startTimeoutMs ?? 30000);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    child.once('error', fail);
    child.once('exit', (code, sig) => fail(new Error(`${script} exited before ready (code ${code}, signal ${sig})`)));
    child.once('message', (msg: Ready) => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.removeAllListeners('error');
      if (msg.error) {
        child.kill('SIGKILL');
        reject(new Error(msg.error));
        return;
      }
      resolve(makePeer<Info>(child, msg.info as Info));
    });
  });
}

function makePeer<Info>(child: ChildProcess, info: Info): ChildPeer<Info> {
  let next = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout }>();
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    for (const p of pending.values()) p.reject(new Error('child exited'));
    pending.clear();
    resolve();
  }));
  child.on('message', (msg: Reply) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (p.timer) clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.value);
    else p.reject(new Error(msg.error ?? 'child failed'));
  });
  return {
    info,
    pid: child.pid ?? -1,
    call<T>(cmd: string, arg?: unknown, timeoutMs?: number): Promise<T> {
      if (exited) return Promise.reject(new Error('child exited'));
      const id = next++;
      return new Promise<T>((resolve, reject) => {
        const entry: { resolve: (v: unknown) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout } = {
          resolve: resolve as (v: unknown) => void,
          reject,
        };
        if (timeoutMs) entry.timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${cmd}: timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, entry);
        child.send({ id, cmd, arg });
      });
    },
    async stop(): Promise<void> {
      if (exited) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exitPromise;
      clearTimeout(t);
    },
  };
}

/** Child side: runs `setup(init)`, reports ready with its info, then serves commands. */
export function serveChild<Init>(setup: (init: Init) => Promise<{ info?: unknown; handlers: Record<string, Handler> }>): void {
  const send = (m: unknown): void => {
    if (process.connected) process.send?.(m);
  };
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
  const init = JSON.parse(process.argv[2] ?? '{}') as Init;
  setup(init).then(({ info, handlers }) => {
    process.on('message', (msg: { id: number; cmd: string; arg: unknown }) => {
      const h = handlers[msg.cmd];
      if (!h) {
        send({ id: msg.id, ok: false, error: `unknown command ${msg.cmd}` });
        return;
      }
      Promise.resolve()
        .then(() => h(msg.arg))
        .then(
          (value) => send({ id: msg.id, ok: true, value }),
          (err: unknown) => send({ id: msg.id, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) }),
        );
    });
    send({ ready: true, info });
  }, (err: unknown) => {
    send({ ready: true, error: err instanceof Error ? err.stack ?? err.message : String(err) });
  });
}

/** Full GC when the process was started with --expose-gc (twice: weak refs, then what they held). */
export function fullGc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}
