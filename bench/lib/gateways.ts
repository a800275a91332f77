/**
 * The three things the bench puts between a websocket client and guacd:
 * - `ours`: createTunnel from src/tunnel on a plain http.Server, with the
 *   built-in token resolver and a sealed token carrying the target;
 * - `registry`: what `serve` runs (src/server/gateway.ts openGateway): a SQLite
 *   registry in a temporary folder, registry tokens (single-use, one per
 *   session, minted before the clock starts), history hooks;
 * - `lite`: guacamole-lite 1.2.0 driven as its README shows (a GuacamoleLite
 *   server with websocket, guacd and client options; AES-256-CBC token);
 * - `pipe`: the ceiling, TCP bytes into websocket messages without parsing.
 * Each returns the URL a client opens for one session.
 */
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GatewaySettings } from '../../src/server/gateway.js';
import { createRequire } from 'node:module';
import { WebSocketServer } from 'ws';
import { instr } from './wire.js';
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import type { RecorderFactory } from '../../src/tunnel/recording/start.js';
import type { SessionRecorder } from '../../src/tunnel/recording/recorder.js';

/** What the recorders of a recording gateway saw (the last session's). */
export interface RecordingStats {
  /** Most bytes that waited for the disk at once. */
  maxPending: number;
  /** The fault that stopped the recording (a slow disk: GUAC_RECORDING_OVERRUN), if any. */
  fault: string | undefined;
  /** Bytes the slow disk took; for a file, its size once finished. */
  written: number;
  /** The last session's recording is closed. */
  finished: boolean;
  /** Times the session waited for the disk to catch up (recording/writer.ts `whenDrained`). */
  stalls: number;
  stalledMs: number;
}

/**
 * Bytes per second the slow disk (a FIFO read at this pace) takes: 1 MB/s, under the 2 MiB in 2 s a disk must
 * drain for a held session to go on (recording/writer.ts), so that the recording gives up once.
 */
const SLOW_DISK_BPS = 1e6;

export type GatewayKind = 'ours' | 'registry' | 'lite' | 'pipe' | 'ours-rec' | 'ours-rec-slow';

export interface Upstream {
  host: string;
  port: number;
  /** Target connection: guacd protocol and parameters (for the stand-in, any ssh-like set). */
  protocol: 'ssh' | 'vnc';
  params: Record<string, string | number>;
}

export interface RunningGateway {
  url: string;
  /** URLs for `n` sessions (a gateway with single-use tokens mints one each); default `url` n times. */
  urls?(n: number): Promise<string[]>;
  /** What the recording gateways' recorders saw. */
  recording?(): RecordingStats;
  close(): Promise<void>;
}

/** Size asked by every client, so all gateways hand guacd the same display. */
const SIZE_QUERY = 'width=1024&height=768&dpi=96';

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
    resolve((server.address() as { port: number }).port);
  }));
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

export async function startGateway(kind: GatewayKind, up: Upstream): Promise<RunningGateway> {
  if (kind === 'ours') return startOurs(up);
  if (kind === 'ours-rec' || kind === 'ours-rec-slow') return startRecording(up, kind === 'ours-rec-slow');
  if (kind === 'registry') return startRegistry(up);
  if (kind === 'lite') return startLite(up);
  return startPipe(up);
}

/** Every bench client is on 127.0.0.1 and opens many sessions: per-client limits off. */
const NO_CLIENT_LIMITS = { maxSessionsPerToken: 0, maxSessionsPerUser: 0, maxSessionsPerAddress: 0, handshakesPerAddress: 0 };

