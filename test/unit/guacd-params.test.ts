import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuacError, STATUS } from '../../src/protocol/index.js';
import {
  CATALOGUE, GUACD_ERRORS, PROTOCOLS, camelCase, getParam, isSecretParam, listParams, normalizeParams,
  type SshParams, type RdpParams,
} from '../../src/guacd/index.js';

function rejects(fn: () => unknown, code: string, message: RegExp, secret?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof GuacError);
    assert.equal(err.code, code);
    assert.equal(err.status, STATUS.CLIENT_BAD_REQUEST);
    assert.match(err.message, message);
    if (secret !== undefined) assert.ok(!err.message.includes(secret), 'the message never echoes the value');
    return true;
  });
}

test('the catalogue covers the five protocols with guacd 1.5.x parameter counts', () => {
  assert.deepEqual([...PROTOCOLS], ['ssh', 'vnc', 'rdp', 'telnet', 'kubernetes']);
  // Counts of the GUAC_*_CLIENT_ARGS arrays of guacamole-server 1.5.5, #ifdef'd entries included.
  const counts = { ssh: 39, vnc: 44, rdp: 81, telnet: 31, kubernetes: 28 };
  // Parameters new in 1.6.0 come on top (only those the gateway uses are listed).
  const since16 = { ssh: 0, vnc: 1, rdp: 0, telnet: 0, kubernetes: 0 };
  for (const p of PROTOCOLS) {
    assert.equal(CATALOGUE[p].filter((d) => d.since !== '1.6.0').length, counts[p], p);
    assert.equal(CATALOGUE[p].length, counts[p] + since16[p], p);
    assert.equal(new Set(CATALOGUE[p].map((d) => d.name)).size, CATALOGUE[p].length, `${p} has no duplicate names`);
  }
});

test('parameters know the guacd release that introduced them', () => {
  assert.equal(getParam('ssh', 'private-key')?.since, '1.0.0');
  assert.equal(getParam('ssh', 'timezone')?.since, '1.1.0');
  assert.equal(getParam('ssh', 'disable-copy')?.since, '1.2.0');
  assert.equal(getParam('ssh', 'wol-udp-port')?.since, '1.4.0');
  assert.equal(getParam('rdp', 'normalize-clipboard')?.since, '1.4.0');
  assert.equal(getParam('kubernetes', 'hostname')?.since, '1.1.0', 'no kubernetes before 1.1.0');
  assert.equal(getParam('kubernetes', 'exec-command')?.since, '1.4.0');
  assert.equal(getParam('vnc', 'disable-display-resize')?.since, '1.6.0');
  assert.equal(getParam('ssh', 'enable-agent')?.build, 'ENABLE_SSH_AGENT');
  assert.equal(getParam('vnc', 'sftp-password')?.build, 'ENABLE_COMMON_SSH');
});

test('descriptors carry camelCase names, types, enums and secrecy', () => {
  const key = getParam('ssh', 'privateKey');
  assert.equal(key?.name, 'private-key');
  assert.equal(key?.key, 'privateKey');
  assert.equal(key?.secret, true);
  assert.equal(getParam('ssh', 'font-size')?.type, 'integer');
  assert.equal(getParam('ssh', 'read-only')?.type, 'boolean');
  assert.deepEqual(getParam('rdp', 'security')?.values, ['any', 'nla', 'nla-ext', 'tls', 'vmconnect', 'rdp']);
  assert.equal(camelCase('recording-exclude-output'), 'recordingExcludeOutput');
  for (const p of PROTOCOLS) {
    for (const d of listParams(p)) assert.equal(getParam(p, d.key), d, `${p} ${d.key}`);
  }
});

