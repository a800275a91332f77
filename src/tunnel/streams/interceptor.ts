/**
 * File transfer inside one session: which streams the browser and guacd
 * opened, the policy (upload, download, maximum size) enforced on them
 * whatever guacd does, and the HTTP requests that carry a stream instead of
 * the tunnel (the Java webapp's stream endpoints, in our own way).
 *
 * The relay asks it about the few instructions that concern streams:
 * - guacd → browser: `file`, `body` (downloads offered), `blob`/`end` (their
 *   data), `ack` (guacd's answers to uploads). It answers "drop" for what
 *   an HTTP request carries or the policy refuses; everything else passes
 *   untouched as raw bytes.
 * - browser → guacd: `file`/`put` (uploads), `blob`/`end`/`ack`. It answers
 *   "consumed" for what it handled itself.
 * It never writes to the browser while the relay is in the middle of a read
 * from guacd (guacd's instructions ahead would then be overtaken): only
 * from browser input and HTTP events.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GuacError } from '../../protocol/errors.js';
import { STATUS } from '../../protocol/status.js';
import type { Logger } from '../../logger.js';
import { TUNNEL } from '../errors.js';
import { sendHttpError } from '../http.js';
import { Download } from './download.js';
import type { FilePolicy } from './policy.js';
import { blobData, firstIndex, rawArgs } from './raw.js';
import { UploadRun, isExpected, tooLarge } from './upload.js';
import { STREAM_INDEX_MIMETYPE, ackInstruction, endInstruction } from './wire.js';
import { encode } from '../../protocol/encoder.js';

/** A finished (or refused) transfer, for history. */
export interface TransferRecord {
  direction: 'upload' | 'download';
  /** The file name as the stream gave it (a path for `put`/`get` on a filesystem). */
  name: string;
  bytes: number;
  /** HTTP route, or the tunnel itself. */
  via: 'http' | 'tunnel';
  /** SUCCESS, or why it failed or was refused. */
  status: GuacError['status'];
  message: string;
  start: Date;
  end: Date;
}

/** What the interceptor needs of its session. */
export interface StreamSink {
  toGuacd(data: string): void;
  toBrowser(data: string): void;
  log: Logger;
  onTransfer(record: TransferRecord): void;
}

/** A guacd output stream the browser may fetch over HTTP. */
interface Offer {
  name: string;
  start: Date;
  http?: Download;
  /** Refused or cancelled: guacd's remaining blocks and `end` are dropped. */
  dropped: boolean;
  /** Bytes the browser took over the tunnel itself (a page reading the stream, not our route). */
  tunnelBytes: number;
}

/** A browser output stream (an upload). */
interface Upload {
  name: string;
  start: Date;
  /** The `file`/`put` instruction, not yet forwarded (a maximum size applies: HTTP only, size first). */
  held?: string;
  /** guacd's first `ack` already went to the browser: one block may be sent. */
  acked: boolean;
  http?: UploadRun;
  /** Bytes the browser sent over the tunnel itself. */
  tunnelBytes: number;
  /** Over, or refused: guacd's late acks and the browser's `end` are dropped. */
  closed: boolean;
  /** Why it was refused or failed (the answer to a late upload request). */
  failure?: GuacError;
}

/** Opcodes from guacd the interceptor looks at. */
const FROM_GUACD: ReadonlySet<string> = new Set(['file', 'body', 'blob', 'end', 'ack']);
/** Opcodes from the browser the interceptor looks at. */
const FROM_BROWSER: ReadonlySet<string> = new Set(['file', 'put', 'blob', 'end', 'ack']);
/** How long an upload request waits for the browser's `file`/`put` to arrive over the tunnel. */
const OPEN_WAIT_MS = 10_000;
/** Longest wait for guacd's acknowledgement of one block. */
const ACK_TIMEOUT_MS = 30_000;
/** Upload streams tracked at once: guacd's own per-user limit (`GUAC_USER_MAX_STREAMS`). */
const MAX_UPLOADS = 64;

export class StreamInterceptor {
  private readonly offers = new Map<number, Offer>();
  private readonly uploads = new Map<number, Upload>();
  private readonly opened = new Map<number, Set<() => void>>();
  /** The session ended: no stream is served or offered from now on. */
  private closed = false;

