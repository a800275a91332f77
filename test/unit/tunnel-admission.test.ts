/**
 * The per-client counts and the handshake bucket on a fake clock, and the
 * client address behind proxies: what the integration test cannot show on
 * demand (a bucket refilling over a window, a second release, a spray of
 * addresses, a forged X-Forwarded-For chain).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GuacError } from '../../src/protocol/errors.js';
import { STATUS } from '../../src/protocol/status.js';
import { Admission, type ClientLimits } from '../../src/tunnel/admission.js';
import { addressKey, clientAddress } from '../../src/tunnel/client-address.js';
import { resolveOptions } from '../../src/tunnel/options.js';

const OFF: ClientLimits = { maxSessionsPerToken: 0, maxSessionsPerUser: 0, maxSessionsPerAddress: 0, handshakesPerAddress: 0, handshakeWindowMs: 60_000 };

function refusal(err: GuacError | undefined, code: string): void {
  assert.ok(err instanceof GuacError, `expected ${code}`);
  assert.equal(err.code, code);
  assert.equal(err.status, STATUS.CLIENT_TOO_MANY);
}

describe('admission', () => {
  it('caps token and user, counts a session once however often it claims, and releases it once', () => {
    const a = new Admission({ ...OFF, maxSessionsPerToken: 2, maxSessionsPerUser: 3 });
    const s1 = {}, s2 = {}, s3 = {}, s4 = {};
    assert.equal(a.claimTarget(s1, { tokenId: 't', user: 'u' }), undefined);
    assert.equal(a.claimTarget(s1, { tokenId: 't', user: 'u' }), undefined, 'a second claim of one session');
    assert.equal(a.count('t:t'), 1);
    assert.equal(a.claimTarget(s2, { tokenId: 't', user: 'u' }), undefined);
    refusal(a.claimTarget(s3, { tokenId: 't', user: 'u' }), 'GUAC_TUNNEL_TOO_MANY');
    assert.equal(a.count('u:u'), 2, 'a refused claim counts nothing');
    assert.equal(a.claimTarget(s3, { tokenId: 'other', user: 'u' }), undefined);
    refusal(a.claimTarget(s4, { tokenId: 'third', user: 'u' }), 'GUAC_TUNNEL_TOO_MANY');
    a.release(s1);
    a.release(s1);
    assert.equal(a.count('t:t'), 1);
    assert.equal(a.count('u:u'), 2);
    assert.equal(a.claimTarget(s4, { tokenId: 't', user: 'u' }), undefined);
    for (const s of [s2, s3, s4]) a.release(s);
    assert.equal(a.count('t:t') + a.count('u:u') + a.count('t:other'), 0);
    // A resolver that outlived its session claims late: nothing is counted, nothing leaks.
    assert.equal(a.claimTarget(s2, { tokenId: 't', user: 'u' }), undefined);
    a.claimAddress(s2, '192.0.2.1');
    assert.equal(a.count('t:t') + a.count('u:u') + a.count('a:192.0.2.1'), 0);
  });

  it('refills the handshake bucket evenly over the window; other addresses have their own', () => {
    let t = 1_000_000;
    const a = new Admission({ ...OFF, handshakesPerAddress: 4, handshakeWindowMs: 60_000 }, () => t);
    for (let i = 0; i < 4; i++) assert.equal(a.checkAddress('192.0.2.1'), undefined);
    refusal(a.checkAddress('192.0.2.1'), 'GUAC_TUNNEL_RATE_LIMITED');
    assert.equal(a.checkAddress('192.0.2.2'), undefined);
    t += 14_999;
    refusal(a.checkAddress('192.0.2.1'), 'GUAC_TUNNEL_RATE_LIMITED');
    t += 1;
    assert.equal(a.checkAddress('192.0.2.1'), undefined, 'one handshake back after a quarter of the window');
    refusal(a.checkAddress('192.0.2.1'), 'GUAC_TUNNEL_RATE_LIMITED');
    t += 600_000;
    for (let i = 0; i < 4; i++) assert.equal(a.checkAddress('192.0.2.1'), undefined, 'never more than the bucket');
    refusal(a.checkAddress('192.0.2.1'), 'GUAC_TUNNEL_RATE_LIMITED');
  });

  it('keeps memory bounded under a spray of addresses', () => {
    let t = 0;
    const a = new Admission({ ...OFF, handshakesPerAddress: 2, handshakeWindowMs: 1000 }, () => t);
    for (let i = 0; i < 50_000; i++) {
      t += 1;
      a.checkAddress(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    }
    const buckets = (a as unknown as { handshakes: { buckets: Map<string, unknown> } }).handshakes.buckets.size;
    assert.ok(buckets <= 20_001, `${buckets} buckets kept`);
  });

  it('caps addresses by key: IPv4 (mapped or not) alone, IPv6 by /64', () => {
    const a = new Admission({ ...OFF, maxSessionsPerAddress: 1 });
    assert.equal(a.checkAddress('::ffff:192.0.2.1'), undefined);
    a.claimAddress({}, '::ffff:192.0.2.1');
    refusal(a.checkAddress('192.0.2.1'), 'GUAC_TUNNEL_TOO_MANY');
    a.claimAddress({}, '2001:db8:1:2::1');
    refusal(a.checkAddress('2001:db8:1:2:ffff:ffff:ffff:ffff'), 'GUAC_TUNNEL_TOO_MANY');
    assert.equal(a.checkAddress('2001:db8:1:3::1'), undefined);
    assert.equal(addressKey('2001:0DB8:0001:0002:0:0:0:1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(addressKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  });

  it('believes X-Forwarded-For only from trusted proxies, from the right', () => {
    const trusted = new Set(['127.0.0.1', '10.0.0.2']);
    const xff = (v: string | string[]) => ({ 'x-forwarded-for': v });
    assert.equal(clientAddress('203.0.113.9', xff('1.2.3.4'), trusted), '203.0.113.9', 'an untrusted peer');
    assert.equal(clientAddress('::ffff:127.0.0.1', xff('6.6.6.6, 203.0.113.9'), trusted), '203.0.113.9');
    assert.equal(clientAddress('127.0.0.1', xff('6.6.6.6, 203.0.113.9, 10.0.0.2'), trusted), '203.0.113.9', 'two proxies');
    assert.equal(clientAddress('127.0.0.1', xff(['6.6.6.6', '203.0.113.9']), trusted), '203.0.113.9', 'repeated headers');
    assert.equal(clientAddress('127.0.0.1', xff('junk, 10.0.0.2'), trusted), '10.0.0.2', 'junk ends the walk at the last trusted hop');
    assert.equal(clientAddress('127.0.0.1', {}, trusted), '127.0.0.1');
    assert.equal(clientAddress('127.0.0.1', xff('203.0.113.9'), new Set()), '127.0.0.1', 'no proxy trusted');
    assert.equal(clientAddress(undefined, xff('203.0.113.9'), trusted), undefined);
  });

  it('checks the options: defaults, 0 = off, bad values refused', () => {
    const o = resolveOptions({ guacd: { port: 1 }, resolve: async () => ({ params: {} }) });
    assert.deepEqual(
      [o.limits.maxSessionsPerToken, o.limits.maxSessionsPerUser, o.limits.maxSessionsPerAddress, o.limits.handshakesPerAddress, o.limits.handshakeWindowMs],
      [4, 10, 32, 30, 60_000],
    );
    const off = resolveOptions({ guacd: { port: 1 }, resolve: async () => ({ params: {} }), limits: { maxSessionsPerToken: 0 }, trustedProxies: ['::ffff:127.0.0.1'] });
    assert.equal(off.limits.maxSessionsPerToken, 0);
    assert.deepEqual([...off.trustedProxies], ['127.0.0.1']);
    for (const bad of [{ limits: { maxSessionsPerUser: -1 } }, { limits: { handshakeWindowMs: 0 } }, { trustedProxies: ['nginx'] }]) {
      assert.throws(() => resolveOptions({ guacd: { port: 1 }, resolve: async () => ({ params: {} }), ...bad }), { code: 'GUAC_TUNNEL_BAD_OPTION' });
    }
  });
});
