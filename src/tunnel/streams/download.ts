/**
 * One guacd output stream (a `file` stream, or the `body` of a file `get`)
 * carried to the browser as an ordinary HTTP response: guacd is acked for a
 * block only once the response has taken the previous one, so at most one
 * block is held here whatever the file size and however slow the browser.
 */
import type { ServerResponse } from 'node:http';
import type { GuacError } from '../../protocol/errors.js';
import { STATUS, type StatusInfo } from '../../protocol/status.js';
import { TUNNEL } from '../errors.js';
import { ackInstruction } from './wire.js';

/** Where a download reports. */
export interface DownloadHost {
  toGuacd(data: string): void;
  /** The transfer is over (once), with how it ended. */
  finished(index: number, bytes: number, err: GuacError | undefined): void;
}

/** `Content-Disposition` for a name guacd gave: a plain-ASCII fallback and the exact UTF-8 name. */
export function contentDisposition(name: string): string {
  const base = (name.split(/[\\/]/).pop() ?? '').replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 255) || 'download';
  const ascii = base.replace(/[^\x20-\x7e]/g, '_').replace(/["\\;%]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(base)}`;
}

/** A running HTTP download of guacd stream `index`. */
export class Download {
  bytes = 0;
  private done = false;
  /** The last block is written but the response has not drained it: guacd waits for our ack. */
  private waitingDrain = false;

  constructor(
    readonly index: number,
    readonly name: string,
    private readonly res: ServerResponse,
    private readonly host: DownloadHost,
  ) {}

  /** Answers the request and asks guacd for the first block. */
  start(): void {
    const res = this.res;
    res.writeHead(200, {
      // guacd's mimetype is not trusted with the page's origin: always a download.
      'Content-Type': 'application/octet-stream',
      'Content-Disposition': contentDisposition(this.name),
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-store',
      'Content-Security-Policy': "default-src 'none'; sandbox",
    });
    res.on('drain', () => {
      if (this.waitingDrain && !this.done) {
        this.waitingDrain = false;
        this.ack(STATUS.SUCCESS, 'OK');
      }
    });
    res.on('close', () => {
      // The browser cancelled (or lost) the download before guacd's `end`.
      if (!this.done) this.stop(TUNNEL.GUAC_STREAM_ABORTED(), true);
    });
    this.ack(STATUS.SUCCESS, 'OK');
  }

  /** A block from guacd. */
  blob(data: Buffer): void {
    if (this.done) return;
    this.bytes += data.length;
    if (this.res.write(data)) this.ack(STATUS.SUCCESS, 'OK');
    else this.waitingDrain = true;
  }

  /** guacd ended the stream: the file is complete. */
  end(): void {
    if (this.done) return;
    this.done = true;
    this.res.end();
    this.host.finished(this.index, this.bytes, undefined);
  }

  /**
   * Ends the download unfinished: guacd is told to stop (an error `ack`)
   * when `tellGuacd`, and the response is cut so that the browser reports a
   * failed download rather than saving a truncated file as complete.
   */
  stop(err: GuacError, tellGuacd: boolean): void {
    if (this.done) return;
    this.done = true;
    if (tellGuacd) this.ack(err.status, err.message);
    this.res.destroy();
    this.host.finished(this.index, this.bytes, err);
  }

  private ack(status: StatusInfo, message: string): void {
    this.host.toGuacd(ackInstruction(this.index, message, status));
  }
}
