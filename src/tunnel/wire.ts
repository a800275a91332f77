/**
 * The browser-side wire contract, in one place, as guacamole-common-js 1.5
 * (`Tunnel.js`) and the Java tunnels it was written for
 * (`GuacamoleWebSocketTunnelEndpoint`, `GuacamoleHTTPTunnelServlet`) define it.
 *
 * WebSocket: subprotocol `guacamole`; connect data is the query string; the
 * first message is the internal instruction `0.,36.<uuid>;`; the browser's
 * `0.,4.ping,<ts>;` is echoed (a longer timestamp or any other internal
 * instruction ends the session); internal instructions never reach guacd;
 * each message holds whole instructions; the close reason is the decimal
 * Guacamole status (read with `parseInt`), the close code its websocket code.
 *
 * HTTP: `POST ?connect` (body: connect data) answers the UUID with header
 * `Guacamole-Tunnel-Token`, which every later request must carry;
 * `GET ?read:<uuid>:<n>` streams instructions and ends with `0.;` (the
 * browser starts the next read as soon as the status is known, and a
 * response ends once the next read is waiting); `POST ?write:<uuid>` carries
 * instructions. The tunnel is found by the token header, not the UUID.
 * Errors: HTTP status plus `Guacamole-Status-Code` (decimal) and
 * `Guacamole-Error-Message`; an unknown token is 404 / RESOURCE_NOT_FOUND,
 * which the browser treats as end of stream once connected.
 */
import { encode } from '../protocol/encoder.js';
import { INTERNAL_OPCODE } from '../protocol/constants.js';
import type { StatusInfo } from '../protocol/status.js';

/** The WebSocket subprotocol guacamole-common-js asks for. */
export const SUBPROTOCOL = 'guacamole';

/** The internal instruction's ping argument. */
export const PING = 'ping';

/** The Java endpoint's batch size: a message is flushed once it holds this many bytes. */
export const MESSAGE_FLUSH_BYTES = 8192;

/**
 * Cuts whole instructions into websocket messages of whole instructions, each
 * ending at the first instruction end at or past {@link MESSAGE_FLUSH_BYTES}
 * (the Java endpoint's batching); fewer bytes than that go out as one.
 * @param bytes complete instructions
 * @param ends where each instruction in `bytes` ends, as positions in its
 *   ArrayBuffer (`byteOffset` plus offset), ascending
 * @param send gets each message, a view of `bytes`
 */
export function sendInMessages(bytes: Buffer, ends: readonly number[], send: (message: Buffer) => void): void {
  if (bytes.length < MESSAGE_FLUSH_BYTES) {
    send(bytes);
    return;
  }
  const base = bytes.byteOffset;
  let start = 0;
  for (const abs of ends) {
    const end = abs - base;
    if (end - start >= MESSAGE_FLUSH_BYTES) {
      send(bytes.subarray(start, end));
      start = end;
    }
  }
  if (start < bytes.length) send(bytes.subarray(start));
}

/** Header carrying the HTTP tunnel's session token (guacamole-common-js 1.5). */
export const TUNNEL_TOKEN_HEADER = 'Guacamole-Tunnel-Token';
/** Headers carrying an HTTP tunnel error. */
export const STATUS_CODE_HEADER = 'Guacamole-Status-Code';
export const ERROR_MESSAGE_HEADER = 'Guacamole-Error-Message';

/** Ends every HTTP read response: an element of length 0. */
export const END_OF_RESPONSE = '0.;';

/** The first WebSocket message: `0.,36.<uuid>;`. */
export function uuidInstruction(uuid: string): string {
  return encode(INTERNAL_OPCODE, uuid);
}

/**
 * The longest ping timestamp echoed. guacamole-common-js (1.0 to 1.5) pings
 * with `new Date().getTime()`, 13 digits; the margin is for other clients.
 */
export const MAX_PING_TIMESTAMP = 64;

/** The echo of a browser ping. */
export function pingInstruction(timestamp: string): string {
  return encode(INTERNAL_OPCODE, PING, timestamp);
}

/**
 * The answer to an internal instruction from the browser, given its
 * arguments: the echo of a ping (`ping` and one timestamp of at most
 * {@link MAX_PING_TIMESTAMP} characters), undefined for anything else, which
 * no Guacamole client sends (the Java endpoint ignores it; we refuse it, as
 * it could only be an attempt to make output).
 */
export function pingEcho(args: readonly string[]): string | undefined {
  if (args.length !== 2 || args[0] !== PING || args[1].length > MAX_PING_TIMESTAMP) return undefined;
  return pingInstruction(args[1]);
}

/** `error,<message>,<decimal status>;` */
export function errorInstruction(status: StatusInfo, message: string): string {
  return encode('error', message, status.guac);
}

/** The websocket close reason: the decimal Guacamole status code. */
export function closeReason(status: StatusInfo): string {
  return String(status.guac);
}

/** A header-safe (printable ASCII, bounded) copy of a message. */
export function headerSafe(message: string): string {
  return message.replace(/[^\x20-\x7e]+/g, ' ').slice(0, 256);
}

/** The HTTP tunnel operations, parsed from a query string. */
export type HttpOperation =
  | { op: 'connect' }
  | { op: 'read'; uuid: string }
  | { op: 'write'; uuid: string };

/**
 * Parses the HTTP tunnel's query string (`connect`, `read:UUID:N`,
 * `write:UUID`); undefined when it is none of them.
 */
export function parseHttpOperation(query: string): HttpOperation | undefined {
  if (query === 'connect') return { op: 'connect' };
  const m = /^(read|write):([0-9a-fA-F-]{36})(?::\d+)?$/.exec(query);
  if (!m) return undefined;
  return { op: m[1] as 'read' | 'write', uuid: m[2].toLowerCase() };
}
