/**
 * An HTTP request body carried into a stream the browser opened toward guacd
 * (`file` or `put`): one `blob` at a time, each sent only once guacd
 * acknowledged the previous one (or the stream itself), so the gateway holds
 * at most one block plus what the request socket buffers.
 */
import type { IncomingMessage } from 'node:http';
import { GuacError } from '../../protocol/errors.js';
import { STATUS, statusFromCode } from '../../protocol/status.js';
import { TUNNEL } from '../errors.js';
import { BLOB_BYTES, blobInstruction, endInstruction } from './wire.js';

/** Where an upload writes. */
export interface UploadHost {
  toGuacd(data: string): void;
}

/** One upload over HTTP. */
export class UploadRun {
  bytes = 0;
  /** Acknowledgements from guacd not yet spent on a block (the stream's own counts as one). */
  private credit = 0;
  private waiter: { resolve: () => void; reject: (err: GuacError) => void } | undefined;
  private failure: GuacError | undefined;
  /** guacd closed the stream itself (an error `ack`): no `end` is owed it. */
  refusedByGuacd = false;
  done = false;

  /**
   * @param index the browser's stream index
   * @param maxBytes largest body accepted (0: no limit)
   * @param ackTimeoutMs longest wait for one acknowledgement from guacd
   */
  constructor(
    readonly index: number,
    private readonly host: UploadHost,
    private readonly maxBytes: number,
    private readonly ackTimeoutMs: number,
  ) {}

  /** guacd acknowledged the stream or a block. */
  ack(code: number, message: string): void {
    if (code >= 0x0100) {
      this.refusedByGuacd = true;
      const e = TUNNEL.GUAC_STREAM_REFUSED({ message: message || 'The remote desktop server refused the file.' });
      this.fail(new GuacError(e.code, statusFromCode(code), e.message));
      return;
    }
    this.credit++;
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve();
  }

  /** Stops the upload (session over, request gone); the running `pump` throws `err`. */
  fail(err: GuacError): void {
    if (this.failure) return;
    this.failure = err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  /**
   * Reads the body and sends it as blocks, then `end`.
   * @throws GuacError why it stopped (guacd's refusal, the limit, an abort, the session's end)
   */
  async pump(req: IncomingMessage): Promise<void> {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      this.bytes += chunk.length;
      if (this.maxBytes > 0 && this.bytes > this.maxBytes) throw tooLarge(this.maxBytes);
      for (let at = 0; at < chunk.length; at += BLOB_BYTES) {
        await this.turn();
        this.host.toGuacd(blobInstruction(this.index, chunk.subarray(at, at + BLOB_BYTES)));
      }
    }
    // The last block must be taken before `end`: guacd reports a failed write on its ack.
    await this.turn();
    this.host.toGuacd(endInstruction(this.index));
    this.done = true;
  }

  /** Waits for an acknowledgement to spend. */
  private turn(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.credit > 0) {
      this.credit--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const timer = this.ackTimeoutMs > 0
        ? setTimeout(() => this.fail(TUNNEL.GUAC_STREAM_TIMEOUT()), this.ackTimeoutMs)
        : undefined;
      this.waiter = {
        resolve: () => {
          clearTimeout(timer);
          this.credit--;
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
    });
  }
}

/** The refusal of a body over `max` bytes. */
export function tooLarge(max: number): GuacError {
  return TUNNEL.GUAC_STREAM_TOO_LARGE({ message: `The file is larger than the maximum upload size of ${max} bytes.` });
}

/** True for an error the transfer's own peer caused (no need to log it as ours). */
export function isExpected(err: GuacError): boolean {
  return err.status.guac !== STATUS.SERVER_ERROR.guac;
}