  constructor(private readonly sink: StreamSink, readonly policy: FilePolicy) {}

  /**
   * An instruction from guacd, as raw bytes `bytes[start..end)`.
   * @returns true when the relay must drop it
   */
  fromGuacd(opcode: string, bytes: Buffer, start: number, end: number): boolean {
    if (!FROM_GUACD.has(opcode)) return false;
    switch (opcode) {
      case 'blob':
      case 'end': {
        if (this.offers.size === 0) return false;
        const index = firstIndex(bytes, start, end);
        const offer = this.offers.get(index);
        if (!offer) return false;
        if (opcode === 'end') {
          this.offers.delete(index);
          if (offer.http) offer.http.end();
          else if (!offer.dropped) this.record('download', offer.name, offer.tunnelBytes, 'tunnel', offer.start, undefined);
          // The browser's stream ends with it (a cancelled one was ended already).
          return offer.dropped;
        }
        if (offer.http) {
          const data = blobData(bytes, start, end);
          if (data) offer.http.blob(data);
          return true;
        }
        if (!offer.dropped) offer.tunnelBytes += Buffer.byteLength(rawArgs(bytes, start, end)?.[1] ?? '', 'base64');
        return offer.dropped;
      }
      case 'ack': {
        if (this.uploads.size === 0) return false;
        const args = rawArgs(bytes, start, end);
        const index = Number(args?.[0]);
        const upload = this.uploads.get(index);
        if (!args || !upload) return false;
        const code = Number(args[2]);
        if (upload.closed) return true;
        if (upload.http) {
          upload.http.ack(code, args[1] ?? '');
          return true;
        }
        if (code >= 0x0100) this.finishUpload(index, upload, 'tunnel', upload.tunnelBytes, TUNNEL.GUAC_STREAM_REFUSED({ message: args[1] || 'Refused.' }));
        else upload.acked = true;
        return false;
      }
      default:
        return this.offered(opcode, bytes, start, end);
    }
  }

  /** guacd offers a stream (`file`, or the `body` of a `get`). */
  private offered(opcode: string, bytes: Buffer, start: number, end: number): boolean {
    const args = rawArgs(bytes, start, end);
    if (!args) return false;
    // file,<stream>,<mimetype>,<name>  body,<object>,<stream>,<mimetype>,<name>
    const [index, mimetype, name] = opcode === 'file' ? [Number(args[0]), args[1], args[2]] : [Number(args[1]), args[2], args[3]];
    if (!Number.isSafeInteger(index)) return false;
    this.offers.delete(index);
    // Directory listings are not downloads: the file browser needs them whatever the policy.
    if (opcode === 'body' && mimetype === STREAM_INDEX_MIMETYPE) return false;
    const offer: Offer = { name: name ?? '', start: new Date(), dropped: false, tunnelBytes: 0 };
    this.offers.set(index, offer);
    if (this.policy.download) return false;
    offer.dropped = true;
    const err = TUNNEL.GUAC_STREAM_DOWNLOAD_DENIED();
    this.sink.toGuacd(ackInstruction(index, err.message, err.status));
    this.record('download', offer.name, 0, 'tunnel', offer.start, err);
    return true;
  }

  /**
   * An instruction from the browser.
   * @returns true when it was handled here and must not reach guacd
   */
  fromBrowser(opcode: string, args: string[]): boolean {
    if (!FROM_BROWSER.has(opcode)) return false;
    if (opcode === 'file' || opcode === 'put') return this.opening(opcode, args);
    const index = Number(args[0]);
    if (opcode === 'ack') {
      // The stream is the HTTP request's, or refused: the browser has no say in it.
      const offer = this.offers.get(index);
      return offer !== undefined && (offer.http !== undefined || offer.dropped);
    }
    const upload = this.uploads.get(index);
    if (!upload) return false;
    if (opcode === 'end') {
      if (upload.closed || upload.http || upload.held !== undefined) {
        // Ours to end (or never opened at guacd); the browser is done with the index.
        if (upload.closed || upload.held !== undefined) this.uploads.delete(index);
        return true;
      }
      this.finishUpload(index, upload, 'tunnel', upload.tunnelBytes, undefined);
      this.uploads.delete(index);
      return false;
    }
    // blob
    if (upload.closed || upload.http) return true;
    if (upload.held !== undefined) {
      this.refuseUpload(index, upload, TUNNEL.GUAC_STREAM_HTTP_ONLY(), false);
      return true;
    }
    upload.tunnelBytes += Buffer.byteLength(args[1] ?? '', 'base64');
    return false;
  }

