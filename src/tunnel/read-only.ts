/**
 * What a read-only viewer may send to guacd.
 *
 * The list is an allowlist, from libguac's `user-handlers.c` (guacd 1.3 to
 * 1.6), instruction by instruction:
 * - `sync`: the frame acknowledgement guacd paces its output on; without it a
 *   viewer lags and guacd throttles. Kept.
 * - `ack`: acknowledges a stream guacd opened (audio, downloads, `required`
 *   prompts); only touches output streams (even indexes). Kept.
 * - `nop`: keep-alive (the HTTP tunnel's ping). Kept.
 * - `disconnect`: ends this user only. Kept.
 * - `get`: reads an object guacd exposed (e.g. the SFTP filesystem listing or
 *   a download). guacd's own read-only users keep it, as the protocol plugins
 *   only leave out input handlers; the answer flows to the viewer. Kept.
 * - `key`, `mouse`, `touch`, `size`, `clipboard`, `file`, `pipe`, `put`,
 *   `audio` (microphone), `argv` (changing parameters), `usbconnect`,
 *   `usbdata`, `usbdisconnect`: input. Dropped.
 * - `blob`, `end`: libguac delivers them only to *input* streams
 *   (`__get_open_input_stream`), which only the user's own `clipboard`,
 *   `file`, `pipe`, `put`, `audio` and `argv` open. Those are dropped here,
 *   so every `blob`/`end` a viewer sends belongs to a stream it opened:
 *   dropped, without per-stream tracking (tracking would decide the same).
 * - anything else (a newer guacd's instructions): dropped until reviewed.
 *
 * guacd itself also ignores input when the `read-only` parameter is set; this
 * filter keeps that true for joins, old guacd builds and protocols whose
 * plugin forgets a handler.
 */
const VIEWER_ALLOWED: ReadonlySet<string> = new Set(['sync', 'ack', 'nop', 'disconnect', 'get']);

/**
 * True when a read-only viewer's instruction may reach guacd.
 * @param opcode the instruction's opcode (never the internal `''`, which the tunnel handles)
 */
export function viewerMaySend(opcode: string): boolean {
  return VIEWER_ALLOWED.has(opcode);
}

/**
 * Instructions that say nothing about a person being there: the browser sends
 * them on its own (frame and stream acknowledgements, keep-alives). Every
 * other instruction, forwarded or dropped by the read-only filter, counts as
 * activity for the idle timeout; internal pings never do.
 */
const AUTOMATIC: ReadonlySet<string> = new Set(['sync', 'ack', 'nop']);

/** True when an instruction from the browser shows a user at work (idle timeout). */
export function isActivity(opcode: string): boolean {
  return !AUTOMATIC.has(opcode);
}
