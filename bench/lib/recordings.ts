/**
 * Recorded guacd → client streams (bench/recordings/NAME.guac.gz): the bytes a
 * real guacd 1.3.0 sent after `ready`, cut at an instruction boundary so they
 * can be replayed back to back. Made by scripts/record-streams.sh.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { modulePath } from './proc.js';

/** Repository root, seen from dist/bench/lib. */
export const ROOT = modulePath(import.meta.url, '../../../');
/** Where recordings are read from (BENCH_RECORDINGS_DIR overrides, for trying other streams). */
export const RECORDINGS_DIR = process.env.BENCH_RECORDINGS_DIR ?? join(ROOT, 'bench', 'recordings');

/** Names of the recordings present (without `.guac.gz`), sorted. */
export function listRecordings(): string[] {
  if (!existsSync(RECORDINGS_DIR)) return [];
  return readdirSync(RECORDINGS_DIR)
    .filter((f) => f.endsWith('.guac.gz') || f.endsWith('.guac'))
    .map((f) => f.replace(/\.guac(\.gz)?$/, ''))
    .sort();
}

/** The bytes of one recording. */
export function loadRecording(name: string): Buffer {
  const gz = join(RECORDINGS_DIR, `${name}.guac.gz`);
  if (existsSync(gz)) return gunzipSync(readFileSync(gz));
  return readFileSync(join(RECORDINGS_DIR, `${name}.guac`));
}

/** The named recordings back to back (they all end on an instruction boundary). */
export function loadMix(names: string[]): Buffer {
  return Buffer.concat(names.map(loadRecording));
}

/** `unit` repeated until at least `minBytes` long (a fresh Buffer, so it does not alias). */
export function repeatTo(unit: Buffer, minBytes: number): Buffer {
  const n = Math.max(1, Math.ceil(minBytes / unit.length));
  return Buffer.concat(Array.from({ length: n }, () => unit));
}

/** Views of `buf` in `size`-byte pieces, as TCP would hand them over. */
export function chunk(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, Math.min(buf.length, i + size)));
  return out;
}
