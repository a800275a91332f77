/**
 * Two gateways (two `serve` processes) sharing the test environment's
 * PostgreSQL and one recordings folder, as docs/recordings.md's fleet
 * section says to run them: a session recorded through gateway A is
 * listed, verified and played through B, a playback link made on A opens
 * on B, and a deletion on B is seen by A.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Registry } from '../../src/registry/types.js';
import { loadTestEnv, waitFor } from '../helpers/env.js';
import { postgresFixture, type RegistryFixture } from '../helpers/registry.js';
import { Cleanups, openSession, sshParams, typeText } from '../helpers/security.js';
import { startServe, type ServeRun } from '../helpers/serve.js';

const ADMIN_KEY = `admin-${randomBytes(16).toString('hex')}`;
const cleanups = new Cleanups();
afterEach(() => cleanups.run());

describe('recordings in a fleet: shared folder, shared PostgreSQL', { timeout: 180_000 }, () => {
  let fx: RegistryFixture;
  let reg: Registry;
  let folder: string;
  const gateways: ServeRun[] = [];

  before(async () => {
    fx = await postgresFixture();
    reg = await fx.open();
    folder = mkdtempSync(join(tmpdir(), 'gg-rec-fleet-'));
    const env = loadTestEnv();
    for (const name of ['a', 'b']) {
      const dataDir = mkdtempSync(join(tmpdir(), `gg-rec-fleet-${name}-`));
      gateways.push(await startServe({
        ...process.env, GATEWAY_SECRET: fx.secret, GATEWAY_ADMIN_KEY: ADMIN_KEY, GATEWAY_DATA_DIR: dataDir, DATABASE_URL: fx.url,
        GATEWAY_RECORDINGS_DIR: folder, GATEWAY_MAX_SESSIONS_PER_ADDRESS: '0', GATEWAY_HANDSHAKE_RATE: '0',
      }, ['--guacd', `${env.guacd.host}:${env.guacd.port}`]));
    }
  });
  after(async () => {
    await Promise.allSettled(gateways.map((g) => g.stop()));
    await reg?.close();
    await fx?.cleanup();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  const api = (g: ServeRun, method: string, path: string, body?: unknown) =>
    fetch(`http://127.0.0.1:${g.port}/api${path}`, {
      method, headers: { Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it('a recording made through A is verified and played through B; a link from A opens on B; B deletes it for both', async () => {
    const [a, b] = gateways as [ServeRun, ServeRun];
    await reg.createConnection({ name: 'fleet-ssh', protocol: 'ssh', params: sshParams(), record: { keys: true } });
    await reg.grant('fleet-ssh', 'carol');
    const minted = await reg.mintToken({ connection: 'fleet-ssh', user: 'carol' });
    const c = await openSession(cleanups, { wsUrl: `ws://127.0.0.1:${a.port}/tunnel` }, `token=${encodeURIComponent(minted.token)}&width=800&height=600`);
    typeText(c, 'echo fleet\n');
    const session = await waitFor(async () => (await reg.listSessions({ active: true })).find((s) => s.tokenId === minted.jti), { what: 'the session row' });
    c.ws.close();
    const rec = await waitFor(async () => {
      const r = await reg.recordings.get(session.id);
      return r.endedAt !== null ? r : undefined;
    }, { what: 'the recording to be finished', timeoutMs: 20_000 });
    assert.equal(rec.gateway !== null && rec.complete, true);
    assert.ok(existsSync(join(folder, `${rec.id}.guac`)), 'in the shared folder');

    const listed = (await (await api(b, 'GET', '/recordings')).json()) as { recordings: { id: string }[] };
    assert.deepEqual(listed.recordings.map((r) => r.id), [rec.id], 'B lists what A recorded');
    const verified = (await (await api(b, 'GET', `/recordings/${rec.id}/verify`)).json()) as { state: string };
    assert.equal(verified.state, 'intact');

    const made = await api(a, 'POST', `/recordings/${rec.id}/link`, { ttl: 60 });
    assert.equal(made.status, 201);
    const token = ((await made.json()) as { token: string }).token;
    const info = await fetch(`http://127.0.0.1:${b.port}/recording/info?token=${encodeURIComponent(token)}`);
    assert.equal(info.status, 200);
    const facts = (await info.json()) as { id: string; integrity: string; user: string };
    assert.deepEqual([facts.id, facts.integrity, facts.user], [rec.id, 'intact', 'carol']);
    const file = await fetch(`http://127.0.0.1:${b.port}/recording/file?token=${encodeURIComponent(token)}`);
    assert.equal(file.status, 200);
    assert.equal(Buffer.from(await file.arrayBuffer()).length, rec.size);

    assert.equal((await api(b, 'DELETE', `/recordings/${rec.id}`)).status, 204);
    assert.equal(existsSync(join(folder, `${rec.id}.guac`)), false);
    const gone = await api(a, 'GET', `/recordings/${rec.id}`);
    assert.equal(gone.status, 404);
    assert.equal(((await gone.json()) as { error: { code: string } }).error.code, 'GUAC_RECORDING_NOT_FOUND');
  });
});
