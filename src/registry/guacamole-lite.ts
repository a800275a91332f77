/**
 * Opt-in reader of guacamole-lite's tokens, for sites migrating from it.
 * The format (guacamole-lite `lib/Crypt.js`, README "Token Encryption"):
 * base64 of the JSON `{"iv": base64(16 bytes), "value": base64(AES-256-CBC
 * ciphertext)}`, the plaintext being UTF-8 JSON
 * `{"connection": {"type": "rdp", "settings": {...}}}` or
 * `{"connection": {"join": "$id", "settings": {...}}}`.
 *
 * guacamole-lite decodes the plaintext as `ascii`, which clears the high bit
 * of every byte and so mangles any non-ASCII password; we decode strict
 * UTF-8. Every failure, whatever its cause, is the same GUAC_TOKEN_INVALID
 * with the same message: CBC has no integrity check, and distinguishable
 * padding and parse errors would make a padding oracle. The format has no
 * expiry either; prefer the gateway's own tokens.
 */
import { createDecipheriv, createHash } from 'node:crypto';
import { GuacError } from '../protocol/errors.js';
import { GUACD } from '../guacd/errors.js';
import { REGISTRY } from './errors.js';
import { TUNNEL } from '../tunnel/errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Resolver, Target } from '../tunnel/resolver.js';
import { isKnownParam, isKnownProtocol, normalize } from './catalogue.js';
import type { ParamInput } from './types.js';
import { CONNECT_DATA } from '../protocol/constants.js';

/** Options of {@link guacamoleLiteResolver}. */
export interface GuacamoleLiteOptions {
  /** The `crypt.key` guacamole-lite was configured with: 32 bytes (a string is taken as UTF-8, as guacamole-lite does). */
  key: string | Uint8Array;
  /** Where refusals are reported (a pino logger fits). Default: nowhere. */
  logger?: Logger;
  /** Query parameter carrying the token (default `token`, as guacamole-lite). */
  param?: string;
  /** Validate settings against the parameter catalogue (default true); false passes unknown names through. */
  validate?: boolean;
}

/** The decrypted content of a guacamole-lite token. */
export interface GuacamoleLiteToken {
  connection: { type?: string; join?: string; settings?: Record<string, unknown> };
}

/** Settings guacamole-lite uses for the handshake, not guacd connection parameters. */
const HANDSHAKE_SETTINGS = new Set(['width', 'height', 'dpi', 'audio', 'video', 'image', 'timezone']);

const MAX_TOKEN_LENGTH = 64 * 1024;

function invalid(cause?: unknown): GuacError {
  return TUNNEL.GUAC_TOKEN_INVALID({ message: 'The connection token is not valid.', cause });
}

function keyBytes(key: string | Uint8Array): Buffer {
  const k = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
  if (k.length !== 32) throw REGISTRY.GUAC_CONFIG_INVALID();
  return k;
}

const STRICT_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function base64(s: unknown): Buffer {
  if (typeof s !== 'string' || s.length % 4 !== 0 || !STRICT_BASE64.test(s)) throw new Error('not base64');
  return Buffer.from(s, 'base64');
}

/**
 * Decrypts a guacamole-lite token.
 * @throws GuacError `GUAC_TOKEN_INVALID` (CLIENT_UNAUTHORIZED) for anything but a well-formed token made with `key`
 */
export function decryptGuacamoleLiteToken(token: string, key: string | Uint8Array): GuacamoleLiteToken {
  const k = keyBytes(key);
  try {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) throw new Error('bad length');
    const outer = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(base64(token))) as { iv?: unknown; value?: unknown };
    const iv = base64(outer.iv);
    const value = base64(outer.value);
    if (iv.length !== 16 || value.length === 0 || value.length % 16 !== 0) throw new Error('bad sizes');
    const d = createDecipheriv('aes-256-cbc', k, iv);
    const plain = Buffer.concat([d.update(value), d.final()]);
    const data = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain)) as unknown;
    const conn = (data as { connection?: unknown } | null)?.connection as GuacamoleLiteToken['connection'] | undefined;
    if (!conn || typeof conn !== 'object') throw new Error('no connection');
    const hasType = typeof conn.type === 'string' && conn.type !== '';
    const hasJoin = typeof conn.join === 'string' && conn.join !== '';
    if (hasType === hasJoin) throw new Error('need exactly one of type and join');
    if (conn.settings !== undefined && (conn.settings === null || typeof conn.settings !== 'object' || Array.isArray(conn.settings))) {
      throw new Error('bad settings');
    }
    return { connection: conn };
  } catch (err) {
    throw invalid(err);
  }
}

function truthy(v: unknown): boolean {
  return v === true || v === 'true' || v === 1 || v === '1';
}

/** Turns a decrypted token into a tunnel target. */
export function guacamoleLiteTarget(tok: GuacamoleLiteToken, validate = true): Target {
  const { type, join, settings = {} } = tok.connection;
  const params: Record<string, ParamInput> = {};
  for (const [k, v] of Object.entries(settings)) {
    if (k === 'read-only') continue;
    // Handshake settings, unless the protocol also takes them as parameters (RDP's width, height, dpi).
    if (HANDSHAKE_SETTINGS.has(k) && (join !== undefined || !isKnownParam(type!, k) || typeof v === 'object')) continue;
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) params[k] = v;
    else if (v !== null && v !== undefined) throw GUACD.GUAC_PARAM_INVALID({ message: `Token setting "${k}" must be a string, number or boolean.` });
  }
  const readOnly = truthy(settings['read-only']);
  if (join !== undefined) return { join, params, readOnly };
  if (validate && !isKnownProtocol(type!)) {
    throw GUACD.GUAC_PROTOCOL_UNKNOWN({ message: `The token names an unknown protocol ${JSON.stringify(type)}.` });
  }
  const out = validate ? Object.fromEntries(normalize(type!, params)) : params;
  return { protocol: type as Target['protocol'], params: out, readOnly };
}

/**
 * A tunnel {@link Resolver} accepting guacamole-lite tokens (`?token=…`).
 * @throws GuacError `GUAC_CONFIG_INVALID` at once when the key is not 32 bytes
 */
export function guacamoleLiteResolver(opts: GuacamoleLiteOptions): Resolver {
  keyBytes(opts.key);
  const param = opts.param ?? CONNECT_DATA.token;
  return async (req) => {
    const token = req.query.get(param);
    if (!token) throw TUNNEL.GUAC_TOKEN_MISSING({ message: `The "${param}" query parameter is missing.` });
    let target: Target;
    try {
      target = guacamoleLiteTarget(decryptGuacamoleLiteToken(token, opts.key), opts.validate ?? true);
    } catch (err) {
      (opts.logger ?? silentLogger).info({ error: err, remoteAddress: req.remoteAddress }, 'guacamole-lite token refused');
      throw err;
    }
    // The format has no id: the token itself is one (hashed, so the per-token count never holds it).
    target.tokenId = `lite:${createHash('sha256').update(token).digest('base64url')}`;
    return target;
  };
}
