/**
 * The bench's browser: a `ws` client with subprotocol `guacamole` that counts
 * bytes and does nothing heavy (no UTF-8 validation, no compression: the same
 * cheap client for every gateway, so the gateway is what is measured).
 */
import WebSocket from 'ws';
import { nowMs, round } from './stats.js';

/**
 * Messages that arrive before anyone listens: ws emits the first frames
 * synchronously after 'open' when they came in the same read as the upgrade
 * response, before an awaiting caller can attach its listener.
 */
const early = new WeakMap<WebSocket, { queue: Buffer[]; listener: (d: WebSocket.RawData) => void }>();

/** Stops queueing early messages and returns them (once). */
export function takeEarly(ws: WebSocket): Buffer[] {
  const e = early.get(ws);
  if (!e) return [];
  early.delete(ws);
  ws.off('message', e.listener);
  return e.queue;
}

export function openWs(url: string, timeoutMs = 15000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'guacamole', { perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: timeoutMs });
    const queue: Buffer[] = [];
    const listener = (d: WebSocket.RawData): void => {
      queue.push(msgBuffer(d));
    };
    early.set(ws, { queue, listener });
    ws.on('message', listener);
    ws.once('open', () => {
      ws.removeAllListeners('error');
      ws.on('error', () => undefined);
      resolve(ws);
    });
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode} on upgrade`)));
  });
}

/** Size of a message as ws hands it over (Buffer, or fragments). */
export function msgBytes(data: WebSocket.RawData): number {
  if (Buffer.isBuffer(data)) return data.length;
  if (Array.isArray(data)) return data.reduce((a, b) => a + b.length, 0);
  return data.byteLength;
}

export function msgBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Resolves with the first message, or rejects on close/timeout. */
export function nextMessage(ws: WebSocket, timeoutMs = 15000): Promise<Buffer> {
  const e = early.get(ws);
  if (e?.queue.length) return Promise.resolve(e.queue.shift()!);
  takeEarly(ws);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => finish(new Error('no message in time')), timeoutMs);
    const onMsg = (d: WebSocket.RawData): void => finish(undefined, msgBuffer(d));
    const onClose = (code: number, reason: Buffer): void => finish(new Error(`closed ${code} ${reason.toString()}`));
    function finish(err?: Error, buf?: Buffer): void {
      clearTimeout(t);
      ws.off('message', onMsg);
      ws.off('close', onClose);
      if (err) reject(err);
      else resolve(buf!);
    }
    ws.on('message', onMsg);
    ws.on('close', onClose);
  });
}

export interface Received {
  bytes: number;
  ms: number;
  /** True when the time cap ended the run before all bytes came. */
  capped: boolean;
}

/**
 * Opens a session and counts message bytes until `total` arrived or `capMs`
 * passed; the clock starts at websocket open (handshake with guacd included).
 */
export async function receive(url: string, total: number, capMs: number): Promise<Received> {
  const ws = await openWs(url);
  const t0 = nowMs();
  return new Promise((resolve, reject) => {
    let bytes = takeEarly(ws).reduce((a, b) => a + b.length, 0);
    const finish = (capped: boolean): void => {
      clearTimeout(cap);
      const ms = nowMs() - t0;
      ws.removeAllListeners('message');
      ws.removeAllListeners('close');
      ws.terminate();
      resolve({ bytes, ms, capped });
    };
    const cap = setTimeout(() => finish(true), capMs);
    ws.on('message', (d) => {
      bytes += msgBytes(d);
      if (bytes >= total) finish(false);
    });
    ws.on('close', (code, reason) => {
      clearTimeout(cap);
      reject(new Error(`closed early after ${bytes} bytes: ${code} ${reason.toString()}`));
    });
  });
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Totals of sessions streaming at once. */
export interface StreamTotals {
  sessions: number;
  bytes: number;
  ms: number;
  mbps: number;
  /** Sessions the time cap ended before all their bytes came. */
  capped: number;
}

/**
 * After 10 warm-up sessions, `n` sessions of `perSession` bytes each at once;
 * `mark` runs right before and right after them (CPU samples).
 */
export async function streamAtOnce(url: string, n: number, perSession: number, capMs: number, mark?: { start(): void; end(): void }): Promise<StreamTotals> {
  await pool(Array.from({ length: 10 }), 10, () => receive(url, perSession, capMs)); // warm-up
  mark?.start();
  const t0 = nowMs();
  const runs = await Promise.all(Array.from({ length: n }, () => receive(url, perSession, capMs)));
  const ms = nowMs() - t0;
  mark?.end();
  const bytes = runs.reduce((a, r) => a + r.bytes, 0);
  return { sessions: n, bytes, ms: round(ms, 1), mbps: round(bytes / ms / 1e3, 1), capped: runs.filter((r) => r.capped).length };
}
