/**
 * Logging: the server's pino logger masks secrets and serializes errors
 * without their details; the tunnel logs each session through a child
 * carrying its id; the library's default logger writes nothing.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { GuacError } from '../../src/protocol/errors.js';
import { LazyChildLogger, silentLogger, type Logger } from '../../src/logger.js';
import { createServerLogger, parseLogLevel } from '../../src/server/logger.js';
import { setting } from '../../src/server/settings.js';
import { createTunnel } from '../../src/tunnel/tunnel.js';
import { listenOnLoopback } from '../helpers/env.js';
import { NO_CLIENT_LIMITS, TunnelClient } from '../helpers/ws-client.js';

function capturing(level: Parameters<typeof createServerLogger>[0] = 'debug') {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const logger = createServerLogger(level, { write: (s: string) => { raw.push(s); lines.push(JSON.parse(s) as Record<string, unknown>); } });
  return { logger, lines, raw };
}

test('the server logger masks secret-named fields at any of three levels, catalogue names included', () => {
  const { logger, lines, raw } = capturing();
  logger.info({
    password: 'p1', token: 't1', authorization: 'Bearer a1',
    params: { password: 'p2', 'private-key': 'k1', privateKey: 'k2', 'sftp-password': 'p3', hostname: 'h' },
    request: { headers: { cookie: 'c1', authorization: 'a2' } },
    user: 'alice',
  }, 'a line');
  assert.equal(raw.length, 1);
  for (const s of ['p1', 't1', 'a1', 'p2', 'k1', 'k2', 'p3', 'c1', 'a2']) assert.ok(!raw[0]!.includes(`"${s}`) && !raw[0]!.includes(` ${s}`), `${s} leaked: ${raw[0]}`);
  const line = lines[0]!;
  assert.equal(line.password, '[redacted]');
  assert.equal((line.params as Record<string, unknown>).hostname, 'h', 'other fields are kept');
  assert.equal((line.params as Record<string, unknown>)['sftp-password'], '[redacted]');
  assert.equal(((line.request as Record<string, unknown>).headers as Record<string, unknown>).cookie, '[redacted]');
  assert.equal(line.user, 'alice');
  assert.equal(line.msg, 'a line');
  assert.equal(line.level, 'info');
});

test('the server logger writes errors as type, code, status and message only', () => {
  const { logger, lines } = capturing();
  const cause = Object.assign(new Error('driver detail'), { query: 'SELECT secret' });
  logger.warn({ error: new GuacError('GUAC_TOKEN_EXPIRED', 'CLIENT_TIMEOUT', 'The access token has expired.', { cause }) }, 'refused');
  assert.deepEqual(lines[0]!.error, { type: 'GuacError', code: 'GUAC_TOKEN_EXPIRED', status: 0x0308, message: 'The access token has expired.' });
});

test('the server logger honours its level; GATEWAY_LOG_LEVEL values are checked', () => {
  const { logger, lines } = capturing('warn');
  logger.info({}, 'hidden');
  logger.debug({}, 'hidden');
  logger.warn({}, 'shown');
  assert.deepEqual(lines.map((l) => l.msg), ['shown']);
  assert.equal(parseLogLevel(undefined), 'info');
  assert.equal(parseLogLevel('silent'), 'silent');
  assert.equal(parseLogLevel(''), 'info');
  // The settings table's parser: the message names where the value came from, in the table's style.
  assert.throws(() => parseLogLevel('loud'), { name: 'GuacError', code: 'GUAC_CONFIG_INVALID', message: 'GATEWAY_LOG_LEVEL must be one of debug, info, warn, error, silent, not "loud".' });
  assert.throws(() => parseLogLevel('LOUD', '--log-level'), { code: 'GUAC_CONFIG_INVALID', message: '--log-level must be one of debug, info, warn, error, silent, not "LOUD".' });
  assert.equal(setting('logLevel').parse, parseLogLevel);
});

test('the library default writes nothing and its children are itself', () => {
  assert.equal(silentLogger.child({ session: 'x' }), silentLogger);
  assert.doesNotThrow(() => silentLogger.error({ error: new Error('x') }, 'nothing'));
});

test('each tunnel session logs through a child logger carrying its id', async () => {
  const { logger, lines } = capturing();
  const children: Record<string, unknown>[] = [];
  // The same pino logger, watched: the tunnel must ask it for one child per session.
  const watched: Logger = { ...logger, debug: logger.debug.bind(logger), info: logger.info.bind(logger), warn: logger.warn.bind(logger), error: logger.error.bind(logger),
    child: (bindings) => { children.push(bindings); return logger.child(bindings); } };
  let n = 0;
  const tunnel = createTunnel({
    guacd: { host: '127.0.0.1', port: 9 },
    logger: watched,
    limits: NO_CLIENT_LIMITS,
    resolve: () => { throw new GuacError('GUAC_TOKEN_INVALID', 'CLIENT_UNAUTHORIZED', `Refusal ${++n}.`); },
  });
  const server = http.createServer((req, res) => { if (!tunnel.handleHttp(req, res)) res.writeHead(404).end(); });
  server.on('upgrade', (req, socket, head) => tunnel.handleUpgrade(req, socket, head));
  const { port, close } = await listenOnLoopback(server, tunnel);
  try {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const c = await TunnelClient.connect(`ws://127.0.0.1:${port}/tunnel`);
      await c.waitClosed(5000);
      ids.push(c.uuid!);
    }
    assert.notEqual(ids[0], ids[1]);
    assert.deepEqual(children, ids.map((session) => ({ session })));
    const ends = lines.filter((l) => l.msg === 'tunnel: session ended with an error');
    assert.deepEqual(ends.map((l) => [l.session, l.code, l.message]), [
      [ids[0], 'GUAC_TOKEN_INVALID', 'Refusal 1.'],
      [ids[1], 'GUAC_TOKEN_INVALID', 'Refusal 2.'],
    ]);
  } finally {
    await close();
  }
});

test('a session\'s child logger is made at its first line at a level written, once, and carries the bindings', () => {
  const { logger, lines } = capturing('info');
  let made = 0;
  const counting: Logger = { ...logger, debug: logger.debug.bind(logger), info: logger.info.bind(logger), warn: logger.warn.bind(logger), error: logger.error.bind(logger),
    child: (b) => { made++; return logger.child(b); }, isLevelEnabled: (l: string) => logger.isLevelEnabled(l) } as Logger;
  const lazy = new LazyChildLogger(counting, { session: 's1' });
  lazy.debug({}, 'below the level');
  assert.equal(made, 0, 'no child for a line that is not written');
  assert.equal(lines.length, 0);
  lazy.info({ n: 1 }, 'first');
  lazy.warn({ n: 2 }, 'second');
  assert.equal(made, 1, 'one child, at the first written line');
  assert.deepEqual(lines.map((l) => [l.session, l.n, l.msg]), [['s1', 1, 'first'], ['s1', 2, 'second']]);
  // A logger that cannot say its level gets every line.
  const seen: string[] = [];
  const plain: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => ({ ...silentLogger, debug: (_f, m) => { seen.push(m); } }) };
  new LazyChildLogger(plain, {}).debug({}, 'kept');
  assert.deepEqual(seen, ['kept']);
});
