/**
 * What to tell the person in front of the screen for each Guacamole status.
 * The codes come from the shared status table; the wording here is for end
 * users (the table's own messages are written for logs and HTTP answers).
 */
import { STATUS, type StatusName } from '../protocol/status.js';

/** A status explained for the overlay. */
export interface StatusText {
  /** One short line, e.g. "Access denied". */
  readonly title: string;
  /** A sentence saying what happened or what to do. */
  readonly detail: string;
  /** False when connecting again with the same link cannot help. */
  readonly canRetry?: boolean;
}

const TEXT: { readonly [K in StatusName]?: StatusText } = {
  UNSUPPORTED: { title: 'Not supported', detail: 'The remote server does not support this operation.' },
  SERVER_ERROR: { title: 'Gateway error', detail: 'The gateway hit an internal error. Try again.' },
  SERVER_BUSY: { title: 'Gateway busy', detail: 'The gateway is too busy right now. Try again in a moment.' },
  UPSTREAM_TIMEOUT: { title: 'Remote host timed out', detail: 'The remote server is not responding.' },
  UPSTREAM_ERROR: { title: 'Remote server error', detail: 'The remote server reported an error.' },
  RESOURCE_NOT_FOUND: { title: 'Connection not found', detail: 'The requested connection does not exist.' },
  // The gateway answers a single-use link used a second time with this status.
  RESOURCE_CONFLICT: {
    title: 'Already in use',
    detail: 'This link was already used, or the connection is in use elsewhere. Ask for a new link.',
    canRetry: false,
  },
  // A joined session whose owner left, or a link to a session that ended: the live connection is gone for good.
  RESOURCE_CLOSED: {
    title: 'Session ended',
    detail: 'The shared session has ended. Ask its owner for a new link.',
    canRetry: false,
  },
  UPSTREAM_NOT_FOUND: {
    title: 'Remote host not found',
    detail: 'The remote server (or the gateway) could not be reached.',
  },
  UPSTREAM_UNAVAILABLE: {
    title: 'Remote host unavailable',
    detail: 'The remote server is unavailable or refused the connection.',
  },
  SESSION_CONFLICT: { title: 'Session taken over', detail: 'Another connection took over this session.' },
  SESSION_TIMEOUT: { title: 'Idle timeout', detail: 'The session ended because it was inactive for too long.' },
  SESSION_CLOSED: { title: 'Session closed', detail: 'The session was closed by the server.' },
  CLIENT_BAD_REQUEST: { title: 'Invalid request', detail: 'The connection request was not valid.' },
  CLIENT_UNAUTHORIZED: {
    title: 'Access denied',
    detail: 'Wrong credentials, or a link that is not valid: the login was refused.',
  },
  CLIENT_FORBIDDEN: {
    title: 'Access denied',
    detail: 'You may not use this connection, or the credentials were refused.',
  },
  CLIENT_TIMEOUT: { title: 'This link has expired', detail: 'Ask for a new link to connect again.', canRetry: false },
  CLIENT_OVERRUN: { title: 'Too much data', detail: 'The browser sent more data than the server accepts.' },
  CLIENT_BAD_TYPE: { title: 'Unsupported data', detail: 'The browser sent data of a type the server does not accept.' },
  CLIENT_TOO_MANY: { title: 'Too many sessions', detail: 'Too many sessions are open. Close one and try again.' },
};

const byCode = new Map<number, StatusText>();
for (const name of Object.keys(TEXT) as StatusName[]) {
  const text = TEXT[name];
  if (text) byCode.set(STATUS[name].guac, text);
}

/**
 * Explains a Guacamole status code. Unknown codes fall back to their class
 * (0x02xx server side, 0x03xx client side), as guacamole-common-js does.
 * @param code - Guacamole status code, e.g. `0x0301`.
 */
export function describeStatus(code: number): StatusText {
  const exact = byCode.get(code);
  if (exact) return exact;
  if (code >= 0x0300 && code <= 0x03ff) return { title: 'Connection refused', detail: 'The connection request was refused.' };
  return { title: 'Connection failed', detail: 'The connection failed unexpectedly.' };
}

/**
 * Stock phrases that add nothing for a user: guacamole-common-js's own, and
 * guacd's generic abort text (it keeps details in its log).
 */
const STOCK_MESSAGES = new Set([
  'manually closed.',
  'server timeout.',
  'incomplete instruction.',
  'no tunnels to try.',
  'aborted. see logs.',
]);

/**
 * Whether a message that came with a status (from guacd's `error`
 * instruction, or a tunnel close reason) is worth showing. Close reasons are
 * bare decimal codes, and the library invents a few stock phrases; guacd's
 * own texts such as "Authentication failed" are kept.
 * @param message - the status message, if any.
 */
export function isHumanMessage(message: string | undefined): message is string {
  if (!message) return false;
  const text = message.trim();
  if (text.length < 3 || text.length > 300) return false;
  if (!/\p{L}{2}/u.test(text)) return false;
  return !STOCK_MESSAGES.has(text.toLowerCase());
}

/** guacd's `msg` ids (protocol 1.5.0, libguac `GUAC_MESSAGE_*`). */
const USER_JOINED = 0x0001;
const USER_LEFT = 0x0002;

/**
 * What to tell the owner about guacd's `msg,<id>,<user id>,<name>`: who
 * joined or left the connection (the name is what the joiner's gateway sent
 * in the handshake; empty for an anonymous viewer). Other ids say nothing.
 * @param id - the message id.
 * @param args - its arguments after the id.
 */
export function describeNotice(id: number, args: readonly string[]): string | undefined {
  if (id !== USER_JOINED && id !== USER_LEFT) return undefined;
  const name = (args[1] ?? '').trim().slice(0, 64);
  const who = name !== '' && /\p{L}|\p{N}/u.test(name) ? name : 'Someone';
  return `${who} ${id === USER_JOINED ? 'joined' : 'left'} the session.`;
}