async function startOurs(up: Upstream, recorder?: RecorderFactory): Promise<RunningGateway> {
  const { createTunnel, tokenResolver, sealToken } = await import('../../src/tunnel/index.js');
  const { createServerLogger, parseLogLevel } = await import('../../src/server/logger.js');
  const secret = randomBytes(32).toString('hex');
  const target = { protocol: up.protocol, params: stringParams(up), ...(recorder ? { record: { keys: true } } : {}) };
  const token = sealToken({ exp: Math.floor(Date.now() / 1000) + 86400, target }, secret);
  // The server's logger at the level the bench's parent chose (GATEWAY_LOG_LEVEL, error by default: proc.ts).
  const logger = createServerLogger(parseLogLevel(process.env.GATEWAY_LOG_LEVEL));
  // The idle figure holds 2000 sessions: above the default cap of 1000.
  const tunnel = createTunnel({ guacd: { host: up.host, port: up.port }, resolve: tokenResolver({ secret }), logger,
    limits: { maxSessions: 10000, ...NO_CLIENT_LIMITS }, ...(recorder ? { recorder } : {}) });
  const server = createServer((req, res) => {
    // The file stream routes (the transfer section), as the server mounts them.
    if (req.url?.startsWith('/tunnel/streams/')) tunnel.handleStream(req, res, req.url.slice('/tunnel/streams/'.length));
    else if (!tunnel.handleHttp(req, res)) res.writeHead(404).end();
  });
  server.on('upgrade', (req, socket, head) => tunnel.handleUpgrade(req, socket, head));
  const port = await listen(server);
  return {
    url: `ws://127.0.0.1:${port}/tunnel?token=${encodeURIComponent(token)}&${SIZE_QUERY}`,
    async close() {
      await tunnel.close();
      await closeServer(server);
    },
  };
}

function stringParams(up: Upstream): Record<string, string> {
  return Object.fromEntries(Object.entries(up.params).map(([k, v]) => [k, String(v)]));
}

/**
 * A fresh temporary folder (in `BENCH_SCRATCH`, default the OS temp folder),
 * removed when this process exits: a bench child is stopped by a signal
 * (proc.ts), not by `close`, and every run used to leave its registry or its
 * recordings behind (7 GB in /dev/shm once).
 */
function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(process.env.BENCH_SCRATCH ?? tmpdir(), prefix));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * What `serve` runs, on a SQLite registry in a fresh temporary folder: one
 * connection, a wildcard grant, and a single-use registry token per session.
 */
async function startRegistry(up: Upstream): Promise<RunningGateway> {
  const { openGateway } = await import('../../src/server/gateway.js');
  const dataDir = scratchDir('bench-registry-');
  const gw = await openGateway({
    config: {
      dataDir, db: undefined, adminKey: randomBytes(24).toString('hex'), guacamoleLiteKey: undefined,
      idleTimeoutMs: 0, maxSessionMs: 0, trustedProxies: [],
      maxSessionsPerToken: 0, maxSessionsPerUser: 0, maxSessionsPerAddress: 0, handshakeRate: { handshakesPerAddress: 0 },
    } satisfies GatewaySettings,
    secret: randomBytes(32).toString('hex'),
    guacd: () => ({ host: up.host, port: up.port }),
    webRoot: dataDir,
  });
  const conn = await gw.registry.createConnection({ name: 'bench', protocol: up.protocol, params: stringParams(up) });
  await gw.registry.grant(conn.id, '*');
  const port = await listen(gw.server);
  const urlOf = (token: string): string => `ws://127.0.0.1:${port}/tunnel?token=${encodeURIComponent(token)}&${SIZE_QUERY}`;
  const mint = async (): Promise<string> => urlOf((await gw.registry.mintToken({ connection: conn.id, user: 'bench', once: true, ttlSeconds: 3600 })).token);
  return {
    url: await mint(),
    async urls(n) {
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push(await mint());
      return out;
    },
    async close() {
      await gw.close();
    },
  };
}

/** Token the way guacamole-lite's README makes it: AES-256-CBC, `{ iv, value }` JSON, base64. */
function liteToken(key: string, value: unknown): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', Buffer.from(key), iv);
  let encrypted = cipher.update(JSON.stringify(value), 'utf8', 'base64');
  encrypted += cipher.final('base64');
  return Buffer.from(JSON.stringify({ iv: iv.toString('base64'), value: encrypted })).toString('base64');
}

interface LiteServer { close(): void }
type LiteCtor = new (ws: object, guacd: object, client: object) => LiteServer;

async function startLite(up: Upstream): Promise<RunningGateway> {
  const GuacamoleLite = createRequire(import.meta.url)('guacamole-lite') as LiteCtor;
  const key = randomBytes(16).toString('hex'); // 32 bytes for AES-256
  const server = createServer();
  const lite = new GuacamoleLite({ server }, { host: up.host, port: up.port }, {
    crypt: { cypher: 'AES-256-CBC', key },
    log: { level: 0 /* QUIET */ },
    // Its default closes a session after 10 s without a browser message; a bench client is silent.
    maxInactivityTime: 0,
  });
  const port = await listen(server);
  const token = liteToken(key, { connection: { type: up.protocol, settings: { ...up.params } } });
  return {
    url: `ws://127.0.0.1:${port}/?token=${encodeURIComponent(token)}&${SIZE_QUERY}`,
    async close() {
      lite.close();
      await closeServer(server);
    },
  };
}

