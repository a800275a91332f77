/**
 * The stream instructions the gateway writes itself, and their sizes.
 */
import { encode } from '../../protocol/encoder.js';
import type { StatusInfo } from '../../protocol/status.js';

/**
 * Bytes of file data per `blob` the gateway sends guacd: base64 makes 8000
 * characters of 6000 bytes, so the instruction stays under guacd's 8192
 * (`GUAC_INSTRUCTION_MAX_LENGTH`).
 */
export const BLOB_BYTES = 6000;

/** The mimetype guacd gives a directory listing (`body` of a directory `get`). */
export const STREAM_INDEX_MIMETYPE = 'application/vnd.glyptodon.guacamole.stream-index+json';

/** `ack,<index>,<message>,<status>;` */
export function ackInstruction(index: number, message: string, status: StatusInfo): string {
  return encode('ack', index, message, status.guac);
}

/** `blob,<index>,<base64>;` */
export function blobInstruction(index: number, data: Buffer): string {
  return encode('blob', index, data.toString('base64'));
}

/** `end,<index>;` */
export function endInstruction(index: number): string {
  return encode('end', index);
}