test('isSecretParam flags passwords, keys and passphrases only', () => {
  for (const name of ['password', 'private-key', 'privateKey', 'passphrase']) assert.equal(isSecretParam('ssh', name), true, name);
  for (const name of ['sftp-password', 'sftp-private-key', 'sftp-passphrase', 'gateway-password']) assert.equal(isSecretParam('rdp', name), true, name);
  assert.equal(isSecretParam('kubernetes', 'client-key'), true);
  for (const name of ['hostname', 'host-key', 'username', 'color-scheme', 'font-size']) assert.equal(isSecretParam('ssh', name), false, name);
  assert.equal(isSecretParam('ssh', 'some-token'), true, 'unknown names that look secret count as secret');
});

test('camelCase and guacd names are equivalent', () => {
  const camel = normalizeParams('ssh', { hostname: 'h', privateKey: 'KEY', colorScheme: 'gray-black', fontSize: 12 });
  const guacd = normalizeParams('ssh', { hostname: 'h', 'private-key': 'KEY', 'color-scheme': 'gray-black', 'font-size': '12' });
  assert.deepEqual(camel, guacd);
  assert.deepEqual([...camel], [['hostname', 'h'], ['private-key', 'KEY'], ['color-scheme', 'gray-black'], ['font-size', '12']]);
  // Both spellings at once: fine when they agree, refused when they differ.
  assert.equal(normalizeParams('ssh', { readOnly: true, 'read-only': 'true' }).get('read-only'), 'true');
  rejects(() => normalizeParams('ssh', { port: 22, Port: 1 } as never), 'GUAC_PARAM_UNKNOWN', /"Port"/);
  rejects(() => normalizeParams('ssh', { fontSize: 12, 'font-size': 14 }), 'GUAC_PARAM_DUPLICATE', /"font-size"/, '14');
});

test('booleans become "true" or are left out, as guacd reads them', () => {
  const on = normalizeParams('ssh', { enableSftp: true, readOnly: 'true', disableCopy: false, disablePaste: 'false', 'create-recording-path': '' });
  assert.deepEqual([...on], [['enable-sftp', 'true'], ['read-only', 'true']]);
  rejects(() => normalizeParams('ssh', { readOnly: 'yes' }), 'GUAC_PARAM_INVALID', /"read-only" of ssh must be true or false/, 'yes');
  rejects(() => normalizeParams('ssh', { readOnly: 1 }), 'GUAC_PARAM_INVALID', /true or false/);
});

test('integers are validated and written in decimal', () => {
  assert.equal(normalizeParams('ssh', { port: '022' }).get('port'), '22');
  assert.equal(normalizeParams('vnc', { port: 5901 }).get('port'), '5901');
  assert.equal(normalizeParams('ssh', { scrollback: 0 }).get('scrollback'), '0');
  rejects(() => normalizeParams('ssh', { port: 'ssh' }), 'GUAC_PARAM_INVALID', /"port" of ssh must be an integer from 1 to 65535/, 'ssh"');
  rejects(() => normalizeParams('ssh', { port: 70000 }), 'GUAC_PARAM_INVALID', /from 1 to 65535/, '70000');
  rejects(() => normalizeParams('ssh', { fontSize: 12.5 }), 'GUAC_PARAM_INVALID', /"font-size"/);
  rejects(() => normalizeParams('ssh', { scrollback: -1 }), 'GUAC_PARAM_INVALID', /"scrollback"/);
  rejects(() => normalizeParams('ssh', { scrollback: '1e3' }), 'GUAC_PARAM_INVALID', /"scrollback"/);
  rejects(() => normalizeParams('ssh', { scrollback: true }), 'GUAC_PARAM_INVALID', /"scrollback"/);
  rejects(() => normalizeParams('rdp', { width: '99999999999' }), 'GUAC_PARAM_INVALID', /"width"/);
});

