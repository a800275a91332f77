/**
 * The settings table is the one source of configuration: docs/configuration.md
 * is what scripts/config-doc.mjs writes from it, `serve --help` prints every
 * row, keys are never printed, and only src/server/settings.ts reads the
 * process environment.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { isGuacError } from '../../src/protocol/errors.js';
import { main } from '../../src/server/cli.js';
import { readSettings, SETTINGS, type SettingName } from '../../src/server/settings.js';
import { repoRoot } from '../helpers/env.js';

interface ConfigDoc {
  collect(): Promise<unknown>;
  render(tables: unknown): string;
}

const root = repoRoot();
// A computed specifier: the generator is plain JavaScript outside the TypeScript project.
const loadDoc = (): Promise<ConfigDoc> => import(join(root, 'scripts', 'config-doc.mjs')) as Promise<ConfigDoc>;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

test('docs/configuration.md is what scripts/config-doc.mjs writes from the tables (run it after changing a setting or command)', async () => {
  const doc = await loadDoc();
  assert.equal(readFileSync(join(root, 'docs/configuration.md'), 'utf8'), doc.render(await doc.collect()));
});

test('the table names each flag and variable once', () => {
  const flags = SETTINGS.flatMap((s) => (s.flag === undefined ? [] : [s.flag]));
  const envs = SETTINGS.map((s) => s.env);
  assert.equal(new Set(flags).size, flags.length);
  assert.equal(new Set(envs).size, envs.length);
  for (const s of SETTINGS) {
    assert.ok(s.doc.length > 10 && !s.doc.includes('\n'), `${s.name}: one line of doc`);
    // A key on the command line would show in `ps`.
    if (s.secret && s.name !== 'guacamoleLiteKey') assert.equal(s.flag, undefined, `${s.name} is a key: environment only`);
  }
});

test('serve --help prints every setting with its variable and default, and never a key\'s value', async () => {
  let out = '';
  const env = { GATEWAY_SECRET: 'secret-value-in-the-env-0123456789', GATEWAY_ADMIN_KEY: 'admin-key-value-in-the-env-012345' };
  const code = await main(['serve', '--help'], { out: (s) => void (out += s), err: (s) => void (out += s), env });
  assert.equal(code, 0);
  for (const s of SETTINGS) {
    assert.ok(out.includes(s.flag === undefined ? `${s.env}=` : `--${s.flag} ${s.arg}`), `${s.name} listed`);
    assert.ok(out.includes(s.env), `${s.env} listed`);
    assert.ok(out.includes(`default ${s.default}`), `${s.name}'s default listed`);
  }
  assert.ok(!out.includes(env.GATEWAY_SECRET) && !out.includes(env.GATEWAY_ADMIN_KEY));
});

test('a flag wins over its variable; an empty variable is unset; a bad value names its source', () => {
  const all = SETTINGS.map((s) => s.name) as SettingName[];
  const s = readSettings(all, { port: '9000' }, { GATEWAY_PORT: '9001', GATEWAY_HOST: '', GATEWAY_IDLE_TIMEOUT: '30', GATEWAY_LOG_LEVEL: 'warn' });
  assert.equal(s.port, 9000);
  assert.equal(s.host, '127.0.0.1');
  assert.equal(s.idleTimeoutMs, 30_000);
  assert.equal(s.logLevel, 'warn');
  assert.equal(s.secret, undefined);
  const cases: [Record<string, string>, NodeJS.ProcessEnv, RegExp][] = [
    [{}, { GATEWAY_PORT: 'eighty' }, /^--port \(GATEWAY_PORT\) must be a port number/],
    [{}, { GATEWAY_SECRET: 'short' }, /^GATEWAY_SECRET must be at least 16 bytes long\.$/],
    [{}, { GATEWAY_ADMIN_KEY: 'short' }, /^GATEWAY_ADMIN_KEY must be at least 16 bytes long\.$/],
    [{ 'log-level': 'loud' }, {}, /^--log-level must be one of debug, info, warn, error, silent, not "loud"\.$/],
    [{}, { GATEWAY_GUACD_LOG_LEVEL: 'verbose' }, /^--guacd-log-level \(GATEWAY_GUACD_LOG_LEVEL\) must be one of error, warning/],
    [{ guacd: 'nowhere' }, {}, /^--guacd must be HOST:PORT/],
  ];
  for (const [flags, env, message] of cases) {
    assert.throws(() => readSettings(all, flags, env), (e: unknown) => isGuacError(e, 'GUAC_CONFIG_INVALID') && message.test(e.message), message.source);
  }
  // A bad variable a command does not read does not stop it.
  assert.deepEqual(readSettings(['dataDir'], {}, { GATEWAY_PORT: 'eighty', GATEWAY_DATA_DIR: '/tmp/x' }), { dataDir: '/tmp/x' });
});

test('only src/server/settings.ts reads process.env', () => {
  const readers = tsFiles(join(root, 'src'))
    .filter((f) => /process\.env\b/.test(readFileSync(f, 'utf8').replace(/^\s*(\*|\/\/).*$/gm, '')))
    .map((f) => relative(root, f));
  assert.deepEqual(readers, ['src/server/settings.ts']);
});
