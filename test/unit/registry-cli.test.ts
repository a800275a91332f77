/** The registry CLI commands, run in process against SQLite in a temporary data folder. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openRegistry } from '../../src/registry/open.js';
import { registryResolver } from '../../src/registry/resolver.js';
import { runConnectionCommand, runRegistryTokenCommand, type RegistryCliContext } from '../../src/server/registry-cli.js';
import { rejectsWith, tokenRequest } from '../helpers/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'guacgw-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(fn: typeof runConnectionCommand, argv: string[], ctx: Partial<RegistryCliContext> = {}) {
  let out = '';
  let err = '';
  const code = await fn(argv, {
    out: (s) => void (out += s),
    err: (s) => void (err += s),
    env: { GATEWAY_DATA_DIR: join(dir, 'data') },
    ...ctx,
  });
  return { code, out, err };
}

test('connection add/list/show/remove and token, with the secret generated once', async () => {
  const add = await run(runConnectionCommand, ['add', '--name', 'box', '--protocol', 'ssh', '--param', 'hostname=h', '--param', 'port=22', '--param', 'username=u', '--param', 'password=p=w ü', '--grant', 'alice', '--grant', 'bob:ro']);
  assert.equal(add.code, 0, add.err);
  const id = add.out.trim();
  assert.match(id, /^[0-9a-f-]{36}$/);
  const secretFile = join(dir, 'data', 'secret');
  assert.equal(statSync(secretFile).mode & 0o777, 0o600);
  const secret = readFileSync(secretFile, 'utf8').trim();

  const list = await run(runConnectionCommand, ['list']);
  assert.match(list.out, new RegExp(`^${id}\\s+ssh\\s+box$`, 'm'));
  const show = await run(runConnectionCommand, ['show', 'box']);
  const shown = JSON.parse(show.out);
  assert.equal(shown.params.password, '[set]');
  assert.deepEqual(shown.grants.map((g: { user: string; readOnly: boolean }) => [g.user, g.readOnly]), [['alice', false], ['bob', true]]);
  assert.ok(!show.out.includes('p=w'));

  const tok = await run(runRegistryTokenCommand, ['--connection', 'box', '--user', 'alice', '--ttl', '120', '--once']);
  assert.equal(tok.code, 0, tok.err);
  const reg = await openRegistry(undefined, { dataDir: join(dir, 'data'), secretKey: secret });
  try {
    const target = await registryResolver(reg, secret)(tokenRequest(tok.out.trim()));
    assert.deepEqual(target.params, { hostname: 'h', port: '22', username: 'u', password: 'p=w ü' });
    await rejectsWith(registryResolver(reg, secret)(tokenRequest(tok.out.trim())), 'GUAC_TOKEN_USED', 0x0205);
  } finally {
    await reg.close();
  }
  const bobs = await run(runRegistryTokenCommand, ['--connection', 'box', '--user', 'bob']);
  assert.equal((await run(runRegistryTokenCommand, ['revoke', '--user', 'bob'])).code, 0);
  const reg2 = await openRegistry(undefined, { dataDir: join(dir, 'data'), secretKey: secret });
  try {
    await rejectsWith(registryResolver(reg2, secret)(tokenRequest(bobs.out.trim())), 'GUAC_TOKEN_REVOKED', 0x0303);
  } finally {
    await reg2.close();
  }

  const upd = await run(runConnectionCommand, ['update', 'box', '--unset', 'username', '--secret-stdin', 'password'], { readStdin: async () => 'from-stdin\n' });
  assert.equal(upd.code, 0, upd.err);
  const sessions = await run(runConnectionCommand, ['sessions', '--active', '--limit', '5']);
  assert.deepEqual([sessions.code, sessions.out], [0, '']);
  assert.equal((await run(runConnectionCommand, ['remove', 'box'])).code, 0);
  assert.equal((await run(runConnectionCommand, ['list'])).out, '');
});

test('refusals: usage errors exit 2, registry errors exit 1 with the code', async () => {
  const noSub = await run(runConnectionCommand, []);
  assert.equal(noSub.code, 2);
  assert.match(noSub.err, /usage:/);
  const badFlag = await run(runConnectionCommand, ['add', '--nmae', 'x']);
  assert.equal(badFlag.code, 2);
  const badParam = await run(runConnectionCommand, ['add', '--name', 'x', '--protocol', 'ssh', '--param', 'hostnam=h']);
  assert.equal(badParam.code, 1);
  assert.match(badParam.err, /Unknown parameter "hostnam".*GUAC_PARAM_UNKNOWN/);
  const proto = await run(runConnectionCommand, ['add', '--name', 'x', '--protocol', 'ftp']);
  assert.match(proto.err, /GUAC_PROTOCOL_UNKNOWN/);
  assert.equal((await run(runConnectionCommand, ['show', 'missing'])).code, 1);
  const noGrant = await run(runConnectionCommand, ['add', '--name', 'ng', '--protocol', 'vnc', '--param', 'hostname=v']);
  assert.equal(noGrant.code, 0);
  const t = await run(runRegistryTokenCommand, ['--connection', 'ng', '--user', 'zed']);
  assert.equal(t.code, 1);
  assert.match(t.err, /GUAC_GRANT_MISSING/);
  assert.equal((await run(runRegistryTokenCommand, ['--connection', 'ng'])).code, 2);
  assert.equal((await run(runRegistryTokenCommand, ['--connection', 'ng', '--user', 'zed', '--ttl', '1h'])).code, 2);
});

test('--db and DATABASE_URL choose the database; GATEWAY_SECRET the secret', async () => {
  const file = join(dir, 'elsewhere.db');
  const env = { GATEWAY_DATA_DIR: join(dir, 'data2'), GATEWAY_SECRET: 'an-explicit-secret-of-enough-length' };
  assert.equal((await run(runConnectionCommand, ['add', '--db', `sqlite:${file}`, '--name', 'e', '--protocol', 'telnet', '--param', 'hostname=t'], { env })).code, 0);
  assert.match((await run(runConnectionCommand, ['list'], { env: { ...env, DATABASE_URL: `sqlite:${file}` } })).out, /telnet\s+e$/m);
  assert.equal((await run(runConnectionCommand, ['list'], { env })).out, '', 'the default file is another database');
  assert.ok(statSync(file).isFile());
});
