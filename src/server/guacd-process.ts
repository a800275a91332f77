/**
 * A local guacd for `serve` without `--guacd`: `--guacd-bin`
 * (`GATEWAY_GUACD_BIN`), else the one scripts/provision-guacd.sh put in
 * `.cache/guacd/bin/guacd` (a wrapper that sets LD_LIBRARY_PATH), else
 * `guacd` on PATH. Started in the foreground on a free loopback port, restarted with backoff when it
 * dies (on the same port when it can), stopped with the gateway.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import net from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SERVER } from './errors.js';
import { silentLogger, type Logger } from '../logger.js';

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 10_000;
const BACKOFF_MS = [500, 1000, 2000, 5000, 10_000, 30_000];
/** A guacd that ran this long was healthy: the backoff starts over. */
const STABLE_MS = 60_000;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The project folder: the nearest one above this module with a package.json. */
function projectRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Finds a guacd to run.
 * @param bin the executable the settings name (`--guacd-bin`), used alone when given
 * @param searchPath the `PATH` to look in last
 * @returns the executable's path, or undefined
 */
export function findGuacd(bin: string | undefined, searchPath: string): string | undefined {
  if (bin) return isExecutable(bin) ? bin : undefined;
  const root = projectRoot();
  const wrapper = root ? join(root, '.cache', 'guacd', 'bin', 'guacd') : undefined;
  if (wrapper && isExecutable(wrapper)) return wrapper;
  for (const dir of searchPath.split(delimiter)) {
    if (dir && isExecutable(join(dir, 'guacd'))) return join(dir, 'guacd');
  }
  return undefined;
}

function freePort(port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, HOST, () => {
      const { port: actual } = server.address() as net.AddressInfo;
      server.close(() => resolve(actual));
    });
  });
}

function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, HOST);
    socket.setTimeout(500);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/** A supervised guacd process. */
export class GuacdProcess {
  /** The port guacd listens on (stable across restarts when possible). */
  port = 0;
  restarts = 0;
  private child: ChildProcess | undefined;
  private stopping = false;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;

  /**
   * @param bin the guacd executable (see {@link findGuacd})
   * @param logLevel guacd's `-L` (default info)
   * @param log where guacd's own lines and its restarts are reported
   */
  constructor(readonly bin: string, readonly logLevel = 'info', private readonly log: Logger = silentLogger) {}

  /** guacd's address for the tunnel. */
  get address(): { host: string; port: number } {
    return { host: HOST, port: this.port };
  }

  /**
   * Starts guacd and waits until it listens.
   * @throws GuacError `GUAC_GUACD_START` when it exits or stays deaf for 10 s
   */
  async start(): Promise<void> {
    this.port = await freePort();
    await this.spawnOnce();
  }

  /** True while a guacd process runs. */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Stops guacd (TERM, then KILL after 3 s) and any pending restart. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }

  private async spawnOnce(): Promise<void> {
    const child = spawn(this.bin, ['-f', '-b', HOST, '-l', String(this.port), '-L', this.logLevel], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const startedAt = Date.now();
    let listening = false;
    let onListening: (() => void) | undefined;
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        if (!listening && /Listening on host/i.test(line)) {
          listening = true;
          onListening?.();
        }
        const level = /ERROR/.test(line) ? 'warn' : 'debug';
        this.log[level]({ line: line.replace(/^guacd\[\d+\]:\s*/, '').slice(0, 500) }, 'guacd');
      });
    }
    const exited = new Promise<string>((resolve) => {
      child.once('exit', (code, signal) => resolve(signal ?? `exit code ${code}`));
      child.once('error', (err) => resolve(err.message));
    });
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
      if (this.stopping || !listening) return;
      if (Date.now() - startedAt >= STABLE_MS) this.failures = 0;
      this.scheduleRestart();
    });

    const ready = new Promise<void>((resolve) => {
      onListening = resolve;
      // Builds that log elsewhere still accept connections: probe as well.
      const poll = async () => {
        while (!listening && child.exitCode === null) {
          if (await probe(this.port)) {
            listening = true;
            break;
          }
          await new Promise((r) => setTimeout(r, 200));
        }
        resolve();
      };
      void poll();
    });
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      ready.then(() => 'ready' as const),
      exited.then((why) => why),
      new Promise<string>((resolve) => { timer = setTimeout(() => resolve('no answer within 10 s'), READY_TIMEOUT_MS); }),
    ]);
    clearTimeout(timer);
    if (outcome !== 'ready' || !listening) {
      if (child.exitCode === null) child.kill('SIGKILL');
      throw SERVER.GUAC_GUACD_START({ message: `guacd (${this.bin}) did not start: ${outcome}.` });
    }
    this.log.info({ pid: child.pid, port: this.port }, 'guacd started');
  }

  private scheduleRestart(): void {
    const delay = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
    this.failures++;
    this.log.warn({ inMs: delay, restarts: this.restarts }, 'guacd exited; restarting');
    this.restartTimer = setTimeout(() => {
      void (async () => {
        if (this.stopping) return;
        try {
          // Same port when it is still free, so the tunnel's address stays valid.
          this.port = await freePort(this.port).catch(() => freePort());
          this.restarts++;
          await this.spawnOnce();
        } catch (err) {
          this.log.error({ error: err }, 'guacd restart failed');
          if (!this.stopping) this.scheduleRestart();
        }
      })();
    }, delay);
  }
}
