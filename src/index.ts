/**
 * guacamole-gateway: browsers running guacamole-common-js talk to this
 * gateway over WebSocket or HTTP; it does the guacd handshake and relays.
 *
 * The package root exports the everyday names; the layers have their own
 * entry points with the rest: `guacamole-gateway/tunnel`,
 * `guacamole-gateway/guacd`, `guacamole-gateway/protocol`.
 */
export {
  createTunnel, tokenResolver, sealToken, openToken,
  type Tunnel, type TunnelOptions, type Resolver, type Target, type TunnelRequest,
  type TokenPayload, type SessionInfo, type SessionRecord, type SessionHandle,
} from './tunnel/index.js';
export { GuacdClient, GuacdPool, normalizeParams, PROTOCOLS, type GuacdAddress, type Protocol } from './guacd/index.js';
export { STATUS, GuacError, isGuacError, type StatusInfo, type StatusName } from './protocol/index.js';
export { silentLogger, type Logger, type LogFn } from './logger.js';
export {
  CHANNELS,
  type SessionOpenMessage, type SessionCloseMessage, type HandshakeDoneMessage, type HandshakeFailedMessage, type GuacdRetryMessage, type GuacdHealthMessage,
} from './diagnostics.js';
