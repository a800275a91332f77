/**
 * The admin HTTP API on a real server (port 0) over a SQLite registry:
 * authentication, the endpoints, and refusals that change nothing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { STATUS, type StatusInfo } from '../../src/protocol/status.js';
import { registryResolver } from '../../src/registry/resolver.js';
import type { Registry } from '../../src/registry/types.js';
import { createAdminApi } from '../../src/server/admin-api.js';
import { rejectsWith, sqliteFixture, tokenRequest, type RegistryFixture } from '../helpers/registry.js';

const KEY = 'test-admin-key-0123456789abcdef';
const PASSWORD = 'Pässwörd-✓-s3cret';
let fx: RegistryFixture;
let reg: Registry;
let server: Server;
let base: string;
const closed: [string, number][] = [];
const live = new Set<string>();
const bodies: string[] = [];

before(async () => {
  fx = await sqliteFixture();
  reg = await fx.open();
  const api = createAdminApi({
    registry: reg,
    adminKey: KEY,
    sessions: { close: (id: string, st: StatusInfo) => (live.has(id) ? (closed.push([id, st.guac]), true) : false) },
  });
  server = createServer((req, res) => {
    void api(req, res).then((handled) => {
      if (!handled) {
        res.statusCode = 418;
        res.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise((r) => server.close(r));
  await reg.close();
  await fx.cleanup();
  for (const b of bodies) assert.ok(!b.includes(PASSWORD), 'no answer ever shows a secret');
});

interface Answer {
  status: number;
  headers: Headers;
  json: any;
}

async function call(method: string, path: string, body?: unknown, opts: { key?: string | null; type?: string; raw?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (opts.key !== null) headers.authorization = `Bearer ${opts.key ?? KEY}`;
  let payload: string | undefined;
  if (opts.raw !== undefined || body !== undefined) {
    payload = opts.raw ?? JSON.stringify(body);
    headers['content-type'] = opts.type ?? 'application/json';
  }
  const res = await fetch(base + path, { method, headers, body: payload ?? null });
  const text = await res.text();
  bodies.push(text);
  return { status: res.status, headers: res.headers, json: text === '' ? undefined : JSON.parse(text) };
}

function assertError(a: Answer, status: number, code: string, message?: RegExp): void {
  assert.equal(a.status, status, JSON.stringify(a.json));
  assert.equal(a.json.error.code, code);
  assert.equal(a.json.error.status, status);
  assert.equal(typeof a.json.error.message, 'string');
  if (message) assert.match(a.json.error.message, message);
}

/** Sends a body with http.request (fetch cannot show a server answering before the upload ends). */
function bigPost(path: string, size: number, chunked: boolean, method = 'POST'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
    if (!chunked) headers['content-length'] = size;
    const req = request(base + path, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => undefined); // the server may close while we still write: expected
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
    setTimeout(() => reject(new Error('no answer to a big body')), 10_000).unref();
  });
}

test('paths outside /api are not handled; a missing or wrong key is 401', async () => {
  assert.equal((await fetch(base + '/other')).status, 418);
  assert.equal((await fetch(base + '/apix')).status, 418);
  for (const key of [null, 'wrong-key-0123456789abcdef-xx', '', KEY + 'x', KEY.slice(0, -1)]) {
    const a = await call('GET', '/api/connections', undefined, { key });
    assertError(a, 401, 'GUAC_ADMIN_UNAUTHORIZED');
    assert.match(a.headers.get('www-authenticate') ?? '', /^Bearer/);
  }
  assert.equal((await call('GET', '/api/connections')).status, 200);
  assert.throws(() => createAdminApi({ registry: reg, adminKey: 'short' }), { code: 'GUAC_CONFIG_INVALID' });
});

