/** The registry contract on SQLite (a temporary gateway.db), plus SQLite specifics. */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { STATUS } from '../../src/protocol/status.js';
import { openRegistry } from '../../src/registry/open.js';
import { registryContract, rejectsWith, sqliteFixture } from '../helpers/registry.js';
import { waitFor } from '../helpers/env.js';

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
    assert.deepEqual(db.prepare('SELECT version FROM schema_migrations').all(), [{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }, { version: 5 }, { version: 6 }, { version: 7 }, { version: 8 }, { version: 9 }, { version: 10 }]);
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

test('SQLite: a session end asked by another process (the CLI) reaches the gateway by its poll, once', async () => {
  const fx = await sqliteFixture();
  try {
    const gateway = await fx.open();
    const cli = await fx.open();
    const asked: [string, number][] = [];
    const messages = new Map<string, string | undefined>();
    const stop = await gateway.onSessionEndRequest((id, status, message) => {
      asked.push([id, status.guac]);
      messages.set(id, message);
    });
    await cli.requestSessionEnd('s-1', STATUS.SESSION_CLOSED);
    const file = new Database(join(fx.dataDir, 'gateway.db'), { readonly: true });
    assert.deepEqual(file.prepare('SELECT session_id, status FROM session_end_requests').all(), [{ session_id: 's-1', status: 0x020b }]);
    const t0 = Date.now();
    while (asked.length === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(asked, [['s-1', 0x020b]]);
    const pending = () => (file.prepare('SELECT COUNT(*) AS n FROM session_end_requests').get() as { n: number }).n;
    assert.equal(pending(), 0, 'the request was deleted once read');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(asked.length, 1, 'handed over once');
    // In the gateway's own process (its admin API) the request goes straight to its handlers, no row.
    await gateway.requestSessionEnd('s-2', STATUS.SESSION_CLOSED);
    assert.deepEqual(asked[1], ['s-2', 0x020b]);
    assert.equal(pending(), 0);
    // A revocation from the CLI carries its message through the row.
    await cli.requestSessionEnd('s-3', STATUS.CLIENT_FORBIDDEN, 'Access was revoked.');
    await waitFor(() => messages.get('s-3'), { what: 'the request with its message', timeoutMs: 5000 });
    assert.deepEqual(asked[2], ['s-3', 0x0303]);
    assert.equal(messages.get('s-3'), 'Access was revoked.');
    file.close();
    stop();
    await cli.close();
    await gateway.close();
  } finally {
    await fx.cleanup();
  }
});

test('SQLite: minting after a revocation written by a gateway whose clock runs an hour ahead is a clear error, not an hour\'s wait', async () => {
  const fx = await sqliteFixture();
  try {
    const reg = await fx.open();
    const c = await reg.createConnection({ name: 'ahead', protocol: 'ssh', params: { hostname: 'h' } });
    await reg.grant('ahead', 'ann');
    const file = new Database(join(fx.dataDir, 'gateway.db'));
    // What revoke({ user: 'ann' }) writes on a clock 3600 s ahead: its receipt time plus the 300 s skew.
    file.prepare("INSERT INTO revocations (kind, subject, before_ms) VALUES ('user', 'ann', ?)").run(Date.now() + 3_900_000);
    file.close();
    await rejectsWith(reg.mintToken({ connection: c.id, user: 'ann' }), 'GUAC_REVOCATION_AHEAD', 0x0200);
    await reg.grant('ahead', 'bob');
    assert.ok((await reg.mintToken({ connection: c.id, user: 'bob' })).token, 'other users are not affected');
    await reg.close();
  } finally {
    await fx.cleanup();
  }
});
