/**
 * Gateway access tokens: a JSON payload sealed with AES-256-GCM.
 *
 * Tokens can carry connection passwords inline (`target.params`), so they are
 * encrypted, not merely signed; GCM's tag authenticates them as well. Wire
 * form: `v1.` + base64url(nonce(12) ‖ ciphertext ‖ tag(16)). The key is
 * HKDF-SHA-256 of the secret with a fixed salt and a version label, so one
 * secret can later serve other purposes (another label) without key reuse,
 * and the version prefix is authenticated as associated data.
 *
 * Errors never include the token, the payload or the secret.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import { GuacError } from '../protocol/errors.js';
import { TUNNEL } from './errors.js';
import { RECORD_POLICIES, type RecordSpec } from './recording/recorder.js';

/** The inline connection a token may carry. */
export interface TokenTarget {
  /** guacd protocol: `ssh`, `vnc`, `rdp`, `telnet`, `kubernetes`. */
  protocol: string;
  /** Connection parameters, camelCase or guacd names. */
  params: Record<string, string | number | boolean>;
  readOnly?: boolean;
  /** Record the session (`token --record`); see src/tunnel/recording/. */
  record?: RecordSpec;
}

/** What a token says. Times are unix seconds. */
export interface TokenPayload {
  /** Format version, always 1. */
  v: 1;
  /** Issued at. */
  iat: number;
  /** Expires at. */
  exp: number;
  /** Random id (single use, revocation). */
  jti: string;
  /** Intended audience; the tunnel accepts tokens without one or with `tunnel`. */
  aud?: string;
  /** Inline connection (self-contained tokens, e.g. from `guacamole-gateway token`). */
  target?: TokenTarget;
  /** Registry connection id (registry tokens). */
  connection?: string;
  /** User the token was issued to (history, grants). */
  user?: string;
  /** Force read-only, whatever the target says. */
  readOnly?: boolean;
  /** Valid for one session only. */
  once?: boolean;
  /** No uploads in sessions it opens (added to the connection's own restrictions). */
  noUpload?: boolean;
  /** No downloads in sessions it opens. */
  noDownload?: boolean;
  /** Largest upload in bytes (the smaller of this and the connection's applies). */
  maxUploadBytes?: number;
  /** Its holder may hand out share links to the sessions it opens, from the page (`POST /share`). */
  share?: boolean;
  /** The live session a share link joins (audience `share`; see src/registry/shares.ts). */
  session?: string;
  /** The recording a playback link shows (audience `recording`; see src/server/recordings-page.ts). */
  recording?: string;
}

/** Input of {@link sealToken}: `v`, `iat` and `jti` are filled in when missing. */
export type TokenInput = Omit<TokenPayload, 'v' | 'iat' | 'jti'> & Partial<Pick<TokenPayload, 'v' | 'iat' | 'jti'>>;

const PREFIX = 'v1.';
const AAD = Buffer.from('guacamole-gateway token v1');
const SALT = Buffer.from('guacamole-gateway/token');
const INFO = Buffer.from('v1 aes-256-gcm');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Tokens travel in URLs; anything longer is not ours. */
const MAX_TOKEN_CHARS = 16_384;
/**
 * Clock skew tolerated on `iat`, in seconds: a token issued up to this far
 * ahead of the gateway's clock is accepted. Revocation (registry) covers
 * the same window, so a back end whose clock runs ahead cannot mint tokens
 * that outlive a revocation.
 */
export const TOKEN_SKEW_SECONDS = 300;
const MIN_SECRET_BYTES = 16;

const keys = new Map<string, Buffer>();

/** The last string secret and its key: a gateway opens every token with the same one. */
let lastKey: { secret: string; key: Buffer } | undefined;

function keyFor(secret: string | Uint8Array): Buffer {
  if (typeof secret === 'string' && lastKey?.secret === secret) return lastKey.key;
  const key = deriveKey(secret);
  if (typeof secret === 'string') lastKey = { secret, key };
  return key;
}

function deriveKey(secret: string | Uint8Array): Buffer {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  if (bytes.length < MIN_SECRET_BYTES) {
    throw TUNNEL.GUAC_TOKEN_CONFIG({ message: `The token secret must be at least ${MIN_SECRET_BYTES} bytes.` });
  }
  const id = bytes.toString('base64');
  let key = keys.get(id);
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', bytes, SALT, INFO, 32));
    if (keys.size >= 8) keys.clear();
    keys.set(id, key);
  }
  return key;
}

const invalid = (): GuacError => TUNNEL.GUAC_TOKEN_INVALID();