test('create, list, show, update, remove', async () => {
  const created = await call('POST', '/api/connections', { name: 'web1', protocol: 'ssh', params: { hostname: 'h', port: 22, password: PASSWORD } });
  assert.equal(created.status, 201);
  assert.equal(created.json.params.password, '[set]');
  assert.equal(created.json.params.port, '22');
  assert.equal(created.headers.get('cache-control'), 'no-store');
  const id: string = created.json.id;
  assert.deepEqual((await call('GET', '/api/connections')).json.connections.find((c: { id: string }) => c.id === id), created.json);
  assert.deepEqual((await call('GET', `/api/connections/${id}`)).json, created.json);
  assert.deepEqual((await call('GET', '/api/connections/web1')).json, created.json);
  const patched = await call('PATCH', '/api/connections/web1', { params: { port: 2222, password: '[set]' } });
  assert.equal(patched.status, 200);
  assert.equal(patched.json.params.port, '2222');
  assert.equal((await reg.resolveParams(id)).params.password, PASSWORD);
  assert.equal((await call('DELETE', '/api/connections/web1')).status, 204);
  assertError(await call('GET', '/api/connections/web1'), 404, 'GUAC_CONNECTION_NOT_FOUND');
  assertError(await call('DELETE', '/api/connections/web1'), 404, 'GUAC_CONNECTION_NOT_FOUND');
});

test('bad input is a 4xx naming the problem, and changes nothing', async () => {
  await call('POST', '/api/connections', { name: 'keep', protocol: 'vnc', params: { hostname: 'v', port: 5900 } });
  const before = (await call('GET', '/api/connections')).json;
  assertError(await call('POST', '/api/connections', { name: 5, protocol: 'ssh', params: {} }), 400, 'GUAC_CONNECTION_NAME_INVALID', /string/);
  assertError(await call('POST', '/api/connections', { name: 'n', protocol: 7, params: {} }), 400, 'GUAC_PROTOCOL_UNKNOWN');
  assertError(await call('POST', '/api/connections', { name: 'n', protocol: 'ftp', params: {} }), 400, 'GUAC_PROTOCOL_UNKNOWN', /"ftp"/);
  assertError(await call('POST', '/api/connections', { name: 'n', protocol: 'ssh', params: { hostnme: 'x' } }), 400, 'GUAC_PARAM_UNKNOWN', /"hostnme"/);
  assertError(await call('POST', '/api/connections', { name: 'n', protocol: 'ssh', params: { port: 'abc' } }), 400, 'GUAC_PARAM_INVALID', /"port"/);
  assertError(await call('POST', '/api/connections', { name: 'n', protocol: 'ssh', params: { port: [22] } }), 400, 'GUAC_PARAM_INVALID');
  assertError(await call('POST', '/api/connections', { name: 'n', protocol: 'ssh', params: 'hostname=h' }), 400, 'GUAC_PARAM_INVALID');
  assertError(await call('POST', '/api/connections', { name: 'n', protocol: 'ssh', extra: 1 }), 400, 'GUAC_REQUEST_INVALID', /"extra"/);
  assertError(await call('POST', '/api/connections', undefined, { raw: '{"name": "n",' }), 400, 'GUAC_JSON_INVALID');
  assertError(await call('POST', '/api/connections', undefined, { raw: '[1,2]' }), 400, 'GUAC_JSON_INVALID');
  assertError(await call('POST', '/api/connections', undefined, { raw: 'name=n', type: 'application/x-www-form-urlencoded' }), 415, 'GUAC_CONTENT_TYPE');
  assertError(await call('POST', '/api/connections', { name: 'keep', protocol: 'vnc', params: {} }), 409, 'GUAC_CONNECTION_EXISTS');
  assertError(await call('PATCH', '/api/connections/keep', { params: { port: -1 } }), 400, 'GUAC_PARAM_INVALID');
  assertError(await call('PATCH', '/api/connections/keep', { replaceParams: 'yes' }), 400, 'GUAC_REQUEST_INVALID');
  assertError(await call('PUT', '/api/connections'), 405, 'GUAC_METHOD_NOT_ALLOWED');
  assertError(await call('GET', '/api/nothing'), 404, 'GUAC_API_NOT_FOUND');
  assertError(await call('GET', '/api/connections/%E0%A4%A'), 400, 'GUAC_REQUEST_INVALID');
  for (const chunked of [false, true]) {
    const big = await bigPost('/api/connections', 1024 * 1024, chunked);
    assert.equal(big.status, 413);
    assert.equal(JSON.parse(big.body).error.code, 'GUAC_BODY_TOO_LARGE');
  }
  assert.deepEqual((await call('GET', '/api/connections')).json, before, 'nothing changed');
});

