/**
 * The `--record*` flags and the `recording` commands, run in process (main)
 * against SQLite in a temporary data folder: the flags reach the connection
 * and the sealed token; list, show, verify (intact exit 0, damaged exit 1),
 * link, delete; a hostile id is a bad request (exit 2) naming its code.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openRegistry } from '../../src/registry/open.js';
import { main } from '../../src/server/cli.js';
import { openToken } from '../../src/tunnel/token.js';
import { testLogger } from '../helpers/log.js';

const dir = mkdtempSync(join(tmpdir(), 'guacgw-rec-cli-'));
const dataDir = join(dir, 'data');
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => void (out += s), err: (s) => void (err += s), env: { GATEWAY_DATA_DIR: dataDir }, logger: testLogger, readStdin: async () => '' });
  return { code, out, err };
}

test('--record flags reach the connection and the self-contained token; contradictions are usage errors', async () => {
  const add = await run(['connection', 'add', '--name', 'rec', '--protocol', 'ssh', '--param', 'hostname=h', '--record-keys', '--record-policy', 'required']);
  assert.equal(add.code, 0, add.err);
  const shown = JSON.parse((await run(['connection', 'show', 'rec'])).out) as { record?: unknown };
  assert.deepEqual(shown.record, { keys: true, policy: 'required' });
  assert.equal((await run(['connection', 'update', 'rec', '--no-record'])).code, 0);
  assert.equal('record' in (JSON.parse((await run(['connection', 'show', 'rec'])).out) as object), false);
  const both = await run(['connection', 'update', 'rec', '--no-record', '--record']);
  assert.deepEqual([both.code, both.err.split('\n')[0]], [2, 'error: --no-record cannot be given with --record, --record-keys or --record-policy']);
  const badPolicy = await run(['connection', 'update', 'rec', '--record-policy', 'sometimes']);
  assert.deepEqual([badPolicy.code, badPolicy.err.split('\n')[0]], [2, 'error: --record-policy must be required or best-effort']);

  const t = await run(['token', '--protocol', 'ssh', '--param', 'hostname=h', '--record']);
  assert.equal(t.code, 0, t.err);
  const payload = openToken(t.out.trim(), readFileSync(join(dataDir, 'secret'), 'utf8').trim());
  assert.deepEqual(payload.target?.record, { keys: false, policy: 'best-effort' });
  const registryToken = await run(['token', '--connection', 'rec', '--user', 'u', '--record']);
  assert.equal(registryToken.code, 2, 'a registry connection records as the connection says');
});

test('recording list, show, verify, link, delete; a hostile id is a bad request', async () => {
  const secret = readFileSync(join(dataDir, 'secret'), 'utf8').trim();
  const reg = await openRegistry(undefined, { dataDir, secretKey: secret, logger: testLogger });
  const id = '11111111-2222-4333-8444-555555555555';
  const folder = join(dataDir, 'recordings');
  mkdirSync(folder, { recursive: true });
  const bytes = Buffer.from('4.size,1.0,3.800,3.600;4.sync,4.1000;4.sync,4.2500;');
  writeFileSync(join(folder, `${id}.guac`), bytes);
  try {
    await reg.recordings.started({ id, sessionId: id, user: 'ann', file: `${id}.guac`, keys: false, policy: 'best-effort', startedAt: Date.now() - 5000 });
    await reg.recordings.finished(id, { endedAt: Date.now(), durationMs: 1500, firstFrame: Date.now() - 4000, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), complete: true });
  } finally {
    await reg.close();
  }
  const list = await run(['recording', 'list']);
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, new RegExp(`^${id}  \\S+ +1\\.5s +${bytes.length}  complete    -     ann  -\\n$`));
  assert.equal((JSON.parse((await run(['recording', 'show', id])).out) as { size: number }).size, bytes.length);
  assert.deepEqual(await run(['recording', 'verify', id]), { code: 0, out: 'intact: The recording is intact.\n', err: '' });

  const link = await run(['recording', 'link', id, '--ttl', '60', '--url', 'https://gw.example/']);
  assert.equal(link.code, 0, link.err);
  const url = new URL(link.out.trim());
  assert.equal(url.origin + url.pathname, 'https://gw.example/recording.html');
  const p = openToken(decodeURIComponent(url.hash.slice('#token='.length)), secret);
  assert.deepEqual([p.aud, p.recording, p.exp - p.iat], ['recording', id, 60]);

  truncateSync(join(folder, `${id}.guac`), bytes.length - 3);
  const damaged = await run(['recording', 'verify', id]);
  assert.deepEqual([damaged.code, damaged.out], [1, 'damaged: The recording file is damaged: it is 3 bytes shorter than written (truncated).\n']);

  const hostile = await run(['recording', 'delete', '../../secret']);
  assert.deepEqual([hostile.code, hostile.err], [2, 'error: A recording id is a UUID. (GUAC_RECORDING_ID_INVALID)\n']);
  assert.ok(existsSync(join(dataDir, 'secret')));
  assert.deepEqual(await run(['recording', 'delete', id]), { code: 0, out: `deleted ${id}\n`, err: '' });
  assert.equal(existsSync(join(folder, `${id}.guac`)), false);
  const gone = await run(['recording', 'show', id]);
  assert.deepEqual([gone.code, gone.err], [1, 'error: No such recording. (GUAC_RECORDING_NOT_FOUND)\n']);
});
