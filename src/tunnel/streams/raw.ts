/**
 * Reading the few guacd instructions the stream interceptor acts on, from
 * the raw bytes the relay holds (the relay itself never decodes them).
 */
import { Parser } from '../../protocol/parser.js';

/** The arguments of the one instruction in `bytes[start..end)`; undefined if it does not parse. */
export function rawArgs(bytes: Buffer, start: number, end: number): string[] | undefined {
  let out: string[] | undefined;
  const err = new Parser().push(bytes.subarray(start, end), (_op, args) => {
    out = args;
  });
  return err ? undefined : out;
}

const DOT = 0x2e;
const COMMA = 0x2c;

/**
 * The first argument of an instruction as a non-negative integer (a stream
 * index), read without decoding the rest: `blob` carries up to 8 KiB of
 * base64 the relay must not copy for streams it only passes on.
 * @returns -1 when the first argument is not a short decimal integer
 */
export function firstIndex(bytes: Buffer, start: number, end: number): number {
  // Skip the opcode element: LENGTH '.' VALUE ','.
  let p = start;
  let len = 0;
  while (p < end && bytes[p] !== DOT) len = len * 10 + (bytes[p++] - 0x30);
  p += 1 + len; // opcode is ASCII (blob, end, ack): bytes = code points
  if (bytes[p] !== COMMA) return -1;
  p++;
  let n = 0;
  let digits = 0;
  while (p < end && bytes[p] !== DOT) {
    n = n * 10 + (bytes[p++] - 0x30);
    if (++digits > 2) return -1;
  }
  if (digits === 0) return -1;
  p++;
  let v = 0;
  for (let i = 0; i < n; i++, p++) {
    const d = bytes[p] - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return n === 0 || n > 9 ? -1 : v;
}

/**
 * The base64 payload of a `blob` decoded; undefined if the instruction is
 * not `blob,<index>,<data>`. The bytes are ASCII, so element lengths are byte counts.
 */
export function blobData(bytes: Buffer, start: number, end: number): Buffer | undefined {
  const args = rawArgs(bytes, start, end);
  if (!args || args.length < 2) return undefined;
  return Buffer.from(args[1], 'base64');
}