test('wrong types, SQL metacharacters and oversize input on every endpoint: a 4xx with a message, nothing changed', async () => {
  await call('POST', '/api/connections', { name: 'guarded', protocol: 'ssh', params: { hostname: 'g', password: PASSWORD } });
  assert.equal((await call('PUT', '/api/connections/guarded/grants/gus', {})).status, 200);
  await reg.sessionEnded({ id: randomUUID(), user: 'gus', status: 0 });
  const snapshot = async () => ({
    connections: (await call('GET', '/api/connections')).json,
    grants: (await call('GET', '/api/connections/guarded/grants')).json,
    sessions: (await call('GET', '/api/sessions')).json,
    password: (await reg.resolveParams('guarded')).params.password,
  });
  const before = await snapshot();
  const sqlish = `x' OR '1'='1'; DROP TABLE connections; --`;
  const enc = encodeURIComponent;
  const cases: [method: string, path: string, body: unknown, status: number, code: string, message?: RegExp][] = [
    // Wrong types.
    ['POST', '/api/connections', { name: ['a'], protocol: 'ssh', params: {} }, 400, 'GUAC_CONNECTION_NAME_INVALID', /string/],
    ['POST', '/api/connections', { name: 'n', protocol: 'ssh', params: { hostname: { x: 1 } } }, 400, 'GUAC_PARAM_INVALID', /"hostname"/],
    ['POST', '/api/connections', { name: 'n', protocol: 'ssh', params: { port: true } }, 400, 'GUAC_PARAM_INVALID', /"port"/],
    ['POST', '/api/connections', { name: 'n', protocol: 'ssh', params: null }, 400, 'GUAC_PARAM_INVALID'],
    ['PATCH', '/api/connections/guarded', { name: 42 }, 400, 'GUAC_CONNECTION_NAME_INVALID'],
    ['PATCH', '/api/connections/guarded', { params: [] }, 400, 'GUAC_PARAM_INVALID'],
    ['PUT', '/api/connections/guarded/grants/gus', { readOnly: 'yes' }, 400, 'GUAC_REQUEST_INVALID', /readOnly/],
    ['PUT', '/api/connections/guarded/grants/gus', { admin: true }, 400, 'GUAC_REQUEST_INVALID', /"admin"/],
    ['POST', '/api/tokens', { connection: 'guarded', user: 7 }, 400, 'GUAC_USER_INVALID'],
    ['POST', '/api/tokens', { connection: 'guarded', user: 'gus', once: 'true' }, 400, 'GUAC_REQUEST_INVALID', /once/],
    ['POST', '/api/tokens', { connection: 'guarded', user: 'gus', readOnly: 1 }, 400, 'GUAC_REQUEST_INVALID', /readOnly/],
    ['POST', '/api/tokens/revoke', { user: 5 }, 400, 'GUAC_REQUEST_INVALID', /"user"/],
    ['GET', '/api/sessions?limit=-1', undefined, 400, 'GUAC_REQUEST_INVALID', /"limit"/],
    // Unknown protocol and parameter on update too.
    ['PATCH', '/api/connections/guarded', { protocol: 'ftp' }, 400, 'GUAC_PROTOCOL_UNKNOWN', /"ftp"/],
    ['PATCH', '/api/connections/guarded', { params: { hostnme: 'x' } }, 400, 'GUAC_PARAM_UNKNOWN', /"hostnme"/],
    // SQL metacharacters where no name is expected, or naming nothing.
    ['POST', '/api/connections', { name: 'n', protocol: "ssh' OR '1'='1", params: {} }, 400, 'GUAC_PROTOCOL_UNKNOWN'],
    ['POST', '/api/connections', { name: 'n', protocol: 'ssh', params: { [sqlish]: 'x' } }, 400, 'GUAC_PARAM_UNKNOWN'],
    ['POST', '/api/connections', { name: 'n', protocol: 'ssh', params: { port: '22; DROP TABLE connections' } }, 400, 'GUAC_PARAM_INVALID', /"port"/],
    ['PATCH', `/api/connections/${enc(sqlish)}`, { name: 'z' }, 404, 'GUAC_CONNECTION_NOT_FOUND'],
    ['DELETE', `/api/connections/${enc("guarded' OR '1'='1")}`, undefined, 404, 'GUAC_CONNECTION_NOT_FOUND'],
    ['DELETE', `/api/connections/guarded/grants/${enc("gus' OR '1'='1")}`, undefined, 404, 'GUAC_GRANT_NOT_FOUND'],
    ['POST', '/api/tokens', { connection: sqlish, user: 'gus' }, 404, 'GUAC_CONNECTION_NOT_FOUND'],
    ['POST', '/api/tokens/revoke', { connection: sqlish }, 404, 'GUAC_CONNECTION_NOT_FOUND'],
    ['GET', `/api/sessions?limit=${enc('1; DROP TABLE sessions')}`, undefined, 400, 'GUAC_REQUEST_INVALID'],
    ['POST', `/api/sessions/${enc("' OR 1=1 --")}/end`, undefined, 404, 'GUAC_SESSION_NOT_FOUND'],
    // Oversize values inside an acceptable body.
    ['POST', '/api/connections', { name: 'n'.repeat(201), protocol: 'ssh', params: {} }, 400, 'GUAC_CONNECTION_NAME_INVALID', /200/],
    ['POST', '/api/connections', { name: 'n', protocol: 'ssh', params: { hostname: 'h'.repeat(9000) } }, 400, 'GUAC_PARAM_INVALID', /longer than guacd accepts/],
    ['PUT', `/api/connections/guarded/grants/${'u'.repeat(300)}`, {}, 400, 'GUAC_USER_INVALID'],
  ];
  for (const [method, path, body, status, code, message] of cases) {
    const a = await call(method, path, body);
    assert.equal(a.status, status, `${method} ${path} ${JSON.stringify(body)?.slice(0, 80)}: ${JSON.stringify(a.json)}`);
    assertError(a, status, code, message);
    assert.ok(a.json.error.message.length > 10, 'the message says something');
  }
  // A filter value is data, never SQL: it matches nobody.
  const q = await call('GET', `/api/sessions?user=${enc("' OR 1=1 --")}`);
  assert.deepEqual([q.status, q.json.sessions], [200, []]);
  // Oversize bodies on every endpoint that reads one.
  for (const [method, path] of [['PATCH', '/api/connections/guarded'], ['PUT', '/api/connections/guarded/grants/gus'], ['POST', '/api/tokens'], ['POST', '/api/tokens/revoke']]) {
    const big = await bigPost(path!, 256 * 1024, false, method);
    assert.equal(big.status, 413, `${method} ${path}`);
    assert.match(JSON.parse(big.body).error.message, /exceeds/);
  }
  assert.deepEqual(await snapshot(), before, 'nothing changed');
});

