/** Encryption at rest and the data-folder key files. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadAdminKey, loadGatewaySecret, loadOrCreateKeyFile } from '../../src/registry/key-file.js';
import { SecretBox } from '../../src/registry/secret-box.js';

test('SecretBox: round trip, bound to its row, tamper-evident, key-specific', () => {
  const box = new SecretBox('a gateway secret of some length');
  const plain = JSON.stringify({ password: 'pässwörd 😀' });
  const blob = box.seal(plain, 'row-1');
  assert.match(blob, /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
  assert.notEqual(box.seal(plain, 'row-1'), blob, 'fresh IV each time');
  assert.equal(box.open(blob, 'row-1'), plain);
  assert.throws(() => box.open(blob, 'row-2'), { code: 'GUAC_REGISTRY_DECRYPT' });
  const last = blob.at(-2) === 'A' ? 'B' : 'A';
  assert.throws(() => box.open(blob.slice(0, -2) + last + blob.at(-1), 'row-1'), { code: 'GUAC_REGISTRY_DECRYPT' });
  assert.throws(() => box.open('v2.x.y', 'row-1'), { code: 'GUAC_REGISTRY_DECRYPT' });
  assert.throws(() => box.open('garbage', 'row-1'), { code: 'GUAC_REGISTRY_DECRYPT' });
  const other = new SecretBox('another gateway secret, as long');
  assert.throws(() => other.open(blob, 'row-1'), (e: Error) => /gateway secret differs/.test(e.message) && !e.message.includes('pässwörd'));
  assert.equal(new SecretBox('a gateway secret of some length').fingerprint, box.fingerprint);
  assert.notEqual(other.fingerprint, box.fingerprint);
  assert.throws(() => new SecretBox('short'), { code: 'GUAC_SECRET_WEAK' });
});

test('key files: created once with mode 0600, then read back; a given key wins', () => {
  const dir = mkdtempSync(join(tmpdir(), 'guacgw-keys-'));
  try {
    const a = loadOrCreateKeyFile(join(dir, 'sub', 'k'));
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(loadOrCreateKeyFile(join(dir, 'sub', 'k')), a);
    assert.equal(statSync(join(dir, 'sub', 'k')).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(dir, 'sub', 'k'), 'utf8'), a + '\n');
    assert.equal(loadAdminKey(dir, 'given-key'), 'given-key');
    const fileKey = loadAdminKey(dir);
    assert.equal(readFileSync(join(dir, 'admin-key'), 'utf8').trim(), fileKey);
    assert.equal(loadGatewaySecret(dir, 's'), 's');
    assert.notEqual(loadGatewaySecret(dir, ''), fileKey);
    // A folder that cannot exist: its parent is a file.
    assert.throws(() => loadOrCreateKeyFile(join(dir, 'admin-key', 'k')), { code: 'GUAC_KEY_FILE' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