test('enums accept exactly guacd\'s values', () => {
  assert.equal(normalizeParams('rdp', { security: 'nla' }).get('security'), 'nla');
  assert.equal(normalizeParams('rdp', { serverLayout: 'de-de-qwertz' }).get('server-layout'), 'de-de-qwertz');
  assert.equal(normalizeParams('vnc', { cursor: 'remote' }).get('cursor'), 'remote');
  assert.equal(normalizeParams('rdp', { 'resize-method': '' }).size, 0, 'empty is unset');
  rejects(() => normalizeParams('rdp', { security: 'NLA' }), 'GUAC_PARAM_INVALID', /"security" of rdp must be one of any, nla, nla-ext, tls, vmconnect, rdp/);
  rejects(() => normalizeParams('vnc', { clipboardEncoding: 'latin1' }), 'GUAC_PARAM_INVALID', /ISO8859-1, UTF-8, UTF-16, CP1252/, 'latin1');
});

test('strings: numbers are written as text; booleans, objects, arrays, NUL and oversize values refused', () => {
  assert.equal(normalizeParams('ssh', { hostname: 'h', username: 42 }).get('username'), '42');
  assert.equal(normalizeParams('ssh', { hostname: '' }).size, 0);
  assert.equal(normalizeParams('ssh', { hostname: null, username: undefined }).size, 0);
  rejects(() => normalizeParams('ssh', { hostname: true }), 'GUAC_PARAM_INVALID', /"hostname" of ssh must be a string/);
  // As JSON from a host app or the admin API may bring them: never "[object Object]" or "a,b" on the wire.
  rejects(() => normalizeParams('ssh', { hostname: { host: 'h' } } as never), 'GUAC_PARAM_INVALID', /"hostname" of ssh must be a string/);
  rejects(() => normalizeParams('ssh', { username: ['a', 'b'] } as never), 'GUAC_PARAM_INVALID', /"username" of ssh must be a string/);
  rejects(() => normalizeParams('ssh', { password: 'a\0b' }), 'GUAC_PARAM_INVALID', /NUL/, 'a\0b');
  const huge = 'x'.repeat(8193);
  rejects(() => normalizeParams('ssh', { privateKey: huge }), 'GUAC_PARAM_INVALID', /"private-key".*longer than guacd accepts/, huge);
  assert.equal(normalizeParams('ssh', { privateKey: '😀'.repeat(8192) }).get('private-key')?.length, 16384, 'counted in code points');
});

test('unknown names and protocols are refused, naming the parameter but never the value', () => {
  rejects(() => normalizeParams('ssh', { hostname: 'h', dpi: 96 } as never), 'GUAC_PARAM_UNKNOWN', /Unknown parameter "dpi" for ssh/);
  rejects(() => normalizeParams('vnc', { privateKey: 'SECRETKEY' } as never), 'GUAC_PARAM_UNKNOWN', /"privateKey" for vnc/, 'SECRETKEY');
  rejects(() => normalizeParams('ftp' as never, {}), 'GUAC_PROTOCOL_UNKNOWN', /Unknown protocol "ftp"/);
});

test('typed parameter interfaces follow the catalogue', () => {
  const ssh: SshParams = { hostname: 'h', port: 22, privateKey: 'k', readOnly: true, colorScheme: 'gray-black' };
  const rdp: RdpParams = { security: 'tls', ignoreCert: true, serverLayout: 'en-us-qwerty', width: 800 };
  // @ts-expect-error an enum outside guacd's values does not type-check
  const bad: RdpParams = { security: 'ssl' };
  assert.equal(normalizeParams('ssh', ssh).get('read-only'), 'true');
  assert.equal(normalizeParams('rdp', rdp).get('ignore-cert'), 'true');
  assert.ok(bad);
});

test('every guacd error code is documented with a status', () => {
  for (const [code, [status, meaning]] of Object.entries(GUACD_ERRORS)) {
    assert.match(code, /^GUAC_[A-Z_]+$/);
    assert.ok(STATUS[status], `${code} has a known status`);
    assert.ok(meaning.length > 20, `${code} is explained`);
  }
});
