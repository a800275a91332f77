/**
 * From a resolved target and the browser's connect data to the guacd
 * handshake. The connect data (WebSocket query string or HTTP `?connect`
 * body) may carry what the Java webapp's `GUAC_*` fields do, under the names
 * our page sends: `width`, `height`, `dpi`, `timezone`, and optionally
 * `audio`, `video`, `image` (repeated or comma-separated mimetypes).
 */
import { GuacError } from '../protocol/errors.js';
import { TUNNEL } from './errors.js';
import { HANDSHAKE_DEFAULTS, normalizeParams, type HandshakeOptions } from '../guacd/index.js';
import type { Target } from './resolver.js';
import { CONNECT_DATA } from '../protocol/constants.js';

// What the browser leaves out takes guacd's layer's defaults (HANDSHAKE_DEFAULTS): one source for both.

const badData = (message: string): GuacError => TUNNEL.GUAC_TUNNEL_BAD_CONNECT_DATA({ message: message });

/**
 * Builds the handshake for a target.
 * @returns the handshake options and whether the session is read-only (the
 *   target's `readOnly`, or a `read-only`/`readOnly` parameter set to true)
 * @throws GuacError `GUAC_PARAM_*` for parameters guacd's catalogue refuses,
 *   `GUAC_TUNNEL_NO_TARGET` when the target names nothing to open,
 *   `GUAC_TUNNEL_BAD_CONNECT_DATA` for a malformed size or mimetype; all
 *   CLIENT_BAD_REQUEST, before guacd is contacted
 */
export function handshakeFor(target: Target, query: URLSearchParams): { handshake: HandshakeOptions; readOnly: boolean } {
  const params: Record<string, string | number | boolean> = {};
  let readOnly = target.readOnly === true;
  for (const [name, value] of Object.entries(target.params ?? {})) {
    if (name === 'read-only' || name === 'readOnly') {
      if (value === true || value === 'true') readOnly = true;
      continue;
    }
    params[name] = value;
  }
  if (target.join === undefined) {
    if (target.protocol === undefined) throw TUNNEL.GUAC_TUNNEL_NO_TARGET();
    normalizeParams(target.protocol, params);
  }

  const handshake: HandshakeOptions = {
    params,
    readOnly,
    width: dimension(query.get(CONNECT_DATA.width), HANDSHAKE_DEFAULTS.width, 16, 16384, 'width'),
    height: dimension(query.get(CONNECT_DATA.height), HANDSHAKE_DEFAULTS.height, 16, 16384, 'height'),
    dpi: dimension(query.get(CONNECT_DATA.dpi), HANDSHAKE_DEFAULTS.dpi, 1, 2400, 'dpi'),
    audio: mimetypes(query.getAll(CONNECT_DATA.audio), HANDSHAKE_DEFAULTS.audio),
    video: mimetypes(query.getAll(CONNECT_DATA.video), HANDSHAKE_DEFAULTS.video),
    image: mimetypes(query.getAll(CONNECT_DATA.image), HANDSHAKE_DEFAULTS.image),
  };
  const zone = query.get(CONNECT_DATA.timezone);
  if (zone && /^[A-Za-z0-9_+\-/]{1,64}$/.test(zone)) handshake.timezone = zone;
  if (target.join !== undefined) handshake.join = target.join;
  else handshake.protocol = target.protocol;
  if (target.user !== undefined) handshake.name = target.user;
  return { handshake, readOnly };
}

function dimension(value: string | null, fallback: number, min: number, max: number, what: string): number {
  if (value === null || value === '') return fallback;
  const n = /^\d{1,6}$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw badData(`The display ${what} must be an integer from ${min} to ${max}.`);
  return n;
}

function mimetypes(values: string[], fallback: readonly string[]): readonly string[] {
  const list = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  if (list.length === 0) return fallback;
  for (const v of list) {
    if (v.length > 100 || !/^[a-z]+\/[a-zA-Z0-9.+-]+(;[a-zA-Z0-9=.+-]+)*$/.test(v)) throw badData('A mimetype in the connect data is malformed.');
  }
  return list.slice(0, 16);
}
