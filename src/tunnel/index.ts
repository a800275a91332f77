/**
 * The browser side: WebSocket and HTTP tunnels compatible with
 * guacamole-common-js, sessions paired with guacd, read-only filtering, and
 * the access tokens of the built-in resolver. Imported as
 * `guacamole-gateway/tunnel`.
 */
export { createTunnel, type Tunnel } from './tunnel.js';
export { tokenResolver, type Resolver, type Target, type TunnelRequest, type TokenResolverOptions } from './resolver.js';
export { sealToken, openToken, type TokenPayload, type TokenInput, type TokenTarget } from './token.js';
export { TUNNEL_ERRORS, type TunnelErrorCode } from './errors.js';
export type {
  TunnelOptions, TunnelLimits, SessionInfo, SessionRecord, SessionHandle, SessionStats, SessionState,
} from './types.js';
export { viewerMaySend, isActivity } from './read-only.js';
export { SUBPROTOCOL, TUNNEL_TOKEN_HEADER } from './wire.js';
export {
  SessionRecorder, type RecordSpec, type RecordPolicy, type RecordingResult, type SessionRecorderOptions, type RecorderFactory,
} from './recording/index.js';
export type { TransferRecord, FilePolicy, FilePolicyInput } from './streams/index.js';
