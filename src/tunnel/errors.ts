/**
 * Every error code the tunnel layer produces, with its status and meaning
 * (a unit test checks that each code used in src/tunnel is listed here with
 * the status it is raised with). guacd's own codes (`GUAC_GUACD_*`,
 * `GUAC_PARAM_*`, …) pass through unchanged; see `GUACD_ERRORS`.
 */
import { defineErrors, errorTable } from '../protocol/errors.js';

/**
 * The tunnel's codes: status, the message when every site says the same, and
 * the docs line. Sites raise them as `TUNNEL.GUAC_TUNNEL_FULL()`.
 */
export const TUNNEL = defineErrors({
  GUAC_TOKEN_MISSING: { status: 'CLIENT_UNAUTHORIZED', message: 'No access token was given.', doc: 'the connect data has no `token`' },
  GUAC_TOKEN_INVALID: { status: 'CLIENT_UNAUTHORIZED', message: 'The access token is invalid.', doc: 'the token is malformed, tampered with, sealed with another secret, issued in the future, or for another audience' },
  GUAC_TOKEN_EXPIRED: { status: 'CLIENT_TIMEOUT', message: 'The access token has expired.', doc: 'the token is past its `exp` (the page says "link expired")' },
  GUAC_TOKEN_USED: { status: 'RESOURCE_CONFLICT', message: 'The single-use access token was already used.', doc: 'a single-use (`once`) token was already used' },
  GUAC_TOKEN_NO_TARGET: { status: 'CLIENT_BAD_REQUEST', message: 'The access token names no connection this gateway can open.', doc: 'the token names a registry connection and no registry resolves it' },
  GUAC_TOKEN_CONFIG: { status: 'SERVER_ERROR', doc: 'the secret is shorter than 16 bytes, or a payload to seal is invalid (thrown to the caller)' },
  GUAC_TUNNEL_NO_TARGET: { status: 'CLIENT_BAD_REQUEST', message: 'The connection request names nothing to open.', doc: 'the resolver returned neither a protocol nor a connection to join' },
  GUAC_TUNNEL_BAD_CONNECT_DATA: { status: 'CLIENT_BAD_REQUEST', doc: 'the connect data has a malformed size, dpi or mimetype' },
  GUAC_TUNNEL_RESOLVE_TIMEOUT: { status: 'SERVER_ERROR', message: 'The gateway could not check access in time; try again later.', doc: 'the resolver (e.g. the registry\'s database) did not answer within `handshakeTimeoutMs`' },
  GUAC_TUNNEL_CONNECT_TIMEOUT: { status: 'UPSTREAM_TIMEOUT', message: 'The remote desktop server did not answer in time.', doc: 'guacd connect and handshake did not finish within `handshakeTimeoutMs` (counted from the connect request)' },
  GUAC_TUNNEL_TARGET_TIMEOUT: { status: 'UPSTREAM_TIMEOUT', message: 'The remote desktop did not answer in time.', doc: 'guacd was ready but its first frame (the remote desktop answering) did not come within `firstFrameTimeoutMs`' },
  GUAC_TUNNEL_UPSTREAM_LOST: { status: 'UPSTREAM_ERROR', message: 'The connection to the remote desktop server was lost.', doc: 'the connection to guacd ended without its `disconnect` or `error` (guacd killed or crashed, network cut)' },
  GUAC_TUNNEL_INPUT_OVERRUN: { status: 'CLIENT_OVERRUN', message: 'The browser sent too much before the connection was ready.', doc: 'the browser sent more than `maxPendingInputBytes` before guacd was ready' },
  GUAC_TUNNEL_BAD_INTERNAL: { status: 'CLIENT_BAD_REQUEST', message: 'The browser sent an invalid tunnel instruction.', doc: 'the browser sent a tunnel-internal instruction (`0.`) other than a ping with one timestamp of at most 64 characters, the only one guacamole-common-js sends' },
  GUAC_TUNNEL_BROWSER_STALLED: { status: 'CLIENT_TIMEOUT', message: 'The browser stopped reading what the gateway sent.', doc: 'more than `highWaterBytes` waited for the browser and it read none of it for `browserTimeoutMs` (its input was no longer read meanwhile)' },
  GUAC_TUNNEL_UPSTREAM_PROTOCOL: { status: 'UPSTREAM_ERROR', doc: 'guacd sent something that is not valid Guacamole protocol' },
  GUAC_TUNNEL_CLOSING: { status: 'SESSION_CLOSED', message: 'The gateway is shutting down.', doc: 'the tunnel is shutting down and takes no new session' },
  GUAC_TUNNEL_DRAINING: { status: 'SERVER_BUSY', message: 'This gateway is shutting down and starts no new sessions; connect again to reach another.', doc: 'the gateway is draining (`serve --drain`, `tunnel.drain()`): its live sessions go on, new ones are refused' },
  GUAC_TUNNEL_NO_GUACD: { status: 'UPSTREAM_UNAVAILABLE', message: 'No remote desktop server (guacd) is available; try again later.', doc: 'every guacd of the pool is down (its health check or a connection failed)' },
  GUAC_TUNNEL_GUACD_UNKNOWN: { status: 'UPSTREAM_NOT_FOUND', doc: 'a join names a guacd (from the live-session directory) that is not in this gateway\'s pool: every gateway must list the same guacd, spelled the same' },
  GUAC_TUNNEL_FULL: { status: 'SERVER_BUSY', message: 'The gateway has too many sessions open.', doc: '`maxSessions` sessions are open' },
  GUAC_TUNNEL_TOO_MANY: { status: 'CLIENT_TOO_MANY', doc: 'the token, the user or the client address already has its cap of live sessions (`maxSessionsPerToken`, `maxSessionsPerUser`, `maxSessionsPerAddress`)' },
  GUAC_TUNNEL_RATE_LIMITED: { status: 'CLIENT_TOO_MANY', message: 'Too many connection attempts from this address; wait a minute and try again.', doc: 'the client address started more than `handshakesPerAddress` handshakes in `handshakeWindowMs`' },
  GUAC_TUNNEL_BAD_TRANSITION: { status: 'SERVER_ERROR', message: 'The gateway hit an internal error.', doc: 'a bug: the session tried a lifecycle transition its table does not allow (logged); it is closed' },
  GUAC_TUNNEL_CLOSED: { status: 'SUCCESS', doc: 'the session ended before it opened for a reason that was not an error (e.g. the browser left); the status is the session\'s own' },
  GUAC_TUNNEL_BAD_OPTION: { status: 'SERVER_ERROR', doc: 'createTunnel was given an invalid option (thrown to the caller)' },
  GUAC_TUNNEL_BAD_METHOD: { status: 'CLIENT_BAD_REQUEST', message: 'The HTTP tunnel accepts GET and POST only.', doc: 'an HTTP tunnel request that is neither GET nor POST' },
  GUAC_TUNNEL_BAD_OPERATION: { status: 'CLIENT_BAD_REQUEST', message: 'Invalid tunnel operation.', doc: 'a request to the tunnel path that is no tunnel operation' },
  GUAC_TUNNEL_TOKEN_MISSING: { status: 'CLIENT_BAD_REQUEST', message: 'The HTTP tunnel session token is required after connecting.', doc: 'an HTTP tunnel read or write without `Guacamole-Tunnel-Token`' },
  GUAC_TUNNEL_NOT_FOUND: { status: 'RESOURCE_NOT_FOUND', message: 'No such tunnel.', doc: 'no HTTP tunnel has that `Guacamole-Tunnel-Token` (never issued, or closed)' },
  GUAC_TUNNEL_BODY_TOO_LARGE: { status: 'CLIENT_OVERRUN', message: 'The connect request is too large.', doc: 'the HTTP `?connect` body exceeds `maxConnectBodyBytes`' },
  GUAC_RECORDING_UNAVAILABLE: { status: 'SERVER_ERROR', message: 'This session must be recorded and the gateway records no sessions.', doc: 'a target asks for a `required` recording and the tunnel has no `recorder`' },
  GUAC_RECORDING_DISK_FULL: { status: 'SERVER_ERROR', message: 'The session recording could not be written: the disk is full.', doc: 'the recordings folder\'s file system is full (ENOSPC, EDQUOT, EFBIG); `required` ends the session, `best-effort` marks the recording incomplete' },
  GUAC_RECORDING_FOLDER_MISSING: { status: 'SERVER_ERROR', message: 'The session recording could not be written: the recordings folder is missing.', doc: 'the recordings folder does not exist (ENOENT)' },
  GUAC_RECORDING_DENIED: { status: 'SERVER_ERROR', message: 'The session recording could not be written: the recordings folder may not be written.', doc: 'the recordings folder cannot be written (EACCES, EPERM, EROFS, ENOTDIR)' },
  GUAC_RECORDING_OVERRUN: { status: 'SERVER_ERROR', message: 'The session recording could not keep up: the disk was too slow.', doc: 'the disk did not drain the recording\'s queue within `maxStallMs` (2 s) while the session waited for it, or more than `maxBufferBytes` waited: the recording stops rather than hold up the relay longer' },
  GUAC_RECORDING_IO: { status: 'SERVER_ERROR', message: 'The session recording could not be written.', doc: 'any other write error of the recording file' },
  GUAC_TUNNEL_BAD_BODY: { status: 'CLIENT_BAD_REQUEST', message: 'The connect request could not be read.', doc: 'the HTTP `?connect` body could not be read' },
  GUAC_STREAM_NOT_FOUND: { status: 'RESOURCE_NOT_FOUND', message: 'No such stream.', doc: 'a stream route names no live session, the wrong stream secret, or a stream index the session has not opened (all answered alike)' },
  GUAC_STREAM_BUSY: { status: 'RESOURCE_CONFLICT', message: 'The stream is already being transferred.', doc: 'a second HTTP request for a stream another request already carries' },
  GUAC_STREAM_BAD_REQUEST: { status: 'CLIENT_BAD_REQUEST', doc: 'a stream route request with a wrong method, a malformed path, or a missing `Content-Length` where a maximum upload size applies' },
  GUAC_STREAM_FORBIDDEN_ORIGIN: { status: 'CLIENT_FORBIDDEN', message: 'Uploads are accepted only from the gateway\'s own pages.', doc: 'an upload whose `Origin` is neither the gateway\'s own nor an allowed origin' },
  GUAC_STREAM_UPLOAD_DENIED: { status: 'CLIENT_FORBIDDEN', message: 'Uploading files is not allowed on this connection.', doc: 'the connection or token forbids uploads (`--no-upload`), or the session is read-only' },
  GUAC_STREAM_DOWNLOAD_DENIED: { status: 'CLIENT_FORBIDDEN', message: 'Downloading files is not allowed on this connection.', doc: 'the connection or token forbids downloads (`--no-download`), or the session is read-only' },
  GUAC_STREAM_TOO_LARGE: { status: 'CLIENT_OVERRUN', doc: 'an upload is larger than the maximum upload size (`--max-upload-size`)' },
  GUAC_STREAM_HTTP_ONLY: { status: 'CLIENT_BAD_REQUEST', message: 'With a maximum upload size, files must be uploaded over the gateway\'s HTTP stream route.', doc: 'the browser sent file data over the tunnel for a stream that must go over the HTTP route (a maximum upload size applies)' },
  GUAC_STREAM_REFUSED: { status: 'UPSTREAM_ERROR', doc: 'guacd refused the stream or a block of it (its `ack` carried an error; the status is guacd\'s)' },
  GUAC_STREAM_ABORTED: { status: 'RESOURCE_CLOSED', message: 'The transfer was cancelled.', doc: 'the browser ended the HTTP request or response of a transfer before it finished; the stream is ended toward guacd' },
  GUAC_STREAM_SESSION_ENDED: { status: 'SESSION_CLOSED', message: 'The session ended during the transfer.', doc: 'the session (and guacd\'s connection) ended while a transfer was running' },
  GUAC_STREAM_TOO_MANY: { status: 'CLIENT_TOO_MANY', message: 'Too many file transfers are open in this session.', doc: 'the browser opened more than 64 upload streams at once (guacd\'s own limit per user)' },
  GUAC_STREAM_TIMEOUT: { status: 'UPSTREAM_TIMEOUT', message: 'The remote desktop server stopped answering the transfer.', doc: 'guacd did not acknowledge a block of an upload within the stream timeout' },
});

/** Code → [status, meaning] (the catalogue as a table). */
export const TUNNEL_ERRORS = errorTable(TUNNEL);

/** One of {@link TUNNEL_ERRORS}. */
export type TunnelErrorCode = keyof typeof TUNNEL.entries;