const HIGH_WATER = 1 << 20;
const LOW_WATER = 256 << 10;

async function startPipe(up: Upstream): Promise<RunningGateway> {
  // A canned handshake: the stand-in answers `select` with `args` and `connect` with `ready`.
  const hello = instr('select', up.protocol) + instr('size', 1024, 768, 96) + instr('audio') + instr('video') +
    instr('image', 'image/png') + instr('connect', 'VERSION_1_3_0', ...Object.values(up.params));
  const server = createServer();
  const wss = new WebSocketServer({ server, handleProtocols: () => 'guacamole' });
  wss.on('connection', (ws) => {
    const sock = connect(up.port, up.host);
    sock.setNoDelay(true);
    sock.write(hello);
    let paused = false;
    const resume = (): void => {
      if (paused && ws.bufferedAmount < LOW_WATER) {
        paused = false;
        sock.resume();
      }
    };
    sock.on('data', (d) => {
      ws.send(d, { binary: false }, resume);
      if (!paused && ws.bufferedAmount > HIGH_WATER) {
        paused = true;
        sock.pause();
      }
    });
    ws.on('message', (m: Buffer) => sock.write(m));
    ws.on('close', () => sock.destroy());
    ws.on('error', () => sock.destroy());
    sock.on('close', () => ws.close());
    sock.on('error', () => ws.terminate());
  });
  const port = await listen(server);
  return {
    url: `ws://127.0.0.1:${port}/`,
    async close() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await closeServer(server);
    },
  };
}

/**
 * `ours` with every session recorded (keys too) into a temporary folder, or
 * with `slow`, into a FIFO a reader drains at {@link SLOW_DISK_BPS}: a disk
 * far slower than the stream, to show the recording's queue stays bounded.
 */
async function startRecording(up: Upstream, slow: boolean): Promise<RunningGateway> {
  const { SessionRecorder: Recorder } = await import('../../src/tunnel/recording/recorder.js');
  // On the machine's disk, where a deployment keeps its recordings folder (the data dir), not in RAM: tmpfs
  // costs the kernel more per byte written than the page cache of a disk's file system (46 against 25 ms of
  // system time per 100 MB here), and a recording in tmpfs would be lost with the machine.
  const dir = scratchDir('bench-rec-');
  let last: SessionRecorder | undefined;
  let written = 0;
  let finished = false;
  const factory: RecorderFactory = (info, spec) => {
    const path = join(dir, `${info.id}.guac`);
    if (slow) {
      execFileSync('mkfifo', [path]);
      const reader = createReadStream(path, { highWaterMark: 64 * 1024 });
      reader.on('data', (chunk) => {
        written += chunk.length;
        reader.pause();
        setTimeout(() => reader.resume(), (chunk.length / SLOW_DISK_BPS) * 1000);
      });
      reader.on('error', () => undefined);
    }
    last = new Recorder({ path, ...spec, ...(slow ? { flags: 'w' } : {}) });
    finished = false;
    last.once('finish', (r: { size: number }) => {
      finished = true;
      if (slow) return;
      written = r.size;
      // Gone once closed, as retention would take it: the next run's writes then reuse its page-cache pages.
      // Pages this VM never touched cost the kernel 4-7x more per byte (first touch of the guest's memory:
      // 330-470 against 60-80 ms of system time per 200 MB, scripts in bench/README.md), which a long-running
      // server has long paid; without this, every run wrote 200 MB into fresh memory.
      rmSync(path, { force: true });
    });
    return last;
  };
  const gw = await startOurs(up, factory);
  return {
    ...gw,
    recording: () => ({ maxPending: last?.maxPending ?? 0, fault: last?.failed?.code, written, finished, stalls: last?.stalls ?? 0, stalledMs: Math.round(last?.stalledMs ?? 0) }),
    async close() {
      await gw.close();
    },
  };
}
