/**
 * Encryption at rest of secret connection parameters: AES-256-GCM with a key
 * derived from the gateway secret by HKDF-SHA256 (its own `info`, so the key
 * differs from the one sealing tokens). The connection id is the additional
 * authenticated data, so a blob copied onto another row does not open.
 * Stored form: `v1.<iv base64url>.<ciphertext+tag base64url>`.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { REGISTRY } from './errors.js';

const INFO_KEY = 'guacamole-gateway registry secrets v1';
const INFO_CHECK = 'guacamole-gateway registry key check v1';
const SALT = 'guacamole-gateway';

/** Seals and opens secret blobs with one derived key. */
export class SecretBox {
  private readonly key: Buffer;
  /** A fingerprint of the key, stored in the database to detect a changed gateway secret. */
  readonly fingerprint: string;

  /** @param secret the gateway secret (any length, at least 16 bytes) */
  constructor(secret: string | Uint8Array) {
    const ikm = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
    if (ikm.length < 16) throw REGISTRY.GUAC_SECRET_WEAK();
    this.key = Buffer.from(hkdfSync('sha256', ikm, SALT, INFO_KEY, 32));
    const check = Buffer.from(hkdfSync('sha256', ikm, SALT, INFO_CHECK, 32));
    this.fingerprint = createHash('sha256').update(check).digest('base64url');
  }

  /** Encrypts `plain` bound to `aad` (the connection id). */
  seal(plain: string, aad: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(aad, 'utf8'));
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final(), c.getAuthTag()]);
    return `v1.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  /**
   * Decrypts a blob made by {@link seal} with the same `aad`.
   * @throws GuacError `GUAC_REGISTRY_DECRYPT` when the blob is damaged or the key differs
   */
  open(blob: string, aad: string): string {
    const parts = blob.split('.');
    try {
      if (parts.length !== 3 || parts[0] !== 'v1') throw new Error('unknown secret format');
      const iv = Buffer.from(parts[1]!, 'base64url');
      const body = Buffer.from(parts[2]!, 'base64url');
      if (iv.length !== 12 || body.length < 16) throw new Error('truncated secret');
      const d = createDecipheriv('aes-256-gcm', this.key, iv);
      d.setAAD(Buffer.from(aad, 'utf8'));
      d.setAuthTag(body.subarray(body.length - 16));
      return Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString('utf8');
    } catch (err) {
      throw REGISTRY.GUAC_REGISTRY_DECRYPT({ cause: err });
    }
  }
}