test('names with SQL metacharacters round-trip through URLs verbatim', async () => {
  const name = `a'; DROP TABLE connections; -- "/?#%`;
  const c = await call('POST', '/api/connections', { name, protocol: 'telnet', params: { hostname: 't' } });
  assert.equal(c.status, 201);
  assert.equal(c.json.name, name);
  const got = await call('GET', `/api/connections/${encodeURIComponent(name)}`);
  assert.equal(got.json.id, c.json.id);
  assert.ok((await call('GET', '/api/connections')).json.connections.length >= 2);
});

test('grants, tokens and revocation', async () => {
  const c = await call('POST', '/api/connections', { name: 'tok', protocol: 'ssh', params: { hostname: 'h', password: PASSWORD } });
  assertError(await call('POST', '/api/tokens', { connection: 'tok', user: 'amy' }), 403, 'GUAC_GRANT_MISSING');
  assertError(await call('POST', '/api/tokens', { connection: 'tok', user: 'amy', ttlSeconds: '60' }), 400, 'GUAC_TTL_INVALID');
  assertError(await call('POST', '/api/tokens', { connection: 'nope', user: 'amy' }), 404, 'GUAC_CONNECTION_NOT_FOUND');
  const g = await call('PUT', '/api/connections/tok/grants/amy', { readOnly: true });
  assert.equal(g.status, 200);
  assert.deepEqual([g.json.user, g.json.readOnly], ['amy', true]);
  assert.deepEqual((await call('GET', '/api/connections/tok/grants')).json.grants.map((x: { user: string }) => x.user), ['amy']);
  const t = await call('POST', '/api/tokens', { connection: 'tok', user: 'amy', ttlSeconds: 60, once: true });
  assert.equal(t.status, 201);
  assert.equal(t.json.connectionId, c.json.id);
  const target = await registryResolver(reg, fx.secret)(tokenRequest(t.json.token));
  assert.equal(target.readOnly, true);
  assert.equal(target.params.password, PASSWORD);
  const t2 = await call('POST', '/api/tokens', { connection: 'tok', user: 'amy' });
  assert.equal((await call('POST', '/api/tokens/revoke', { jti: t2.json.jti })).status, 200);
  await rejectsWith(registryResolver(reg, fx.secret)(tokenRequest(t2.json.token)), 'GUAC_TOKEN_REVOKED', 0x0303);
  assertError(await call('POST', '/api/tokens/revoke', { jti: 'a', user: 'b' }), 400, 'GUAC_REQUEST_INVALID');
  assert.equal((await call('DELETE', '/api/connections/tok/grants/amy')).status, 204);
  assertError(await call('DELETE', '/api/connections/tok/grants/amy'), 404, 'GUAC_GRANT_NOT_FOUND');
});

