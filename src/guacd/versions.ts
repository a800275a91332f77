/**
 * Guacamole protocol versions and what each one allows in the handshake.
 *
 * guacd 1.1.0 and later put their version first in `args`; the client answers
 * with the version it will speak as the first element of `connect`. guacd
 * only understands the strings of its own table (libguac `protocol.c`), so we
 * answer with the highest version both sides know, never with guacd's string
 * when it is newer than ours.
 *
 * Capabilities (libguac `user-handlers.c`, `client.c`, Java
 * `GuacamoleProtocolCapability`):
 * - 1.0.0: fixed handshake order `size`, `audio`, `video`, `image`, `connect`,
 *   and no version element in `connect`.
 * - 1.1.0: any order, `timezone` in the handshake, version in `args`/`connect`.
 * - 1.3.0: `required` / `argv` credential prompts (guacd only sends `required`
 *   to an owner that announced 1.3.0 or later).
 * - 1.5.0: `name` in the handshake (guacd 1.3.0 and 1.4.0 ignore it: their
 *   handshake map has no `name` handler), `msg`.
 */

/** A version string as it appears on the wire. */
export type ProtocolVersion = 'VERSION_1_0_0' | 'VERSION_1_1_0' | 'VERSION_1_3_0' | 'VERSION_1_5_0';

/** Every version this library speaks, oldest first. */
export const PROTOCOL_VERSIONS: readonly ProtocolVersion[] = Object.freeze([
  'VERSION_1_0_0',
  'VERSION_1_1_0',
  'VERSION_1_3_0',
  'VERSION_1_5_0',
] as const);

/** The newest version this library speaks. */
export const LATEST_VERSION: ProtocolVersion = 'VERSION_1_5_0';

/** The version assumed for a guacd that announces none (guacd 1.0.0). */
export const LEGACY_VERSION: ProtocolVersion = 'VERSION_1_0_0';

/** Handshake features and the version that introduced each. */
export const CAPABILITIES = Object.freeze({
  /** Handshake instructions in any order; version element in `args`/`connect`. */
  ARBITRARY_HANDSHAKE_ORDER: 'VERSION_1_1_0',
  /** `timezone` during the handshake. */
  TIMEZONE_HANDSHAKE: 'VERSION_1_1_0',
  /** `required` prompts answered with `argv` streams. */
  REQUIRED_ARGS: 'VERSION_1_3_0',
  /** `name` during the handshake. */
  NAME_HANDSHAKE: 'VERSION_1_5_0',
  /** `msg` notifications from guacd. */
  MSG_INSTRUCTION: 'VERSION_1_5_0',
} as const satisfies Record<string, ProtocolVersion>);

/** One of the {@link CAPABILITIES}. */
export type Capability = keyof typeof CAPABILITIES;

const VERSION_RE = /^VERSION_(\d{1,4})_(\d{1,4})_(\d{1,4})$/;

/**
 * Parses `VERSION_x_y_z` into numbers.
 * @param value a wire version string
 * @returns `[major, minor, patch]`, or `undefined` when `value` is not one
 */
export function parseVersion(value: string): [number, number, number] | undefined {
  const m = VERSION_RE.exec(value);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/**
 * Compares two wire version strings numerically (`VERSION_1_10_0` is newer
 * than `VERSION_1_9_0`).
 * @returns negative, zero or positive, as for `Array.prototype.sort`
 * @throws TypeError when either is not a version string
 */
export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  if (!pa || !pb) throw new TypeError(`not a protocol version: ${pa ? b : a}`);
  return pa[0] - pb[0] || pa[1] - pb[1] || pa[2] - pb[2];
}

/**
 * Chooses the version to answer guacd with: the highest version of ours that
 * is not newer than guacd's. A guacd newer than this library gets
 * {@link LATEST_VERSION}; one between two of ours (a hypothetical 1.2.0) gets
 * the lower.
 * @param offered the first element of guacd's `args`, e.g. `VERSION_1_3_0`
 * @returns the version to send, or `undefined` when `offered` is not a version
 *   string or is older than every version we know
 */
export function negotiateVersion(offered: string): ProtocolVersion | undefined {
  if (!parseVersion(offered)) return undefined;
  for (let i = PROTOCOL_VERSIONS.length - 1; i >= 0; i--) {
    if (compareVersions(PROTOCOL_VERSIONS[i], offered) <= 0) return PROTOCOL_VERSIONS[i];
  }
  return undefined;
}

/**
 * Whether a negotiated version has a capability.
 * @param version the negotiated version
 * @param capability the feature
 */
export function supports(version: ProtocolVersion, capability: Capability): boolean {
  return compareVersions(version, CAPABILITIES[capability]) >= 0;
}
