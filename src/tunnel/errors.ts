/**
 * Every error code the tunnel layer produces, with its status and meaning
 * (a unit test checks that each code used in src/tunnel is listed here with
 * the status it is raised with). guacd's own codes (`GUAC_GUACD_*`,
 * `GUAC_PARAM_*`, …) pass through unchanged; see `GUACD_ERRORS`.
 */
import type { StatusName } from '../protocol/status.js';

/** Code → [status, meaning]. */
export const TUNNEL_ERRORS = Object.freeze({
  GUAC_TOKEN_MISSING: ['CLIENT_UNAUTHORIZED', 'the connect data has no `token`'],
  GUAC_TOKEN_INVALID: ['CLIENT_UNAUTHORIZED', 'the token is malformed, tampered with, sealed with another secret, issued in the future, or for another audience'],
  GUAC_TOKEN_EXPIRED: ['CLIENT_TIMEOUT', 'the token is past its `exp` (the page says "link expired")'],
  GUAC_TOKEN_USED: ['RESOURCE_CONFLICT', 'a single-use (`once`) token was already used'],
  GUAC_TOKEN_NO_TARGET: ['CLIENT_BAD_REQUEST', 'the token names a registry connection and no registry resolves it'],
  GUAC_TOKEN_CONFIG: ['SERVER_ERROR', 'the secret is shorter than 16 bytes, or a payload to seal is invalid (thrown to the caller)'],
  GUAC_TUNNEL_NO_TARGET: ['CLIENT_BAD_REQUEST', 'the resolver returned neither a protocol nor a connection to join'],
  GUAC_TUNNEL_BAD_CONNECT_DATA: ['CLIENT_BAD_REQUEST', 'the connect data has a malformed size, dpi or mimetype'],
  GUAC_TUNNEL_RESOLVE_TIMEOUT: ['SERVER_ERROR', 'the resolver (e.g. the registry\'s database) did not answer within `handshakeTimeoutMs`'],
  GUAC_TUNNEL_CONNECT_TIMEOUT: ['UPSTREAM_TIMEOUT', 'guacd connect and handshake did not finish within `handshakeTimeoutMs` (counted from the connect request)'],
  GUAC_TUNNEL_TARGET_TIMEOUT: ['UPSTREAM_TIMEOUT', 'guacd was ready but its first frame (the remote desktop answering) did not come within `firstFrameTimeoutMs`'],
  GUAC_TUNNEL_UPSTREAM_LOST: ['UPSTREAM_ERROR', 'the connection to guacd ended without its `disconnect` or `error` (guacd killed or crashed, network cut)'],
  GUAC_TUNNEL_INPUT_OVERRUN: ['CLIENT_OVERRUN', 'the browser sent more than `maxPendingInputBytes` before guacd was ready'],
  GUAC_TUNNEL_BAD_INTERNAL: ['CLIENT_BAD_REQUEST', 'the browser sent a tunnel-internal instruction (`0.`) other than a ping with one timestamp of at most 64 characters, the only one guacamole-common-js sends'],
  GUAC_TUNNEL_BROWSER_STALLED: ['CLIENT_TIMEOUT', 'more than `highWaterBytes` waited for the browser and it read none of it for `browserTimeoutMs` (its input was no longer read meanwhile)'],
  GUAC_TUNNEL_UPSTREAM_PROTOCOL: ['UPSTREAM_ERROR', 'guacd sent something that is not valid Guacamole protocol'],
  GUAC_TUNNEL_CLOSING: ['SESSION_CLOSED', 'the tunnel is shutting down and takes no new session'],
  GUAC_TUNNEL_FULL: ['SERVER_BUSY', '`maxSessions` sessions are open'],
  GUAC_TUNNEL_TOO_MANY: ['CLIENT_TOO_MANY', 'the token, the user or the client address already has its cap of live sessions (`maxSessionsPerToken`, `maxSessionsPerUser`, `maxSessionsPerAddress`)'],
  GUAC_TUNNEL_RATE_LIMITED: ['CLIENT_TOO_MANY', 'the client address started more than `handshakesPerAddress` handshakes in `handshakeWindowMs`'],
  GUAC_TUNNEL_BAD_TRANSITION: ['SERVER_ERROR', 'a bug: the session tried a lifecycle transition its table does not allow (logged); it is closed'],
  GUAC_TUNNEL_CLOSED: ['SUCCESS', 'the session ended before it opened for a reason that was not an error (e.g. the browser left); the status is the session\'s own'],
  GUAC_TUNNEL_BAD_OPTION: ['SERVER_ERROR', 'createTunnel was given an invalid option (thrown to the caller)'],
  GUAC_TUNNEL_BAD_METHOD: ['CLIENT_BAD_REQUEST', 'an HTTP tunnel request that is neither GET nor POST'],
  GUAC_TUNNEL_BAD_OPERATION: ['CLIENT_BAD_REQUEST', 'a request to the tunnel path that is no tunnel operation'],
  GUAC_TUNNEL_TOKEN_MISSING: ['CLIENT_BAD_REQUEST', 'an HTTP tunnel read or write without `Guacamole-Tunnel-Token`'],
  GUAC_TUNNEL_NOT_FOUND: ['RESOURCE_NOT_FOUND', 'no HTTP tunnel has that `Guacamole-Tunnel-Token` (never issued, or closed)'],
  GUAC_TUNNEL_BODY_TOO_LARGE: ['CLIENT_OVERRUN', 'the HTTP `?connect` body exceeds `maxConnectBodyBytes`'],
  GUAC_TUNNEL_BAD_BODY: ['CLIENT_BAD_REQUEST', 'the HTTP `?connect` body could not be read'],
} as const satisfies Record<string, readonly [StatusName, string]>);

/** One of {@link TUNNEL_ERRORS}. */
export type TunnelErrorCode = keyof typeof TUNNEL_ERRORS;
