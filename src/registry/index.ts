/** The registry's public names: open a registry, resolve tokens through it, read guacamole-lite tokens. */
export type {
  Connection,
  ConnectionInput,
  ConnectionPatch,
  CreatedShare,
  Grant,
  MintedToken,
  MintOptions,
  ParamInput,
  Registry,
  ResolvedConnection,
  RevokeTarget,
  SessionControl,
  SessionEnd,
  SessionQuery,
  HistoryEntry,
  SessionStart,
  Share,
  ShareOptions,
} from './types.js';
export { SECRET_PLACEHOLDER } from './types.js';
export { openRegistry, SQLITE_FILE, type OpenRegistryOptions } from './open.js';
export { registryConnectionResolver, registryResolver, registrySessionHooks, sessionControl, type RegistryResolverOptions } from './resolver.js';
export { guacamoleLiteResolver, decryptGuacamoleLiteToken, type GuacamoleLiteOptions, type GuacamoleLiteToken } from './guacamole-lite.js';
export { loadAdminKey, loadGatewaySecret, loadOrCreateKeyFile } from './key-file.js';
export { DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS } from './validate.js';
export { REGISTRY_ERRORS } from './errors.js';
