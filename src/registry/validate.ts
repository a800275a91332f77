/**
 * Checks on names and numbers shared by the registry, the admin API and the
 * CLI, so every entry point refuses the same things with the same codes.
 */
import { REGISTRY } from './errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Longest connection or user name, in UTF-16 units. */
export const MAX_NAME_LENGTH = 200;
/** Default token lifetime in seconds. */
export const DEFAULT_TTL_SECONDS = 300;
/** Longest token lifetime in seconds (7 days). */
export const MAX_TTL_SECONDS = 7 * 24 * 3600;

/** True for a UUID in its usual text form. */
export function isUuid(s: string): boolean {
  return UUID.test(s);
}

function checkName(what: string, code: 'GUAC_CONNECTION_NAME_INVALID' | 'GUAC_USER_INVALID', value: unknown): string {
  if (typeof value !== 'string') throw REGISTRY[code]({ message: `The ${what} must be a string.` });
  if (value.length === 0 || value.length > MAX_NAME_LENGTH) {
    throw REGISTRY[code]({ message: `The ${what} must be 1 to ${MAX_NAME_LENGTH} characters long.` });
  }
  if (CONTROL.test(value)) throw REGISTRY[code]({ message: `The ${what} must not contain control characters.` });
  if (value.trim() !== value) throw REGISTRY[code]({ message: `The ${what} must not start or end with spaces.` });
  return value;
}

/**
 * A connection name: 1–200 characters, no control characters, no outer
 * spaces, not shaped like a UUID (ids and names share one lookup). Any other
 * character, quotes and semicolons included, is stored verbatim.
 * @throws GuacError `GUAC_CONNECTION_NAME_INVALID` (CLIENT_BAD_REQUEST)
 */
export function checkConnectionName(value: unknown): string {
  const name = checkName('connection name', 'GUAC_CONNECTION_NAME_INVALID', value);
  if (isUuid(name)) throw REGISTRY.GUAC_CONNECTION_NAME_INVALID();
  return name;
}

/**
 * A user name as carried by tokens and grants; `*` only where `wildcard` allows.
 * @throws GuacError `GUAC_USER_INVALID` (CLIENT_BAD_REQUEST)
 */
export function checkUserName(value: unknown, wildcard = false): string {
  const user = checkName('user name', 'GUAC_USER_INVALID', value);
  if (user === '*' && !wildcard) throw REGISTRY.GUAC_USER_INVALID();
  return user;
}

/**
 * A token lifetime in whole seconds, 1 to 7 days.
 * @throws GuacError `GUAC_TTL_INVALID` (CLIENT_BAD_REQUEST)
 */
export function checkTtl(value: unknown): number {
  if (value === undefined) return DEFAULT_TTL_SECONDS;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_TTL_SECONDS) {
    throw REGISTRY.GUAC_TTL_INVALID({ message: `The token lifetime must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}.` });
  }
  return value;
}

/**
 * An optional boolean.
 * @throws GuacError `GUAC_REQUEST_INVALID` (CLIENT_BAD_REQUEST)
 */
export function checkBool(what: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw REGISTRY.GUAC_REQUEST_INVALID({ message: `"${what}" must be true or false.` });
  return value;
}
