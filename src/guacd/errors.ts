/**
 * Every error code the guacd layer produces, with its status and meaning, and
 * the few constructors shared by the socket, handshake and client code.
 */
import { defineErrors, errorTable, GuacError } from '../protocol/errors.js';
import { statusFromCode } from '../protocol/status.js';

/** The guacd layer's codes; every site builds its own message. `GUAC_GUACD_ERROR` takes its status from guacd. */
export const GUACD = defineErrors({
  GUAC_GUACD_UNREACHABLE: { status: 'UPSTREAM_NOT_FOUND', doc: 'nothing listens at the guacd address (refused, no such socket file or host)' },
  GUAC_GUACD_TIMEOUT: { status: 'UPSTREAM_TIMEOUT', doc: 'guacd did not accept the connection or finish the handshake in time' },
  GUAC_GUACD_IO: { status: 'UPSTREAM_ERROR', doc: 'the connection to guacd failed (reset, TLS failure, other socket error)' },
  GUAC_GUACD_PROTOCOL: { status: 'UPSTREAM_ERROR', doc: 'guacd sent something that is not valid Guacamole protocol, or an unexpected instruction' },
  GUAC_GUACD_NOT_STARTED: { status: 'UPSTREAM_TIMEOUT', doc: 'guacd did not answer `select` with `args` in time: no plugin for the protocol, or its new connection process hung (guacd 1.3.0 does under connection churn); nothing reached the remote desktop yet, so `GuacdClient.open` retries it' },
  GUAC_GUACD_ERROR: { status: 'SERVER_ERROR', doc: 'guacd sent an `error` instruction; status from its code, message is guacd\'s' },
  GUAC_GUACD_CLOSED: { status: 'UPSTREAM_ERROR', doc: 'guacd closed the connection during the handshake' },
  GUAC_JOIN_NOT_FOUND: { status: 'RESOURCE_NOT_FOUND', doc: 'no such connection to join: guacd 1.3.0 closes the connection on `select,$id`, 1.5+ answers it with `error` RESOURCE_NOT_FOUND' },
  GUAC_PROTOCOL_UNSUPPORTED: { status: 'UNSUPPORTED', doc: 'guacd closed the connection on `select,<protocol>`: no plugin for it, or it could not start the connection\'s process' },
  GUAC_CREDENTIALS_REQUIRED: { status: 'CLIENT_UNAUTHORIZED', doc: 'guacd asked for credentials (`required`) and no `onRequired` answered' },
  GUAC_ABORTED: { status: 'SESSION_CLOSED', doc: 'the caller\'s AbortSignal ended the connection attempt' },
  GUAC_CLIENT_STATE: { status: 'SERVER_ERROR', doc: 'a method was called in a state that does not allow it (e.g. a second handshake)' },
  GUAC_CLIENT_CLOSED: { status: 'RESOURCE_CLOSED', doc: 'send or receive on a client that is closed or detached' },
  GUAC_INSTRUCTION_TOO_LARGE: { status: 'CLIENT_OVERRUN', doc: 'an instruction to send exceeds guacd\'s limits (8192 code points per element, 128 elements, 32768 bytes)' },
  GUAC_INSTRUCTION_INVALID: { status: 'CLIENT_BAD_REQUEST', doc: 'raw bytes to send are not valid Guacamole protocol' },
  GUAC_PROTOCOL_UNKNOWN: { status: 'CLIENT_BAD_REQUEST', doc: 'the protocol is not one of ssh, vnc, rdp, telnet, kubernetes' },
  GUAC_PARAM_UNKNOWN: { status: 'CLIENT_BAD_REQUEST', doc: 'a connection parameter is not in the catalogue of its protocol' },
  GUAC_PARAM_INVALID: { status: 'CLIENT_BAD_REQUEST', doc: 'a connection parameter has a value of the wrong type or out of range' },
  GUAC_PARAM_DUPLICATE: { status: 'CLIENT_BAD_REQUEST', doc: 'a parameter is given under both its names with different values' },
});

/** Code → status and meaning (the catalogue as a table, for callers and docs). */
export const GUACD_ERRORS = errorTable(GUACD);

/** One of {@link GUACD_ERRORS}. */
export type GuacdErrorCode = keyof typeof GUACD.entries;

/** @internal Builds an error whose status comes from the table. */
export function guacdError(code: Exclude<GuacdErrorCode, 'GUAC_GUACD_ERROR'>, message: string, cause?: unknown): GuacError {
  return GUACD[code]({ message, cause });
}

/**
 * Turns the arguments of guacd's `error,<message>,<status>` instruction into a
 * GuacError: code `GUAC_GUACD_ERROR`, status from guacd's decimal code,
 * message guacd's own (prefixed with the status's explanation when guacd only
 * said its generic "Aborted. See logs.").
 * @param args the instruction's arguments
 */
export function errorFromInstruction(args: readonly string[]): GuacError {
  const code = /^\d{1,5}$/.test(args[1] ?? '') ? Number(args[1]) : 0x0200;
  const status = statusFromCode(code);
  const said = args[0] ?? '';
  // guacd 1.x sends this generic text for every guac_client_abort (the
  // detail goes to its log only): the status says more, so lead with it.
  const message = said === '' ? status.message : said === GENERIC_ABORT ? `${status.message} (guacd: "${said}")` : said;
  return new GuacError('GUAC_GUACD_ERROR', status, message);
}

/** What guacd 1.x puts in every `error` it sends on aborting a connection. */
export const GENERIC_ABORT = 'Aborted. See logs.';

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/**
 * @internal Maps a socket error to a GuacError; `where` names the endpoint
 * (an address, never a secret).
 */
export function socketError(err: unknown, where: string): GuacError {
  if (err instanceof GuacError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code && UNREACHABLE.has(code)) return guacdError('GUAC_GUACD_UNREACHABLE', `guacd is unreachable at ${where} (${code}).`, err);
  if (code === 'ETIMEDOUT') return guacdError('GUAC_GUACD_TIMEOUT', `Connecting to guacd at ${where} timed out (${code}).`, err);
  return guacdError('GUAC_GUACD_IO', `The connection to guacd at ${where} failed${code ? ` (${code})` : ''}.`, err);
}

/**
 * @internal The error for an aborted wait: a timeout (`AbortSignal.timeout`
 * or our own) becomes `GUAC_GUACD_TIMEOUT`, a GuacError reason passes
 * through, anything else is `GUAC_ABORTED`.
 */
export function abortError(signal: AbortSignal, what: string): GuacError {
  const reason: unknown = signal.reason;
  if (reason instanceof GuacError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') return guacdError('GUAC_GUACD_TIMEOUT', `${what} timed out.`, reason);
  return guacdError('GUAC_ABORTED', `${what} was aborted.`, reason);
}
