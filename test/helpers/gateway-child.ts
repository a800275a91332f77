/**
 * A gateway in a process of its own, so the load test and the soak run can
 * measure its CPU and memory apart from the clients driving it: the tunnel
 * (tokenResolver) on an HTTP server at 127.0.0.1:0, guacd from the
 * arguments. Run as `node gateway-child.js <guacd host> <guacd port> <handshake timeout ms> [<browser timeout ms>]`
 * with GATEWAY_SECRET set; prints `{"port": N}` once listening; on SIGUSR2,
 * collects its garbage and prints `{"memory": {…}}`; exits cleanly on
 * SIGTERM. {@link startGatewayChild} does all that from a test.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { tokenResolver } from '../../src/tunnel/resolver.js';
import { startTestGateway } from './ws-client.js';

/** A running gateway child. */
export interface GatewayChild {
  pid: number;
  port: number;
  wsUrl: string;
  /** `http://127.0.0.1:PORT/tunnel` */
  httpUrl: string;
  /** The child's log lines (JSON), when started with `captureLog`. */
  logs: string[];
  /** The child's heap plus off-heap buffers and its RSS, after a full collection. */
  memoryAfterGc(): Promise<{ heapAndExternal: number; rss: number }>;
  /** SIGTERM, then SIGKILL after 5 s; resolves when it exited. */
  stop(): Promise<void>;
}

/** Options of {@link startGatewayChild}. */
export interface GatewayChildOptions {
  /** The tunnel's `browserTimeoutMs` (its default when not given). */
  browserTimeoutMs?: number;
  /** Log at `info` and keep the lines in `logs` (session ends included) instead of passing warnings to stderr. */
  captureLog?: boolean;
}

/**
 * Spawns the gateway child.
 * @param guacd the guacd it relays to
 * @param secret the token secret
 * @param handshakeTimeoutMs the tunnel's handshake timeout (guacd's hung forks cost this much each)
 */
export async function startGatewayChild(guacd: { host: string; port: number }, secret: string, handshakeTimeoutMs = 15_000, opts: GatewayChildOptions = {}): Promise<GatewayChild> {
  const args = ['--expose-gc', fileURLToPath(import.meta.url), guacd.host, String(guacd.port), String(handshakeTimeoutMs)];
  if (opts.browserTimeoutMs !== undefined) args.push(String(opts.browserTimeoutMs));
  const child = spawn(process.execPath, args, {
    env: { ...process.env, GATEWAY_SECRET: secret, GATEWAY_LOG_LEVEL: opts.captureLog ? 'info' : 'warn' },
    stdio: ['ignore', 'pipe', opts.captureLog ? 'pipe' : 'inherit'],
  });
  const logs: string[] = [];
  if (opts.captureLog) createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => logs.push(line));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const port = await new Promise<number>((resolve, reject) => {
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`gateway child exited with ${code}`)));
  });
  return {
    pid: child.pid as number,
    port,
    wsUrl: `ws://127.0.0.1:${port}/tunnel`,
    httpUrl: `http://127.0.0.1:${port}/tunnel`,
    logs,
    memoryAfterGc() {
      const answer = new Promise<{ heapAndExternal: number; rss: number }>((resolve) => {
        lines.once('line', (line) => resolve((JSON.parse(line) as { memory: { heapAndExternal: number; rss: number } }).memory));
      });
      child.kill('SIGUSR2');
      return answer;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function main(): Promise<void> {
  const [host, port, handshakeTimeoutMs, browserTimeoutMs] = process.argv.slice(2);
  // startTestGateway logs through testLogger, which writes the lines at the parent's GATEWAY_LOG_LEVEL to stderr.
  const g = await startTestGateway({
    guacd: { host, port: Number(port) },
    handshakeTimeoutMs: Number(handshakeTimeoutMs),
    ...(browserTimeoutMs !== undefined ? { browserTimeoutMs: Number(browserTimeoutMs) } : {}),
    resolve: tokenResolver({ secret: process.env.GATEWAY_SECRET as string }),
    limits: { maxSessions: 5000 },
  });
  process.stdout.write(JSON.stringify({ port: g.port }) + '\n');
  process.on('SIGUSR2', () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    const m = process.memoryUsage();
    process.stdout.write(JSON.stringify({ memory: { heapAndExternal: m.heapUsed + m.external + m.arrayBuffers, rss: m.rss } }) + '\n');
  });
  process.once('SIGTERM', () => void g.close().then(() => process.exit(0)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
