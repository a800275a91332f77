/**
 * Error codes the registry raises, with their status and message (fastify's
 * habit: one catalogue to raise from, document and test). Token codes shared
 * with `tunnel/token.ts` (GUAC_TOKEN_MISSING, GUAC_TOKEN_INVALID,
 * GUAC_TOKEN_USED, GUAC_TOKEN_EXPIRED) are declared in the tunnel's catalogue,
 * GUAC_PROTOCOL_UNKNOWN and GUAC_PARAM_INVALID in guacd's.
 */
import { defineErrors } from '../protocol/errors.js';
import type { StatusName } from '../protocol/status.js';

/**
 * The registry's codes: status, the message when every site says the same,
 * and the docs line when it differs from the message.
 */
export const REGISTRY = defineErrors({
  /** Revoked by jti, or all tokens of its user or connection issued up to a revocation. */
  GUAC_TOKEN_REVOKED: { status: 'CLIENT_FORBIDDEN', message: 'The access token has been revoked.' },
  /** A share link whose row is gone (the token is genuine; the share was deleted with its database). */
  GUAC_SHARE_NOT_FOUND: { status: 'RESOURCE_NOT_FOUND', message: 'The share link does not exist.' },
  /** A revoked share link; sessions it opened end with CLIENT_FORBIDDEN "The share link was revoked.". */
  GUAC_SHARE_REVOKED: { status: 'CLIENT_FORBIDDEN', message: 'The share link was revoked.' },
  /** The session a share link joins has ended. */
  GUAC_SHARE_SESSION_ENDED: { status: 'RESOURCE_CLOSED', message: 'The shared session has ended.' },
  /** A single-use share link presented again. */
  GUAC_SHARE_USED: { status: 'RESOURCE_CONFLICT', message: 'The single-use share link was already used.' },
  /** Full control asked of a read-only session (a share never gives more than its session has). */
  GUAC_SHARE_FORBIDDEN: { status: 'CLIENT_FORBIDDEN', message: 'A read-only session can only be shared read-only.' },
  /** The session has no guacd connection id yet. */
  GUAC_SHARE_NOT_READY: { status: 'RESOURCE_CONFLICT', message: 'The session is not connected yet; share it once it is.' },
  /** Minting after a revocation whose cutoff lies more than ~2 s further ahead than tokens may be issued (a revoking gateway's clock runs ahead). */
  GUAC_REVOCATION_AHEAD: { status: 'SERVER_ERROR', doc: 'Tokens of this user or connection are revoked until … s from now, by this gateway\'s clock ' },
  /** The token's user holds no grant (own or `*`) on the connection; also refused at minting. */
  GUAC_GRANT_MISSING: { status: 'CLIENT_FORBIDDEN', doc: 'User … has no grant on connection …; grant access first.' },
  /** No connection with that id or name. */
  GUAC_CONNECTION_NOT_FOUND: { status: 'RESOURCE_NOT_FOUND', doc: 'No connection is named or numbered ….' },
  /** Another connection already has that name. */
  GUAC_CONNECTION_EXISTS: { status: 'RESOURCE_CONFLICT', doc: 'A connection named … already exists.' },
  /** Empty, too long, control characters, outer spaces, or shaped like a UUID. */
  GUAC_CONNECTION_NAME_INVALID: { status: 'CLIENT_BAD_REQUEST', message: 'The connection name must not look like a UUID.' },
  /** Empty, too long or control characters; `*` outside grants. */
  GUAC_USER_INVALID: { status: 'CLIENT_BAD_REQUEST', message: 'The user name "*" is only valid in grants.' },
  /** Token lifetime not a whole number of seconds from 1 to 7 days. */
  GUAC_TTL_INVALID: { status: 'CLIENT_BAD_REQUEST', doc: 'The token lifetime must be a whole number of seconds from 1 to ….' },
  /** No recording has that id (never made, deleted, or removed by retention). */
  GUAC_RECORDING_NOT_FOUND: { status: 'RESOURCE_NOT_FOUND', message: 'No such recording.' },
  /** A recording id that is not a UUID (ids are never paths: `../x` and the like stop here). */
  GUAC_RECORDING_ID_INVALID: { status: 'CLIENT_BAD_REQUEST', message: 'A recording id is a UUID.' },
  /** Deleting a recording still being written. */
  GUAC_RECORDING_IN_PROGRESS: { status: 'RESOURCE_CONFLICT', message: 'The recording is still being written; end its session first.' },
  /** A request field of the wrong type, or a missing one. */
  GUAC_REQUEST_INVALID: { status: 'CLIENT_BAD_REQUEST', doc: '"connection" (a connection name or id) is required.' },
  /** Stored secrets do not decrypt: another gateway secret, or damaged data. */
  GUAC_REGISTRY_DECRYPT: { status: 'SERVER_ERROR', message: 'Stored secret parameters cannot be decrypted: the gateway secret differs from the one they were saved with, or the data is damaged.' },
  /** The database was created with another gateway secret. */
  GUAC_REGISTRY_KEY_MISMATCH: { status: 'SERVER_ERROR', message: 'The registry was created with a different gateway secret; its stored passwords cannot be read with this one.' },
  /** The schema is newer than this gateway. */
  GUAC_REGISTRY_TOO_NEW: { status: 'SERVER_ERROR', doc: 'The registry schema is at version …, newer than this gateway knows (…); upgrade the gateway.' },
  /** The database cannot be opened or reached. */
  GUAC_REGISTRY_UNAVAILABLE: { status: 'SERVER_ERROR', doc: 'Cannot connect to the PostgreSQL registry at ….' },
  /** A database URL of an unsupported kind. */
  GUAC_REGISTRY_URL_INVALID: { status: 'SERVER_ERROR', doc: 'The file: database URL is not valid.' },
  /** Used after close(). */
  GUAC_REGISTRY_CLOSED: { status: 'SERVER_ERROR', message: 'The registry is closed.' },
  /** The gateway secret is shorter than 16 bytes. */
  GUAC_SECRET_WEAK: { status: 'SERVER_ERROR', message: 'The gateway secret must be at least 16 bytes long.' },
  /** A key file in the data folder cannot be read or created. */
  GUAC_KEY_FILE: { status: 'SERVER_ERROR', doc: 'Cannot read or create the key file ….' },
  /** guacamole-lite key not 32 bytes, admin key shorter than 16 characters. */
  GUAC_CONFIG_INVALID: { status: 'SERVER_ERROR', message: 'The guacamole-lite key must be 32 bytes long (AES-256).' },
  /** No session has that id. */
  GUAC_SESSION_NOT_FOUND: { status: 'RESOURCE_NOT_FOUND', doc: 'No session has the id ….' },
  /** The session has ended already. */
  GUAC_SESSION_ENDED: { status: 'RESOURCE_CONFLICT', message: 'The session has already ended.' },
});

/** Code → status name (the catalogue as a table). */
export const REGISTRY_ERRORS: Readonly<Record<string, StatusName>> = Object.freeze(
  Object.fromEntries(Object.entries(REGISTRY.entries).map(([code, e]) => [code, e.status])),
);
