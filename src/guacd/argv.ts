/**
 * Answering guacd's `required` prompt: each value goes back as an `argv`
 * stream, the way guacamole-common-js does it (`Client.createArgumentValueStream`
 * then a `StringWriter`): `argv,<stream>,text/plain,<name>`, the UTF-8 value
 * in base64 `blob` chunks, `end,<stream>`. guacd (libguac `argv.c`) installs
 * the blob and end handlers while handling `argv`, so the three can go out
 * together; it answers the `argv` with an `ack` (0 = accepted). It keeps at
 * most 16384 bytes of a value.
 */
import { encode } from '../protocol/encoder.js';
import { BLOB_MAX_BYTES } from '../protocol/constants.js';

/** guacd's per-user stream table size (`GUAC_USER_MAX_STREAMS`): indices 0..63. */
export const MAX_STREAMS = 64;

/** Largest value guacd keeps (`GUAC_ARGV_MAX_LENGTH`), in bytes. */
export const ARGV_MAX_BYTES = 16384;

/**
 * Encodes one argv stream.
 * @param stream the output stream index to use
 * @param name the parameter name guacd asked for
 * @param value its value
 * @returns the instructions, concatenated
 */
export function encodeArgvStream(stream: number, name: string, value: string): string {
  let out = encode('argv', stream, 'text/plain', name);
  const bytes = Buffer.from(value, 'utf8');
  for (let i = 0; i < bytes.length; i += BLOB_MAX_BYTES) {
    out += encode('blob', stream, bytes.subarray(i, i + BLOB_MAX_BYTES).toString('base64'));
  }
  return out + encode('end', stream);
}

/**
 * Hands out stream indices for argv streams from the top of guacd's table
 * down, so they stay clear of the indices a caller's own streams use (which,
 * like guacamole-common-js's, count up from 0).
 */
export class StreamPool {
  private readonly busy = new Set<number>();

  /** A free index, or `undefined` when all 64 are in use. */
  take(): number | undefined {
    for (let i = MAX_STREAMS - 1; i >= 0; i--) {
      if (!this.busy.has(i)) {
        this.busy.add(i);
        return i;
      }
    }
    return undefined;
  }

  /** Whether `index` is one of ours, still open. */
  has(index: number): boolean {
    return this.busy.has(index);
  }

  /** Returns an index (after guacd acknowledged the stream). */
  release(index: number): void {
    this.busy.delete(index);
  }
}