  /** The browser opens an upload. */
  private opening(opcode: string, args: string[]): boolean {
    const index = Number(opcode === 'file' ? args[0] : args[1]);
    if (!Number.isSafeInteger(index) || index < 0) return false;
    const name = (opcode === 'file' ? args[2] : args[3]) ?? '';
    const upload: Upload = { name, start: new Date(), acked: false, tunnelBytes: 0, closed: false };
    if (!this.uploads.has(index) && this.uploads.size >= MAX_UPLOADS) {
      // Finished ones wait for the browser's `end`; a browser that never sends it must not grow the map.
      for (const [i, u] of this.uploads) if (u.closed) this.uploads.delete(i);
      if (this.uploads.size >= MAX_UPLOADS) {
        const err = TUNNEL.GUAC_STREAM_TOO_MANY();
        this.sink.toBrowser(ackInstruction(index, err.message, err.status));
        return true;
      }
    }
    this.uploads.set(index, upload);
    if (!this.policy.upload) {
      this.refuseUpload(index, upload, TUNNEL.GUAC_STREAM_UPLOAD_DENIED(), false);
      return true;
    }
    if (this.policy.maxUploadBytes > 0) upload.held = encode(opcode, ...args);
    const waiting = this.opened.get(index);
    if (waiting) for (const wake of waiting) wake();
    return upload.held !== undefined;
  }

  /** Tells the browser its upload is refused or over (an error `ack` frees its stream index) and records it. */
  private refuseUpload(index: number, upload: Upload, err: GuacError, endGuacd: boolean): void {
    if (upload.closed) return;
    if (endGuacd) this.sink.toGuacd(endInstruction(index));
    this.sink.toBrowser(ackInstruction(index, err.message, err.status));
    this.finishUpload(index, upload, upload.http ? 'http' : 'tunnel', upload.http?.bytes ?? upload.tunnelBytes, err);
  }

  private finishUpload(_index: number, upload: Upload, via: 'http' | 'tunnel', bytes: number, err: GuacError | undefined): void {
    if (upload.closed) return;
    upload.closed = true;
    if (err) upload.failure = err;
    this.record('upload', upload.name, bytes, via, upload.start, err);
  }

  /**
   * Serves a download: guacd stream `index`, offered to this session and not
   * yet fetched, as the response body.
   */
  download(index: number, res: ServerResponse): void {
    const offer = this.offers.get(index);
    if (this.closed || !offer || offer.dropped) {
      sendHttpError(res, offer?.dropped ? TUNNEL.GUAC_STREAM_DOWNLOAD_DENIED() : TUNNEL.GUAC_STREAM_NOT_FOUND());
      return;
    }
    if (offer.http) {
      sendHttpError(res, TUNNEL.GUAC_STREAM_BUSY());
      return;
    }
    offer.http = new Download(index, offer.name, res, {
      toGuacd: (data) => this.sink.toGuacd(data),
      finished: (i, bytes, err) => {
        if (err && this.offers.get(i) === offer) {
          offer.dropped = true;
          offer.http = undefined;
          // The browser's stream object ends here: guacd sends no `end` after an error `ack`.
          if (!this.closed) this.sink.toBrowser(endInstruction(i));
        }
        this.record('download', offer.name, bytes, 'http', offer.start, err);
      },
    });
    offer.http.start();
  }

