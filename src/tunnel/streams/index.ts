/**
 * File transfer for the tunnel: the stream interceptor a session runs, the
 * HTTP stream routes, the policy. What the session itself calls is here.
 */
import { publish } from '../../diagnostics.js';
import { encode } from '../../protocol/encoder.js';
import { sendInMessages } from '../wire.js';
import type { Logger } from '../../logger.js';
import type { SessionInfo } from '../types.js';
import { StreamInterceptor, type TransferRecord } from './interceptor.js';
import type { FilePolicy } from './policy.js';
import { callHook } from '../hooks.js';

export { StreamInterceptor, type TransferRecord } from './interceptor.js';
export { filePolicy, type FilePolicy, type FilePolicyInput } from './policy.js';
export { handleStreamRequest, STREAMS_SEGMENT, type StreamRoutesHost, type StreamOwner } from './routes.js';

/**
 * The instruction that tells the page where its streams are and what it may
 * do: `gateway-streams,<session>/<secret>,<upload 0|1>,<download 0|1>,<max upload bytes>`.
 * guacamole-common-js ignores opcodes it does not know; our page reads it.
 */
export const STREAMS_OPCODE = 'gateway-streams';

/** What {@link attachStreams} needs of the session. */
interface StreamSession {
  readonly id: string;
  readonly streamSecret: string;
  readonly info: SessionInfo;
  readonly log: Logger;
}

/**
 * Creates a session's interceptor once guacd is ready and, when `announce`,
 * tells the page about its streams.
 */
export function attachStreams(
  session: StreamSession,
  policy: FilePolicy,
  announce: boolean,
  onTransfer: ((record: TransferRecord, info: SessionInfo) => unknown) | undefined,
  toGuacd: (data: string) => void,
  toBrowser: (data: string) => void,
): StreamInterceptor {
  const log = session.log;
  const interceptor = new StreamInterceptor({
    toGuacd, toBrowser, log,
    onTransfer: (record) => {
      log.info({ direction: record.direction, name: record.name, bytes: record.bytes, via: record.via, status: record.status.guac }, 'streams: transfer');
      publish('transferEnd', () => ({
        session: session.id, direction: record.direction, via: record.via, bytes: record.bytes,
        status: record.status.guac, statusName: record.status.name, durationMs: record.end.getTime() - record.start.getTime(),
      }));
      callHook(log, 'onTransfer', onTransfer, record, { ...session.info });
    },
  }, policy);
  if (announce) toBrowser(encode(STREAMS_OPCODE, `${session.id}/${session.streamSecret}`, policy.upload ? 1 : 0, policy.download ? 1 : 0, policy.maxUploadBytes));
  return interceptor;
}

/**
 * {@link sendInMessages} for a piece some of whose instructions are dropped:
 * the kept runs between them go out, each cut into messages as usual.
 * @param drops start/end pairs of the dropped instructions, as positions in
 *   `bytes`' ArrayBuffer, ascending (the form `ends` has)
 */
export function sendKept(bytes: Buffer, ends: readonly number[], drops: readonly number[], send: (message: Buffer) => void): void {
  const base = bytes.byteOffset;
  let from = 0;
  let e = 0;
  const runEnds: number[] = [];
  const flush = (to: number): void => {
    if (to <= from) return;
    runEnds.length = 0;
    while (e < ends.length && ends[e] - base <= to) runEnds.push(ends[e++]);
    sendInMessages(bytes.subarray(from, to), runEnds, send);
  };
  for (let d = 0; d < drops.length; d += 2) {
    flush(drops[d] - base);
    from = drops[d + 1] - base;
  }
  flush(bytes.length);
}
