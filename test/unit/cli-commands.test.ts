/**
 * The CLI's command table, every row: a usage error exits 2 with the
 * command's usage, a failure exits 1 with the error's code, `--help` exits 0,
 * and the list and show commands print JSON that parses with `--json`.
 * In process, against SQLite in a temporary folder (no services).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openRegistry } from '../../src/registry/open.js';
import { COMMANDS, main, type CliContext } from '../../src/server/cli.js';
import { testLogger } from '../helpers/log.js';

const dir = mkdtempSync(join(tmpdir(), 'guacgw-cmds-'));
const SECRET = 'cli-commands-test-secret-0123456789';
const env = { GATEWAY_DATA_DIR: join(dir, 'data'), GATEWAY_SECRET: SECRET };
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[], extra: NodeJS.ProcessEnv = {}, ctx: CliContext = {}) {
  let out = '';
  let err = '';
  // testLogger: the commands' info lines (schema migrated, key file generated) stay off the report.
  const code = await main(argv, { out: (s) => void (out += s), err: (s) => void (err += s), env: { ...env, ...extra }, readStdin: async () => 'pw\n', logger: testLogger, ...ctx });
  return { code, out, err };
}

const REC_ID = '00000000-0000-4000-8000-000000000000';

/** A well-formed invocation of each command (its words first). */
const VALID: Record<string, string[]> = {
  serve: ['serve', '--port', '0', '--guacd', '127.0.0.1:4822'],
  token: ['token', '--protocol', 'ssh', '--param', 'hostname=h'],
  'token revoke': ['token', 'revoke', '--user', 'nobody'],
  'connection add': ['connection', 'add', '--name', 'c1', '--protocol', 'ssh', '--param', 'hostname=h', '--grant', 'ann'],
  'connection list': ['connection', 'list'],
  'connection show': ['connection', 'show', 'c1'],
  'connection update': ['connection', 'update', 'c1', '--param', 'port=2222'],
  'connection remove': ['connection', 'remove', 'c1'],
  'connection grant': ['connection', 'grant', 'c1', 'bob'],
  'connection ungrant': ['connection', 'ungrant', 'c1', 'bob'],
  'connection sessions': ['connection', 'sessions'],
  'session list': ['session', 'list'],
  'session end': ['session', 'end', 'some-id', '--wait', '0'],
  'session share': ['session', 'share', 'some-id', '--read-only', '--ttl', '60', '--once'],
  'session watch': ['session', 'watch', 'some-id'],
  'session shares': ['session', 'shares', 'some-id'],
  'share revoke': ['share', 'revoke', 'some-id'],
  'recording list': ['recording', 'list'],
  'recording show': ['recording', 'show', REC_ID],
  'recording verify': ['recording', 'verify', REC_ID],
  'recording delete': ['recording', 'delete', REC_ID],
  'recording link': ['recording', 'link', REC_ID, '--ttl', '60'],
  'recording retention': ['recording', 'retention'],
};

test('the test covers every command of the table', () => {
  assert.deepEqual(COMMANDS.map((c) => c.name).sort(), Object.keys(VALID).sort());
});

test('usage errors exit 2 with the command\'s usage line: unknown flag, extra argument, bad flag value', async () => {
  for (const c of COMMANDS) {
    const argv = VALID[c.name]!;
    const unknown = await run([...argv, '--no-such-flag']);
    assert.equal(unknown.code, 2, `${c.name}: ${unknown.err}`);
    assert.match(unknown.err, /^error: Unknown option '--no-such-flag'/, c.name);
    assert.ok(unknown.err.includes(`  ${c.name}`), `${c.name}: usage shown`);
    assert.equal(unknown.out, '');
    const extra = await run([...argv, 'surplus']);
    assert.equal(extra.code, 2, `${c.name}: ${extra.err}`);
    assert.match(extra.err, /^error: unexpected argument "surplus"/, c.name);
    const badSetting = await run([...argv, '--log-level', 'loud']);
    assert.equal(badSetting.code, 2, c.name);
    assert.match(badSetting.err, /^error: --log-level must be one of .* \(GUAC_CONFIG_INVALID\)$/m, c.name);
    const help = await run([...c.name.split(' '), '--help']);
    assert.equal(help.code, 0, c.name);
    assert.ok(help.out.startsWith(`usage: guacamole-gateway ${c.name}`), `${c.name}: ${help.out.slice(0, 80)}`);
    assert.match(help.out, /--log-level LEVEL/);
  }
  for (const c of COMMANDS.filter((x) => x.positionals !== undefined)) {
    const missing = await run(c.name.split(' '));
    assert.equal(missing.code, 2, c.name);
    assert.match(missing.err, new RegExp(`^error: ${c.name} expects `), c.name);
  }
  const unknown = await run(['frobnicate']);
  assert.deepEqual([unknown.code, unknown.err.split('\n')[0]], [2, 'error: unknown command "frobnicate"']);
  const sub = await run(['session', 'resume']);
  assert.deepEqual([sub.code, sub.err.split('\n')[0]], [2, 'error: unknown subcommand "session resume"']);
  assert.equal((await run(['connection', '--help'])).code, 0);
  assert.equal((await run([])).code, 2, 'no command is a usage error');
  assert.equal((await run(['--help'])).code, 0);
});

