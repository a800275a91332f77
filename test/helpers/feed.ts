/**
 * Feeds a byte stream to a parser split on purpose: whole, byte by byte, at
 * every two-piece split point, or at seeded random points (noVNC's one-byte
 * websocket, ws's frames across ticks). Adapters turn Parser and
 * InstructionSplitter runs into one comparable result.
 */
import assert from 'node:assert/strict';
import { GuacError, InstructionSplitter, Parser, type ParserLimits } from '../../src/protocol/index.js';

/** How to cut a stream: whole, 1-byte pieces, every two-piece split, or `count` seeded random cuttings. */
export type Splits = 'whole' | 'bytes' | 'all' | { random: number; count: number };

/** A decoded instruction: `[opcode, ...args]`. */
export type Instr = string[];

/** What one run over one cutting produced. */
export interface FeedResult {
  /** Instructions delivered, in order. */
  instructions: Instr[];
  /** The error the run stopped on, as comparable fields. */
  error?: { code: string; message: string; status: string };
  /** Splitter only: the concatenation of every Buffer returned. */
  output?: Buffer;
}

/** Something that takes the chunks of one run and reports what it saw. */
export interface Feedable {
  push(chunk: Buffer): void;
  result(): FeedResult;
}

/** mulberry32: tiny seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random integer in [lo, hi]. */
export function randInt(rng: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

/** Random cut of `bytes` into views; piece sizes vary widely, empty pieces included now and then. */
export function randomChunks(bytes: Buffer, rng: () => number): Buffer[] {
  const out: Buffer[] = [];
  const maxPiece = 1 + Math.floor(rng() ** 3 * bytes.length);
  let p = 0;
  while (p < bytes.length) {
    const n = rng() < 0.05 ? 0 : randInt(rng, 1, maxPiece);
    out.push(bytes.subarray(p, p + n));
    p += n;
  }
  return out;
}

/** Every cutting `splits` describes; each a list of views of `bytes`. */
export function chunkings(bytes: Buffer, splits: Splits): Buffer[][] {
  if (splits === 'whole') return [[bytes]];
  if (splits === 'bytes') {
    const one: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) one.push(bytes.subarray(i, i + 1));
    return [one];
  }
  if (splits === 'all') {
    // Both ends included: they push an empty chunk, which must be harmless.
    const all: Buffer[][] = [];
    for (let i = 0; i <= bytes.length; i++) all.push([bytes.subarray(0, i), bytes.subarray(i)]);
    return all;
  }
  const rng = mulberry32(splits.random);
  const all: Buffer[][] = [];
  for (let k = 0; k < splits.count; k++) all.push(randomChunks(bytes, rng));
  return all;
}

/**
 * Runs a fresh target over every cutting of `bytes`.
 * @param make creates the parser-like target for one run
 * @returns one result per cutting
 */
export function feed(make: () => Feedable, bytes: Buffer, splits: Splits): FeedResult[] {
  return chunkings(bytes, splits).map((chunks) => {
    const target = make();
    for (const c of chunks) target.push(c);
    return target.result();
  });
}

function errorFields(e: GuacError): NonNullable<FeedResult['error']> {
  return { code: e.code, message: e.message, status: e.status.name };
}

/** A {@link Feedable} over a {@link Parser}; also checks that a failed parser stays failed with the same error. */
export function parserRun(limits?: Partial<ParserLimits>): Feedable {
  const parser = new Parser(limits);
  const instructions: Instr[] = [];
  let error: GuacError | undefined;
  return {
    push(chunk) {
      const r = parser.push(chunk, (opcode, args) => instructions.push([opcode, ...args]));
      if (error) assert.equal(r, error, 'a failed parser returns the same error');
      else if (r) {
        assert.ok(r instanceof GuacError);
        assert.equal(parser.error, r);
        error = r;
      }
    },
    result: () => (error ? { instructions, error: errorFields(error) } : { instructions }),
  };
}

