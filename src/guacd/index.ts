/**
 * The guacd layer: one connection to guacd (TCP, TLS or Unix socket), the
 * handshake, instructions both ways, and the catalogue of connection
 * parameters. Imported as `guacamole-gateway/guacd`.
 */
export { GuacdClient, type ClientOptions, type ClientState, type Detached } from './client.js';
export { HANDSHAKE_DEFAULTS, type HandshakeOptions, type HandshakeResult } from './handshake.js';
export type { Instruction } from './reader.js';
export { GUACD_DEFAULT_PORT, type GuacdAddress } from './socket.js';
export { GuacdPool, type GuacdPoolOptions, type PoolMemberOptions, type GuacdMemberStatus, type GuacdHealthChange } from './pool.js';
export { GUACD_ERRORS, errorFromInstruction, type GuacdErrorCode } from './errors.js';
export {
  PROTOCOL_VERSIONS, LATEST_VERSION, CAPABILITIES, negotiateVersion, compareVersions, supports,
  type ProtocolVersion, type Capability,
} from './versions.js';
export {
  PROTOCOLS, CATALOGUE, RDP_LAYOUTS, normalizeParams, isSecretParam, isProtocol, getParam, listParams, camelCase,
  type Protocol, type ParamDef, type ParamDescriptor, type ParamType, type GuacdRelease, type ParamInput,
  type ParamsFor, type ParamsOf, type SshParams, type VncParams, type RdpParams, type TelnetParams, type KubernetesParams,
} from './params.js';