test('a failure exits 1 with the error code: the data folder cannot hold the secret', async () => {
  const file = join(dir, 'a-file');
  writeFileSync(file, 'x');
  for (const c of COMMANDS) {
    const r = await run(VALID[c.name]!, { GATEWAY_DATA_DIR: join(file, 'data'), GATEWAY_SECRET: '' });
    assert.equal(r.code, 1, `${c.name}: ${r.err}`);
    assert.match(r.err, /^error: Cannot read or create the key file .* \(GUAC_KEY_FILE\)\n$/, c.name);
    assert.equal(r.out, '', c.name);
  }
});

test('serve: a port already taken exits 1', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  try {
    const port = (taken.address() as { port: number }).port;
    const r = await run(['serve', '--port', String(port), '--guacd', '127.0.0.1:4822', '--data-dir', join(dir, 'serve')]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /^error: cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\)/);
  } finally {
    taken.close();
  }
});

test('list and show commands print JSON with --json; the others keep their output', async () => {
  const add = await run(VALID['connection add']!);
  assert.equal(add.code, 0, add.err);
  const id = add.out.trim();
  const list = await run(['connection', 'list', '--json']);
  assert.equal(list.code, 0, list.err);
  const conns = JSON.parse(list.out) as { id: string; name: string; protocol: string }[];
  assert.deepEqual(conns.map((c) => [c.id, c.name, c.protocol]), [[id, 'c1', 'ssh']]);
  const show = await run(['connection', 'show', 'c1', '--json']);
  const shown = JSON.parse(show.out) as { id: string; grants: { user: string }[] };
  assert.equal(shown.id, id);
  assert.deepEqual(shown.grants.map((g) => g.user), ['ann']);

  const reg = await openRegistry(undefined, { dataDir: env.GATEWAY_DATA_DIR, secretKey: SECRET });
  try {
    await reg.sessionStarted({ id: 'sess-1', user: 'ann', connectionId: id, protocol: 'ssh', startedAt: Date.now() });
  } finally {
    await reg.close();
  }
  for (const argv of [['session', 'list', '--json'], ['connection', 'sessions', '--json', '--active']]) {
    const r = await run(argv);
    assert.equal(r.code, 0, r.err);
    const sessions = JSON.parse(r.out) as { id: string; user: string; endedAt: null }[];
    assert.deepEqual(sessions.map((s) => [s.id, s.user, s.endedAt]), [['sess-1', 'ann', null]], argv.join(' '));
  }
  const text = await run(['session', 'list']);
  assert.match(text.out, /^sess-1 {2}\S+ {2}active {2}ann {2}c1 {2}in 0 out 0\n$/);
  assert.equal((await run(['connection', 'list'])).out, `${id}  ssh         c1\n`);
  // Not a list or show command: --json is an unknown flag there.
  assert.equal((await run(['connection', 'remove', 'c1', '--json'])).code, 2);
});

test('ungranting a grant that does not exist is a failure (1), and a registry token with self-contained flags a usage error (2)', async () => {
  assert.equal((await run(['connection', 'add', '--name', 'c2', '--protocol', 'vnc', '--param', 'hostname=v'])).code, 0);
  const ungrant = await run(['connection', 'ungrant', 'c2', 'zed']);
  assert.equal(ungrant.code, 1);
  assert.match(ungrant.err, /^error: User "zed" has no grant on "c2"\. \(GUAC_GRANT_NOT_FOUND\)\n$/);
  const mixed = await run(['token', '--connection', 'c2', '--user', 'zed', '--param', 'hostname=x']);
  assert.equal(mixed.code, 2);
  assert.match(mixed.err, /^error: --param is for self-contained tokens/);
  assert.equal((await run(['connection', 'grant', 'c2', 'zed'])).code, 0);
  const linked = await run(['token', '--connection', 'c2', '--user', 'zed', '--url', 'https://gw.example/']);
  assert.equal(linked.code, 0, linked.err);
  assert.match(linked.out, /^https:\/\/gw\.example\/\?token=v1\.\S+\n$/);
});