  /**
   * Serves an upload: the body goes into browser stream `index` (its
   * `file`/`put` may still be on its way over the tunnel). Answers 200 with
   * `{"bytes":N}` once guacd took the last block, else the error.
   */
  async upload(index: number, req: IncomingMessage, res: ServerResponse): Promise<void> {
    let upload = this.uploads.get(index);
    if (!upload && !this.closed) upload = await this.waitOpened(index);
    if (this.closed || !upload || upload.closed) {
      req.resume();
      const err = this.closed || !upload ? TUNNEL.GUAC_STREAM_NOT_FOUND() : upload.failure ?? TUNNEL.GUAC_STREAM_BUSY();
      sendHttpError(res, err);
      return;
    }
    if (upload.http) {
      req.resume();
      sendHttpError(res, TUNNEL.GUAC_STREAM_BUSY());
      return;
    }
    const max = this.policy.maxUploadBytes;
    const declared = req.headers['content-length'];
    const length = declared === undefined ? undefined : Number(declared);
    const early = max > 0 && length === undefined
      ? TUNNEL.GUAC_STREAM_BAD_REQUEST({ message: 'A Content-Length is required: uploads here have a maximum size.' })
      : max > 0 && length !== undefined && length > max ? tooLarge(max) : undefined;
    if (early) {
      // Refused before a byte reaches guacd: nothing is written (a held stream was never opened there).
      this.refuseUpload(index, upload, early, upload.held === undefined);
      req.resume();
      sendHttpError(res, early);
      return;
    }
    const run = new UploadRun(index, { toGuacd: (d) => this.sink.toGuacd(d) }, max, ACK_TIMEOUT_MS);
    upload.http = run;
    if (upload.held !== undefined) {
      this.sink.toGuacd(upload.held);
      upload.held = undefined;
    } else if (upload.acked) {
      run.ack(0, 'OK');
    }
    const aborted = (): void => run.fail(TUNNEL.GUAC_STREAM_ABORTED());
    req.once('aborted', aborted);
    res.once('close', () => { if (!res.writableFinished) aborted(); });
    try {
      await run.pump(req);
      this.finishUpload(index, upload, 'http', run.bytes, undefined);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify({ bytes: run.bytes }));
    } catch (thrown) {
      const err = thrown instanceof GuacError ? thrown : TUNNEL.GUAC_STREAM_ABORTED();
      if (!isExpected(err)) this.sink.log.warn({ error: thrown }, 'streams: upload failed');
      // The stream is ended toward guacd unless guacd closed it or the session is gone.
      if (!this.closed) this.refuseUpload(index, upload, err, !run.refusedByGuacd);
      else this.finishUpload(index, upload, 'http', run.bytes, err);
      req.resume();
      if (!res.destroyed) sendHttpError(res, err);
    }
  }

  /** The session ended: every transfer stops, nothing is kept. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // The error only for transfers under way: most sessions end with none.
    let err: GuacError | undefined;
    const ended = (): GuacError => (err ??= TUNNEL.GUAC_STREAM_SESSION_ENDED());
    for (const offer of this.offers.values()) offer.http?.stop(ended(), false);
    for (const upload of this.uploads.values()) upload.http?.fail(ended());
    for (const waiting of this.opened.values()) for (const wake of waiting) wake();
    this.offers.clear();
    this.opened.clear();
  }

  /** Transfers in progress (tests, diagnostics). */
  get active(): { downloads: number; uploads: number } {
    let downloads = 0;
    let uploads = 0;
    for (const o of this.offers.values()) if (o.http) downloads++;
    for (const u of this.uploads.values()) if (u.http && !u.closed) uploads++;
    return { downloads, uploads };
  }

  private waitOpened(index: number): Promise<Upload | undefined> {
    return new Promise((resolve) => {
      let set = this.opened.get(index);
      if (!set) this.opened.set(index, set = new Set());
      const wake = (): void => {
        clearTimeout(timer);
        set!.delete(wake);
        if (set!.size === 0) this.opened.delete(index);
        resolve(this.uploads.get(index));
      };
      const timer = setTimeout(wake, OPEN_WAIT_MS);
      set.add(wake);
    });
  }

  private record(direction: 'upload' | 'download', name: string, bytes: number, via: 'http' | 'tunnel', start: Date, err: GuacError | undefined): void {
    this.sink.onTransfer({
      direction, name, bytes, via, start, end: new Date(),
      status: err ? err.status : STATUS.SUCCESS, message: err ? err.message : 'OK',
    });
  }
}
