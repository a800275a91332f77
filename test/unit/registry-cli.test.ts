/** The registry CLI commands, run in process (main) against SQLite in a temporary data folder. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openRegistry } from '../../src/registry/open.js';
import { registryResolver } from '../../src/registry/resolver.js';
import { main, type CliContext } from '../../src/server/cli.js';
import { captureLogs, testLogger } from '../helpers/log.js';
import { rejectsWith, tokenRequest } from '../helpers/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'guacgw-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[], ctx: CliContext = {}) {
  let out = '';
  let err = '';
  const code = await main(argv, {
    out: (s) => void (out += s),
    err: (s) => void (err += s),
    env: { GATEWAY_DATA_DIR: join(dir, 'data') },
    logger: testLogger,
    ...ctx,
  });
  return { code, out, err };
}
const connection = (argv: string[], ctx?: CliContext) => run(['connection', ...argv], ctx);
const token = (argv: string[], ctx?: CliContext) => run(['token', ...argv], ctx);

test('connection add/list/show/remove and token, with the secret generated once', async () => {
  const { result: add, lines } = await captureLogs(() => connection(['add', '--name', 'box', '--protocol', 'ssh', '--param', 'hostname=h', '--param', 'port=22', '--param', 'username=u', '--param', 'password=p=w ü', '--grant', 'alice', '--grant', 'bob:ro']));
  assert.equal(add.code, 0, add.err);
  const id = add.out.trim();
  assert.match(id, /^[0-9a-f-]{36}$/);
  const secretFile = join(dir, 'data', 'secret');
  // The command reports through the CLI's logger: the new secret file, the connection (never its password).
  const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(logged.filter((l) => l.msg === 'generated a new key file').map((l) => l.path), [secretFile]);
  assert.deepEqual(logged.filter((l) => l.msg === 'registry: connection created').map((l) => [l.id, l.name]), [[id, 'box']]);
  assert.ok(!lines.some((l) => l.includes('p=w ü')), 'no password in the log');
  assert.equal(statSync(secretFile).mode & 0o777, 0o600);
  const secret = readFileSync(secretFile, 'utf8').trim();

  const list = await connection(['list']);
  assert.match(list.out, new RegExp(`^${id}\\s+ssh\\s+box$`, 'm'));
  const show = await connection(['show', 'box']);
  const shown = JSON.parse(show.out);
  assert.equal(shown.params.password, '[set]');
  assert.deepEqual(shown.grants.map((g: { user: string; readOnly: boolean }) => [g.user, g.readOnly]), [['alice', false], ['bob', true]]);
  assert.ok(!show.out.includes('p=w'));

  const tok = await token(['--connection', 'box', '--user', 'alice', '--ttl', '120', '--once']);
  assert.equal(tok.code, 0, tok.err);
  const reg = await openRegistry(undefined, { dataDir: join(dir, 'data'), secretKey: secret });
  try {
    const target = await registryResolver(reg, secret)(tokenRequest(tok.out.trim()));
    assert.deepEqual(target.params, { hostname: 'h', port: '22', username: 'u', password: 'p=w ü' });
    await rejectsWith(registryResolver(reg, secret)(tokenRequest(tok.out.trim())), 'GUAC_TOKEN_USED', 0x0205);
  } finally {
    await reg.close();
  }
  const bobs = await token(['--connection', 'box', '--user', 'bob']);
  assert.equal((await token(['revoke', '--user', 'bob'])).code, 0);
  const reg2 = await openRegistry(undefined, { dataDir: join(dir, 'data'), secretKey: secret });
  try {
    await rejectsWith(registryResolver(reg2, secret)(tokenRequest(bobs.out.trim())), 'GUAC_TOKEN_REVOKED', 0x0303);
  } finally {
    await reg2.close();
  }

  const upd = await connection(['update', 'box', '--unset', 'username', '--secret-stdin', 'password'], { readStdin: async () => 'from-stdin\n' });
  assert.equal(upd.code, 0, upd.err);
  const sessions = await connection(['sessions', '--active', '--limit', '5']);
  assert.deepEqual([sessions.code, sessions.out], [0, '']);
  assert.equal((await connection(['remove', 'box'])).code, 0);
  assert.equal((await connection(['list'])).out, '');
});

test('refusals: usage errors and bad input exit 2, failures exit 1, each with the code', async () => {
  const noSub = await connection([]);
  assert.equal(noSub.code, 2);
  assert.match(noSub.err, /usage:/);
  const badFlag = await connection(['add', '--nmae', 'x']);
  assert.equal(badFlag.code, 2);
  const badParam = await connection(['add', '--name', 'x', '--protocol', 'ssh', '--param', 'hostnam=h']);
  assert.equal(badParam.code, 2, 'a parameter the protocol does not have is bad input');
  assert.match(badParam.err, /Unknown parameter "hostnam".*GUAC_PARAM_UNKNOWN/);
  const proto = await connection(['add', '--name', 'x', '--protocol', 'ftp']);
  assert.match(proto.err, /GUAC_PROTOCOL_UNKNOWN/);
  assert.equal((await connection(['show', 'missing'])).code, 1);
  const noGrant = await connection(['add', '--name', 'ng', '--protocol', 'vnc', '--param', 'hostname=v']);
  assert.equal(noGrant.code, 0);
  const t = await token(['--connection', 'ng', '--user', 'zed']);
  assert.equal(t.code, 1);
  assert.match(t.err, /GUAC_GRANT_MISSING/);
  assert.equal((await token(['--connection', 'ng'])).code, 2);
  assert.equal((await token(['--connection', 'ng', '--user', 'zed', '--ttl', '1h'])).code, 2);
});

test('--db and DATABASE_URL choose the database; GATEWAY_SECRET the secret', async () => {
  const file = join(dir, 'elsewhere.db');
  const env = { GATEWAY_DATA_DIR: join(dir, 'data2'), GATEWAY_SECRET: 'an-explicit-secret-of-enough-length' };
  assert.equal((await connection(['add', '--db', `sqlite:${file}`, '--name', 'e', '--protocol', 'telnet', '--param', 'hostname=t'], { env })).code, 0);
  assert.match((await connection(['list'], { env: { ...env, DATABASE_URL: `sqlite:${file}` } })).out, /telnet\s+e$/m);
  assert.equal((await connection(['list'], { env })).out, '', 'the default file is another database');
  assert.ok(statSync(file).isFile());
});

test('session share, watch and shares, share revoke: links for a live session, refusals with their codes', async () => {
  assert.equal((await connection(['add', '--name', 'shared', '--protocol', 'ssh', '--param', 'hostname=h', '--grant', 'ann', '--grant', 'ro:ro'])).code, 0);
  const secret = readFileSync(join(dir, 'data', 'secret'), 'utf8').trim();
  const reg = await openRegistry(undefined, { dataDir: join(dir, 'data'), secretKey: secret });
  const conn = (await reg.getConnection('shared'))!.id;
  // Live sessions as the tunnel records them: one in control, one read-only, one ended.
  await reg.sessionStarted({ id: 'live-1', user: 'ann', connectionId: conn, guacdId: '$live-1', readOnly: false });
  await reg.sessionStarted({ id: 'ro-1', user: 'ro', connectionId: conn, guacdId: '$ro-1', readOnly: true });
  await reg.sessionEnded({ id: 'gone-1', user: 'ann', connectionId: conn, guacdId: '$gone-1', readOnly: false, startedAt: 1, endedAt: 2 });
  await reg.close();

  const made = await run(['session', 'share', 'live-1', '--ttl', '60', '--once']);
  assert.equal(made.code, 0, made.err);
  const [url, tok, id] = made.out.split('\n').map((l) => l.split(' ')[1]);
  assert.equal(url, `/?token=${encodeURIComponent(tok!)}`);
  assert.match(id!, /^[0-9a-f-]{36}$/);
  const watch = JSON.parse((await run(['session', 'watch', 'live-1', '--json'])).out) as { readOnly: boolean; sessionId: string };
  assert.deepEqual([watch.readOnly, watch.sessionId], [true, 'live-1']);
  const listed = await run(['session', 'shares', 'live-1']);
  assert.equal(listed.out.trim().split('\n').length, 2);
  assert.match(listed.out, new RegExp(`^${id}  control  once  expires \\S+  valid  -$`, 'm'));

  const ro = await run(['session', 'share', 'ro-1']);
  assert.deepEqual([ro.code, ro.err], [1, 'error: A read-only session can only be shared read-only. (GUAC_SHARE_FORBIDDEN)\n']);
  assert.equal((await run(['session', 'share', 'ro-1', '--read-only'])).code, 0);
  const gone = await run(['session', 'share', 'gone-1']);
  assert.deepEqual([gone.code, gone.err], [1, 'error: The session has already ended. (GUAC_SESSION_ENDED)\n']);
  const none = await run(['session', 'share', 'no-such-session']);
  assert.deepEqual([none.code, none.err], [1, 'error: No session has the id "no-such-session". (GUAC_SESSION_NOT_FOUND)\n']);
  assert.equal((await run(['session', 'share', 'live-1', '--ttl', '0'])).code, 2);

  assert.equal((await run(['share', 'revoke', id!])).code, 0);
  assert.match((await run(['session', 'shares', 'live-1'])).out, new RegExp(`^${id}  control  once  expires \\S+  revoked  -$`, 'm'));
  const unknown = await run(['share', 'revoke', 'no-such-share']);
  assert.deepEqual([unknown.code, unknown.err], [1, 'error: No share has the id "no-such-share". (GUAC_SHARE_NOT_FOUND)\n']);
});

test('file transfer flags: connection add/update set the rules, token adds to them; a bad size is a usage error', async () => {
  const add = await connection(['add', '--name', 'files-box', '--protocol', 'ssh', '--param', 'hostname=h', '--param', 'enable-sftp=true', '--no-upload', '--max-upload-size', '2M', '--grant', 'carol']);
  assert.equal(add.code, 0, add.err);
  assert.deepEqual(JSON.parse((await connection(['show', 'files-box'])).out).files, { noUpload: true, noDownload: false, maxUploadBytes: 2 * 2 ** 20 });
  const upd = await connection(['update', 'files-box', '--allow-upload', '--no-download', '--max-upload-size', '0']);
  assert.equal(upd.code, 0, upd.err);
  assert.deepEqual(JSON.parse((await connection(['show', 'files-box'])).out).files, { noUpload: false, noDownload: true, maxUploadBytes: 0 });
  const tok = await token(['--connection', 'files-box', '--user', 'carol', '--no-upload', '--max-upload-size', '1K']);
  assert.equal(tok.code, 0, tok.err);
  const secret = readFileSync(join(dir, 'data', 'secret'), 'utf8').trim();
  const reg = await openRegistry(undefined, { dataDir: join(dir, 'data'), secretKey: secret });
  try {
    const target = await registryResolver(reg, secret)(tokenRequest(tok.out.trim()));
    assert.deepEqual(target.files, { noUpload: true, noDownload: true, maxUploadBytes: 1024 });
  } finally {
    await reg.close();
  }
  const bad = await connection(['update', 'files-box', '--max-upload-size', 'lots']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--max-upload-size must be a size/);
});