/**
 * Seals a payload into a token.
 * @param payload the claims; `exp` is required, `iat` defaults to now, `jti` to a random UUID
 * @param secret at least 16 bytes
 * @returns the token, URL-safe
 * @throws GuacError `GUAC_TOKEN_CONFIG` for a short secret or an invalid payload
 */
export function sealToken(payload: TokenInput, secret: string | Uint8Array): string {
  const full: TokenPayload = {
    ...payload,
    v: 1,
    iat: payload.iat ?? Math.floor(Date.now() / 1000),
    jti: payload.jti ?? randomUUID(),
  };
  const problem = checkPayload(full);
  if (problem) throw TUNNEL.GUAC_TOKEN_CONFIG({ message: `Cannot seal token: ${problem}.` });
  const key = keyFor(secret);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(AAD);
  const body = Buffer.concat([cipher.update(JSON.stringify(full), 'utf8'), cipher.final()]);
  return PREFIX + Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url');
}

/**
 * Opens and checks a token.
 * @param token the token as received
 * @param secret the secret it was sealed with
 * @param now current time in unix seconds (default the clock)
 * @returns the payload
 * @throws GuacError `GUAC_TOKEN_INVALID` (CLIENT_UNAUTHORIZED) when malformed
 *   (a base64url spelling other than the canonical one included), tampered with, sealed with another secret or issued in the future;
 *   `GUAC_TOKEN_EXPIRED` (CLIENT_TIMEOUT) once past `exp`
 */
export function openToken(token: string, secret: string | Uint8Array, now: number = Date.now() / 1000): TokenPayload {
  const key = keyFor(secret);
  if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS || !token.startsWith(PREFIX)) throw invalid();
  const b64 = token.slice(PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(b64)) throw invalid();
  const raw = Buffer.from(b64, 'base64url');
  // One token, one spelling: the decoder ignores the unused low bits of the last
  // character (and a dangling sixth bit group), so re-encoding must give back the input.
  if (raw.length < NONCE_BYTES + TAG_BYTES + 2 || raw.toString('base64url') !== b64) throw invalid();
  let text: string;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, NONCE_BYTES));
    decipher.setAAD(AAD);
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    text = Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw invalid();
  }
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    throw invalid();
  }
  if (checkPayload(payload)) throw invalid();
  const p = payload as TokenPayload;
  if (p.iat > now + TOKEN_SKEW_SECONDS) throw invalid();
  if (now >= p.exp) throw TUNNEL.GUAC_TOKEN_EXPIRED();
  return p;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optional = (v: unknown, type: 'string' | 'boolean'): boolean => v === undefined || typeof v === type;

/** Returns what is wrong with a payload (never a value), or undefined. */
function checkPayload(p: unknown): string | undefined {
  if (!isObject(p)) return 'not an object';
  if (p.v !== 1) return 'unknown version';
  if (!Number.isSafeInteger(p.iat) || (p.iat as number) < 0) return '"iat" is not a unix time';
  if (!Number.isSafeInteger(p.exp) || (p.exp as number) <= (p.iat as number)) return '"exp" is not a unix time after "iat"';
  if (typeof p.jti !== 'string' || p.jti === '' || p.jti.length > 128) return '"jti" is not a string';
  if (!optional(p.aud, 'string') || !optional(p.connection, 'string') || !optional(p.user, 'string') || !optional(p.session, 'string') || !optional(p.recording, 'string')) return 'a string claim has another type';
  if (!optional(p.readOnly, 'boolean') || !optional(p.once, 'boolean') || !optional(p.share, 'boolean')) return 'a boolean claim has another type';
  if (!optional(p.noUpload, 'boolean') || !optional(p.noDownload, 'boolean')) return 'a boolean claim has another type';
  if (p.maxUploadBytes !== undefined && (!Number.isSafeInteger(p.maxUploadBytes) || (p.maxUploadBytes as number) < 0)) return '"maxUploadBytes" is not a byte count';
  if (p.target !== undefined) {
    const t = p.target;
    if (!isObject(t) || typeof t.protocol !== 'string' || !isObject(t.params) || !optional(t.readOnly, 'boolean')) return '"target" is malformed';
    if (t.record !== undefined && !isRecordSpec(t.record)) return '"target.record" is malformed';
    for (const v of Object.values(t.params)) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return '"target.params" holds a non-scalar';
    }
  }
  return undefined;
}

/** `{ keys?: boolean, policy?: 'required' | 'best-effort' }` and nothing else. */
function isRecordSpec(r: unknown): boolean {
  if (!isObject(r) || !optional(r.keys, 'boolean')) return false;
  if (r.policy !== undefined && !(RECORD_POLICIES as readonly unknown[]).includes(r.policy)) return false;
  return Object.keys(r).every((k) => k === 'keys' || k === 'policy');
}
