/**
 * Error codes the registry raises, with their status (fastify's habit: one
 * table to document and test). Token codes shared with `tunnel/token.ts`
 * (GUAC_TOKEN_INVALID, GUAC_TOKEN_EXPIRED) are listed there.
 */
import type { StatusName } from '../protocol/status.js';

/** Code → status name. */
export const REGISTRY_ERRORS: Readonly<Record<string, StatusName>> = Object.freeze({
  /** No token in the query string. */
  GUAC_TOKEN_MISSING: 'CLIENT_UNAUTHORIZED',
  /** Revoked by jti, or all tokens of its user or connection issued up to a revocation. */
  GUAC_TOKEN_REVOKED: 'CLIENT_FORBIDDEN',
  /** A single-use token presented again (checked across every gateway sharing the database). */
  GUAC_TOKEN_USED: 'RESOURCE_CONFLICT',
  /** A share link whose row is gone (the token is genuine; the share was deleted with its database). */
  GUAC_SHARE_NOT_FOUND: 'RESOURCE_NOT_FOUND',
  /** A revoked share link; sessions it opened end with CLIENT_FORBIDDEN "The share link was revoked.". */
  GUAC_SHARE_REVOKED: 'CLIENT_FORBIDDEN',
  /** The session a share link joins has ended. */
  GUAC_SHARE_SESSION_ENDED: 'RESOURCE_CLOSED',
  /** A single-use share link presented again. */
  GUAC_SHARE_USED: 'RESOURCE_CONFLICT',
  /** Full control asked of a read-only session (a share never gives more than its session has). */
  GUAC_SHARE_FORBIDDEN: 'CLIENT_FORBIDDEN',
  /** The session has no guacd connection id yet. */
  GUAC_SHARE_NOT_READY: 'RESOURCE_CONFLICT',
  /** Minting after a revocation whose cutoff lies more than ~2 s further ahead than tokens may be issued (a revoking gateway's clock runs ahead). */
  GUAC_REVOCATION_AHEAD: 'SERVER_ERROR',
  /** The token's user holds no grant (own or `*`) on the connection; also refused at minting. */
  GUAC_GRANT_MISSING: 'CLIENT_FORBIDDEN',
  /** No connection with that id or name. */
  GUAC_CONNECTION_NOT_FOUND: 'RESOURCE_NOT_FOUND',
  /** Another connection already has that name. */
  GUAC_CONNECTION_EXISTS: 'RESOURCE_CONFLICT',
  /** Empty, too long, control characters, outer spaces, or shaped like a UUID. */
  GUAC_CONNECTION_NAME_INVALID: 'CLIENT_BAD_REQUEST',
  /** Empty, too long or control characters; `*` outside grants. */
  GUAC_USER_INVALID: 'CLIENT_BAD_REQUEST',
  /** Token lifetime not a whole number of seconds from 1 to 7 days. */
  GUAC_TTL_INVALID: 'CLIENT_BAD_REQUEST',
  /** A request field of the wrong type, or a missing one. */
  GUAC_REQUEST_INVALID: 'CLIENT_BAD_REQUEST',
  /** Stored secrets do not decrypt: another gateway secret, or damaged data. */
  GUAC_REGISTRY_DECRYPT: 'SERVER_ERROR',
  /** The database was created with another gateway secret. */
  GUAC_REGISTRY_KEY_MISMATCH: 'SERVER_ERROR',
  /** The schema is newer than this gateway. */
  GUAC_REGISTRY_TOO_NEW: 'SERVER_ERROR',
  /** The database cannot be opened or reached. */
  GUAC_REGISTRY_UNAVAILABLE: 'SERVER_ERROR',
  /** A database URL of an unsupported kind. */
  GUAC_REGISTRY_URL_INVALID: 'SERVER_ERROR',
  /** Used after close(). */
  GUAC_REGISTRY_CLOSED: 'SERVER_ERROR',
  /** The gateway secret is shorter than 16 bytes. */
  GUAC_SECRET_WEAK: 'SERVER_ERROR',
  /** A key file in the data folder cannot be read or created. */
  GUAC_KEY_FILE: 'SERVER_ERROR',
  /** guacamole-lite key not 32 bytes, admin key shorter than 16 characters. */
  GUAC_CONFIG_INVALID: 'SERVER_ERROR',
});
