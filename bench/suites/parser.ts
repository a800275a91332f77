/**
 * Parser throughput on a recorded guacd stream, fed in 64 KiB chunks as TCP
 * delivers them. Implementations:
 * - `ours-parser`: src/protocol Parser (full decode to opcode + args);
 * - `ours-splitter`: src/protocol InstructionSplitter.pushViews as src/tunnel's
 *   session drives it: per instruction, its opcode checked and its end noted;
 *   per piece, cut into websocket messages (`sendInMessages`, counted here
 *   instead of sent);
 * - `ours-splitter-bytes`: pushViews without the instruction callback (only
 *   the relayable bytes, in pieces);
 * - `lite`: guacamole-lite 1.2.0's vendored Guacamole.Parser, driven as its
 *   GuacdClient does (`data.toString()` per chunk, then `receive`);
 * - `common-js`: guacamole-common-js 1.5.0's Guacamole.Parser, same driving;
 * - `indexOf`: ceiling, one pass of `Buffer.indexOf(';')` over the bytes.
 */
import { createRequire } from 'node:module';
import { loadRecording, repeatTo, chunk } from '../lib/recordings.js';
import { nowMs, median, round } from '../lib/stats.js';

export type ParserImpl = 'ours-parser' | 'ours-splitter' | 'ours-splitter-bytes' | 'lite' | 'common-js' | 'indexOf';
export const PARSER_IMPLS: ParserImpl[] = ['ours-parser', 'ours-splitter', 'ours-splitter-bytes', 'lite', 'common-js', 'indexOf'];

export interface ParserParams {
  impl: ParserImpl;
  recording: string;
  quick?: boolean;
}

export interface ParserResult {
  impl: ParserImpl;
  recording: string;
  /** Bytes per pass. */
  bytes: number;
  /** Instructions per pass as this implementation counted them (`;` for indexOf). */
  instructions: number;
  passes: number;
  mbps: number;
  instrPerSec: number;
}

interface JsParser {
  receive(s: string): void;
  oninstruction: ((opcode: string, args: string[]) => void) | null;
}
type JsParserCtor = new () => JsParser;

const CHUNK = 64 << 10;
const require = createRequire(import.meta.url);

async function makePass(impl: ParserImpl, chunks: Buffer[]): Promise<() => number> {
  switch (impl) {
    case 'ours-parser': {
      const { Parser } = await import('../../src/protocol/index.js');
      return () => {
        const p = new Parser();
        let n = 0;
        const on = (): void => {
          n++;
        };
        for (const c of chunks) {
          const err = p.push(c, on);
          if (err) throw err;
        }
        return n;
      };
    }
    case 'ours-splitter': {
      const { InstructionSplitter } = await import('../../src/protocol/index.js');
      const { sendInMessages } = await import('../../src/tunnel/wire.js');
      return () => {
        const s = new InstructionSplitter();
        const ends: number[] = [];
        let n = 0;
        let messages = 0;
        let error: Buffer | undefined;
        let done = false;
        let awaitingFrame = true;
        const send = (): void => {
          messages++;
        };
        for (const c of chunks) {
          // The session's fromGuacd, minus the sockets.
          ends.length = 0;
          const err = s.pushViews(c, (bytes) => {
            sendInMessages(bytes, ends, send);
            ends.length = 0;
          }, (opcode, bytes, start, end) => {
            n++;
            ends.push(bytes.byteOffset + end);
            if (opcode === 'error' && error === undefined) error = bytes.subarray(start, end);
            else if (opcode === 'disconnect') done = true;
            else if (awaitingFrame && (opcode === 'sync' || opcode === 'required')) awaitingFrame = false;
          });
          if (err) throw err;
        }
        return messages > 0 && !done ? n : 0;
      };
    }
    case 'ours-splitter-bytes': {
      const { InstructionSplitter, Parser } = await import('../../src/protocol/index.js');
      // The instruction count, once, outside the timed passes.
      let count = 0;
      const parser = new Parser();
      for (const c of chunks) parser.push(c, () => void count++);
      return () => {
        const s = new InstructionSplitter();
        let bytes = 0;
        const onBytes = (b: Buffer): void => {
          bytes += b.length;
        };
        for (const c of chunks) {
          const err = s.pushViews(c, onBytes);
          if (err) throw err;
        }
        return bytes > 0 ? count : 0;
      };
    }
    case 'lite':
    case 'common-js': {
      const Ctor = impl === 'lite'
        ? require('guacamole-lite/lib/vendor/GuacamoleParser.js') as JsParserCtor
        : (require('guacamole-common-js') as { Parser: JsParserCtor }).Parser;
      return () => {
        const p = new Ctor();
        let n = 0;
        p.oninstruction = () => {
          n++;
        };
        for (const c of chunks) p.receive(c.toString());
        return n;
      };
    }
    case 'indexOf':
      return () => {
        let n = 0;
        for (const c of chunks) {
          for (let i = c.indexOf(0x3b); i !== -1; i = c.indexOf(0x3b, i + 1)) n++;
        }
        return n;
      };
  }
}

export async function measureParser(p: ParserParams): Promise<ParserResult> {
  const data = repeatTo(loadRecording(p.recording), p.quick ? 2e6 : 8e6);
  const chunks = chunk(data, CHUNK);
  const pass = await makePass(p.impl, chunks);
  const warmMs = p.quick ? 300 : 1000;
  const timedMs = p.quick ? 700 : 2500;
  let count = 0;
  for (let t0 = nowMs(), i = 0; i < 2 || nowMs() - t0 < warmMs; i++) count = pass();
  const times: number[] = [];
  for (let t0 = nowMs(); times.length < 3 || nowMs() - t0 < timedMs;) {
    const s = nowMs();
    pass();
    times.push(nowMs() - s);
  }
  const sec = median(times) / 1000;
  return {
    impl: p.impl,
    recording: p.recording,
    bytes: data.length,
    instructions: count,
    passes: times.length,
    mbps: round(data.length / sec / 1e6, 1),
    instrPerSec: Math.round(count / sec),
  };
}