/** Decodes a stream in one go (for checking splitter output). */
export function parseAll(bytes: Buffer, limits?: Partial<ParserLimits>): Instr[] {
  const out: Instr[] = [];
  const err = new Parser(limits).push(bytes, (op, args) => out.push([op, ...args]));
  assert.equal(err, undefined, 'splitter output must parse');
  return out;
}

/**
 * Checks that the raw views of one push tile `out` exactly, each being one
 * instruction with the reported opcode, and returns those instructions.
 */
function checkRaws(raws: [string, Buffer][], out: Buffer, limits?: Partial<ParserLimits>): Instr[] {
  const found: Instr[] = [];
  let at = 0;
  for (const [opcode, raw] of raws) {
    assert.equal(raw.buffer, out.buffer, 'raw is a view of the returned buffer');
    assert.equal(raw.byteOffset, out.byteOffset + at, 'raws tile the returned buffer');
    at += raw.length;
    const one = parseAll(raw, limits);
    assert.equal(one.length, 1, 'raw is exactly one instruction');
    assert.equal(one[0][0], opcode);
    found.push(one[0]);
  }
  assert.equal(at, out.length, 'raws cover the returned buffer');
  return found;
}

/** What a splitter run collected so far. */
interface SplitterRecord {
  instructions: Instr[];
  /** The Buffers handed out, in order. */
  outputs: Buffer[];
}

/**
 * The bookkeeping both splitter runners share: `step` pushes one chunk,
 * records what came out and returns the error, if any; a failed splitter must
 * return the same error ever after, having delivered nothing more.
 */
function splitterFeedable(
  limits: Partial<ParserLimits> | undefined,
  step: (splitter: InstructionSplitter, chunk: Buffer, rec: SplitterRecord) => GuacError | undefined,
): Feedable {
  const splitter = new InstructionSplitter(limits);
  const rec: SplitterRecord = { instructions: [], outputs: [] };
  let error: GuacError | undefined;
  return {
    push(chunk) {
      const seen = rec.outputs.length;
      const r = step(splitter, chunk, rec);
      if (error) {
        assert.equal(r, error, 'a failed splitter returns the same error');
        assert.equal(rec.outputs.length, seen, 'a failed splitter delivers nothing');
      } else if (r) {
        assert.ok(r instanceof GuacError);
        assert.equal(splitter.error, r);
        error = r;
      }
    },
    result() {
      const output = Buffer.concat(rec.outputs);
      const { instructions } = rec;
      return error ? { instructions, error: errorFields(error), output } : { instructions, output };
    },
  };
}

/**
 * A {@link Feedable} over an {@link InstructionSplitter}. Checks on every push
 * that each raw view lies inside the returned Buffer, that the raws tile it
 * exactly, and that each raw is one instruction with the reported opcode; in
 * a push that fails, the same of the instructions completed before the error.
 */
export function splitterRun(limits?: Partial<ParserLimits>): Feedable {
  return splitterFeedable(limits, (splitter, chunk, rec) => {
    const raws: [string, Buffer][] = [];
    const r = splitter.push(chunk, (opcode, raw) => raws.push([opcode, raw]));
    let out: Buffer | undefined = Buffer.isBuffer(r) ? r : undefined;
    if (!out && raws.length > 0) {
      // A failing push: the raws reported before the error tile their own stretch.
      const first = raws[0][1];
      const last = raws[raws.length - 1][1];
      out = Buffer.from(first.buffer, first.byteOffset, last.byteOffset + last.length - first.byteOffset);
    }
    if (out) {
      rec.instructions.push(...checkRaws(raws, out, limits));
      rec.outputs.push(out);
    }
    return Buffer.isBuffer(r) ? undefined : r;
  });
}

/**
 * A {@link Feedable} over {@link InstructionSplitter.pushViews}. Checks that a
 * push delivers at most two pieces, that only the first may be a copy (of
 * carried bytes and the chunk's start), that the rest is a view of the chunk,
 * and, as {@link splitterRun} does, that each piece's spans tile it.
 */
