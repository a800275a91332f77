/**
 * Reading a bounded request body: the HTTP tunnel's `?connect`, and any
 * host route that takes one (the server's admin API can use it as well).
 */
import type { IncomingMessage } from 'node:http';
import { GuacError } from '../protocol/errors.js';
import { TUNNEL } from './errors.js';

/** The errors {@link readBody} raises, so that each caller keeps its own codes. */
export interface BodyErrors {
  /** The body (or its declared `Content-Length`) exceeds the limit. */
  tooLarge: () => GuacError;
  /** The request failed while its body was read. */
  unreadable: (cause: Error) => GuacError;
}

const TUNNEL_BODY_ERRORS: BodyErrors = {
  tooLarge: () => TUNNEL.GUAC_TUNNEL_BODY_TOO_LARGE(),
  unreadable: (cause) => TUNNEL.GUAC_TUNNEL_BAD_BODY({ cause }),
};

/**
 * Reads a whole request body of at most `limit` bytes. A body over the limit
 * is refused as soon as it is declared or has arrived, and the rest is
 * read and dropped, so that the answer still reaches the client.
 * @param errors what to throw (default the HTTP tunnel's codes)
 * @throws GuacError `errors.tooLarge()` or `errors.unreadable(cause)`
 */
export function readBody(req: IncomingMessage, limit: number, errors: BodyErrors = TUNNEL_BODY_ERRORS): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) {
      req.resume();
      reject(errors.tooLarge());
      return;
    }
    const parts: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.resume();
        reject(errors.tooLarge());
        return;
      }
      parts.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(parts, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(errors.unreadable(err));
    };
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      // An error after we stopped listening must not become an uncaught one.
      req.on('error', () => undefined);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
