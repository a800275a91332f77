/** The registry contract on SQLite (a temporary gateway.db), plus SQLite specifics. */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { openRegistry } from '../../src/registry/open.js';
import { registryContract, rejectsWith, sqliteFixture } from '../helpers/registry.js';

registryContract('SQLite', sqliteFixture);

test('SQLite: WAL mode, private file, migrations recorded once', async () => {
  const fx = await sqliteFixture();
  try {
    const reg = await fx.open();
    await reg.close();
    await (await fx.open()).close();
    const file = join(fx.dataDir, 'gateway.db');
    assert.equal(statSync(file).mode & 0o077, 0, 'mode 0600');
    const db = new Database(file, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.deepEqual(db.prepare('SELECT version FROM schema_migrations').all(), [{ version: 1 }, { version: 2 }]);
    db.close();
  } finally {
    await fx.cleanup();
  }
});

test('SQLite: a database from a newer gateway is refused', async () => {
  const fx = await sqliteFixture();
  try {
    await (await fx.open()).close();
    const db = new Database(join(fx.dataDir, 'gateway.db'));
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, ?, 0)').run('future');
    db.close();
    await rejectsWith(fx.open(), 'GUAC_REGISTRY_TOO_NEW');
  } finally {
    await fx.cleanup();
  }
});

test('openRegistry: sqlite: URLs and unsupported schemes', async () => {
  const fx = await sqliteFixture();
  try {
    const reg = await openRegistry(`sqlite:${join(fx.dataDir, 'other.db')}`, { dataDir: '/nonexistent', secretKey: fx.secret });
    assert.equal(reg.kind, 'sqlite');
    await reg.close();
    assert.ok(statSync(join(fx.dataDir, 'other.db')).isFile());
    await rejectsWith(openRegistry('mysql://x/y', { dataDir: fx.dataDir, secretKey: fx.secret }), 'GUAC_REGISTRY_URL_INVALID');
    await rejectsWith(openRegistry(undefined, { dataDir: fx.dataDir, secretKey: 'short' }), 'GUAC_SECRET_WEAK');
  } finally {
    await fx.cleanup();
  }
});