test('sessions: list, show, end here or ask the others', async () => {
  const here = randomUUID();
  const elsewhere = randomUUID();
  const done = randomUUID();
  live.add(here);
  await reg.sessionStarted({ id: here, user: 'amy' });
  await reg.sessionStarted({ id: elsewhere, user: 'bob' });
  await reg.sessionEnded({ id: done, user: 'cid', status: 0 });
  const active = await call('GET', '/api/sessions?active=true');
  assert.deepEqual(new Set(active.json.sessions.map((s: { id: string }) => s.id)), new Set([here, elsewhere]));
  assert.equal((await call('GET', '/api/sessions?user=cid')).json.sessions[0].id, done);
  assert.equal((await call('GET', `/api/sessions/${here}`)).json.user, 'amy');
  assertError(await call('GET', '/api/sessions?active=maybe'), 400, 'GUAC_REQUEST_INVALID');
  assertError(await call('GET', '/api/sessions?sort=x'), 400, 'GUAC_REQUEST_INVALID', /"sort"/);
  const ended = await call('POST', `/api/sessions/${here}/end`);
  assert.deepEqual([ended.status, ended.json.ended], [200, true]);
  assert.deepEqual(closed, [[here, STATUS.SESSION_CLOSED.guac]]);
  const asked: string[] = [];
  const off = await reg.onSessionEndRequest((id) => asked.push(id));
  const requested = await call('POST', `/api/sessions/${elsewhere}/end`);
  assert.deepEqual([requested.status, requested.json.requested], [202, true]);
  assert.deepEqual(asked, [elsewhere]);
  off();
  assertError(await call('POST', `/api/sessions/${done}/end`), 409, 'GUAC_SESSION_ENDED');
  assertError(await call('POST', `/api/sessions/${randomUUID()}/end`), 404, 'GUAC_SESSION_NOT_FOUND');
  assertError(await call('GET', `/api/sessions/${here}/end`), 405, 'GUAC_METHOD_NOT_ALLOWED');
});

test('file rules on connections and tokens, and the transfer history', async () => {
  const c = await call('POST', '/api/connections', { name: 'files-api', protocol: 'ssh', params: { hostname: 'h' }, files: { noDownload: true, maxUploadBytes: 4096 } });
  assert.equal(c.status, 201, JSON.stringify(c.json));
  assert.deepEqual(c.json.files, { noUpload: false, noDownload: true, maxUploadBytes: 4096 });
  const p = await call('PATCH', '/api/connections/files-api', { files: { noDownload: false } });
  assert.deepEqual(p.json.files, { noUpload: false, noDownload: false, maxUploadBytes: 4096 });
  assertError(await call('PATCH', '/api/connections/files-api', { files: { maxUploadBytes: 'big' } }), 400, 'GUAC_REQUEST_INVALID', /maxUploadBytes/);
  assertError(await call('PATCH', '/api/connections/files-api', { files: [] }), 400, 'GUAC_REQUEST_INVALID', /"files" must be an object/);
  await call('PUT', '/api/connections/files-api/grants/dora', {});
  const t = await call('POST', '/api/tokens', { connection: 'files-api', user: 'dora', noUpload: true });
  assert.equal(t.status, 201, JSON.stringify(t.json));
  assertError(await call('POST', '/api/tokens', { connection: 'files-api', user: 'dora', noUpload: 'yes' }), 400, 'GUAC_REQUEST_INVALID', /noUpload/);
  const empty = await call('GET', '/api/transfers?limit=5');
  assert.equal(empty.status, 200);
  assert.ok(Array.isArray(empty.json.transfers));
  assertError(await call('GET', '/api/transfers?sesion=x'), 400, 'GUAC_REQUEST_INVALID', /"sesion"/);
});
