/**
 * The registry's one door to the guacd parameter catalogue
 * (`src/guacd/params.ts`): protocol names, name lookup, validation, the
 * secret flag.
 */
import { getParam, isProtocol, isSecretParam, normalizeParams, PROTOCOLS, type Protocol } from '../guacd/params.js';
import type { ParamInput } from './types.js';

/** Protocol names the catalogue knows. */
export function protocolNames(): readonly string[] {
  return PROTOCOLS;
}

/** True for a protocol of the catalogue. */
export function isKnownProtocol(protocol: string): protocol is Protocol {
  return isProtocol(protocol);
}

/** True when the guacd parameter holds a secret (password, private key, passphrase). */
export function isSecret(protocol: string, guacdName: string): boolean {
  return isSecretParam(protocol as Protocol, guacdName);
}

/**
 * The guacd name for a camelCase or guacd name, without validating a value
 * (for `null` removals and placeholders in a patch). Unknown names come back
 * unchanged; {@link normalize} refuses them afterwards.
 */
export function canonicalParamName(protocol: string, name: string): string {
  return isProtocol(protocol) ? (getParam(protocol, name)?.name ?? name) : name;
}

/** True when `protocol` has a parameter of that name (camelCase or guacd). */
export function isKnownParam(protocol: string, name: string): boolean {
  return isProtocol(protocol) && getParam(protocol, name) !== undefined;
}

/**
 * Validates parameters for `protocol`; guacd names out, unset values left out.
 * @throws GuacError `GUAC_PARAM_UNKNOWN` / `GUAC_PARAM_INVALID` / `GUAC_PARAM_DUPLICATE` / `GUAC_PROTOCOL_UNKNOWN`
 *   (CLIENT_BAD_REQUEST), messages naming the parameter, never its value
 */
export function normalize(protocol: string, input: Record<string, ParamInput>): Map<string, string> {
  return normalizeParams(protocol as Protocol, input);
}