export function viewsRun(limits?: Partial<ParserLimits>): Feedable {
  return splitterFeedable(limits, (splitter, chunk, rec) => {
    const held = splitter.buffered;
    let raws: [string, Buffer][] = [];
    const pieces: Buffer[] = [];
    const r = splitter.pushViews(chunk, (piece) => {
      rec.instructions.push(...checkRaws(raws, piece, limits));
      raws = [];
      pieces.push(piece);
    }, (opcode, bytes, start, end) => raws.push([opcode, bytes.subarray(start, end)]));
    assert.equal(raws.length, 0, 'every instruction reported belongs to a delivered piece');
    assert.ok(pieces.length <= 2, 'at most two pieces');
    pieces.forEach((piece, i) => {
      const inChunk = piece.buffer === chunk.buffer && piece.byteOffset >= chunk.byteOffset
        && piece.byteOffset + piece.length <= chunk.byteOffset + chunk.length;
      if (i > 0 || held === 0) assert.ok(inChunk, 'a view of the chunk');
      rec.outputs.push(piece);
    });
    return r;
  });
}

/**
 * Asserts that Parser and InstructionSplitter both produce `expected` under
 * every cutting in `splits`, the splitter's output being the input up to the
 * end of the last instruction it returned.
 * @param expected the instructions, and the error code if the stream is bad
 */
export function assertStream(
  bytes: Buffer,
  splits: Splits,
  expected: { instructions: Instr[]; error?: string },
  limits?: Partial<ParserLimits>,
): void {
  const parsed = feed(() => parserRun(limits), bytes, splits);
  const split = feed(() => splitterRun(limits), bytes, splits);
  const viewed = feed(() => viewsRun(limits), bytes, splits);
  const first = parsed[0];
  assert.deepEqual(first.instructions, expected.instructions);
  assert.equal(first.error?.code, expected.error);
  for (let i = 0; i < parsed.length; i++) {
    // Same instructions and the very same error (its message names the byte) under every cut.
    assert.deepEqual(parsed[i], first, `parser, cutting #${i}`);
    for (const [name, s] of [['push', split[i]], ['pushViews', viewed[i]]] as const) {
      assert.deepEqual(s.error, first.error, `splitter ${name} error, cutting #${i}`);
      assert.deepEqual(s.instructions, first.instructions, `splitter ${name}, cutting #${i}`);
      assert.ok(bytes.subarray(0, s.output!.length).equals(s.output!), `splitter ${name} output is an input prefix, cutting #${i}`);
    }
  }
}

/** Random string of up to `max` code points mixing ASCII, delimiters, Latin-1, CJK and astral characters. */
export function randomString(rng: () => number, max: number): string {
  const pools = [
    () => String.fromCharCode(randInt(rng, 0x20, 0x7e)),
    () => ',;.0123456789'[randInt(rng, 0, 12)],
    () => String.fromCharCode(randInt(rng, 0xa0, 0x7ff)),
    () => String.fromCharCode(randInt(rng, 0x4e00, 0x9fff)),
    () => String.fromCodePoint(randInt(rng, 0x1f300, 0x1faff)),
    () => String.fromCodePoint(randInt(rng, 0x10000, 0x10ffff)),
    () => String.fromCharCode(randInt(rng, 0xe000, 0xfffd)),
  ];
  const n = rng() < 0.1 ? 0 : randInt(rng, 0, max);
  let s = '';
  for (let i = 0; i < n; i++) s += pools[randInt(rng, 0, pools.length - 1)]();
  return s;
}

/** Random instruction `[opcode, ...args]` (opcode may be empty, like internal instructions). */
export function randomInstruction(rng: () => number): Instr {
  const count = randInt(rng, 0, 6);
  const out: Instr = [rng() < 0.1 ? '' : randomString(rng, 8)];
  for (let i = 0; i < count; i++) out.push(randomString(rng, rng() < 0.1 ? 300 : 12));
  return out;
}
