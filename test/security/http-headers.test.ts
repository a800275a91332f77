/**
 * What the gateway's HTTP server says before any tunnel or page code runs:
 * the page's security headers, and the status of requests Node's parser
 * refuses (oversized headers must be 431, as docs/security.md says).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tokenResolver } from '../../src/tunnel/resolver.js';
import { repoRoot } from '../helpers/env.js';
import { Cleanups, startAppServer } from '../helpers/security.js';

const cleanups = new Cleanups();
// Nothing here reaches guacd: a closed port stands for it.
const NO_GUACD = { host: '127.0.0.1', port: 1 };

let port: number;

before(async () => {
  port = await startAppServer(cleanups, { guacd: NO_GUACD, resolve: tokenResolver({ secret: 'http-headers-test-secret' }) }, {
    webRoot: join(repoRoot(), 'dist/web'),
    guacd: () => NO_GUACD,
  });
});
after(() => cleanups.run());

/** Sends `request` on a raw socket; resolves with everything the server said before it closed. */
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let said = '';
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer to ${request.slice(0, 40)}…`)));
    socket.on('data', (d) => { said += d.toString('latin1'); });
    socket.on('error', reject);
    socket.on('close', () => resolve(said));
  });
}

/** The directives of a Content-Security-Policy header, by name. */
function directives(policy: string): Map<string, string> {
  return new Map(policy.split(';').map((d) => d.trim()).filter(Boolean).map((d) => {
    const [name, ...values] = d.split(/\s+/);
    return [name!.toLowerCase(), values.join(' ')];
  }));
}

describe('HTTP: the page\'s headers', () => {
  it('the page has a Content-Security-Policy that allows only itself, and framing', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/?token=x`);
    assert.equal(res.status, 200);
    const csp = directives(res.headers.get('content-security-policy') ?? '');
    assert.equal(csp.get('default-src'), "'none'");
    assert.equal(csp.get('script-src'), "'self'");
    assert.equal(csp.get('style-src'), "'self'");
    assert.equal(csp.get('connect-src'), "'self'");
    assert.equal(csp.get('object-src'), "'none'");
    assert.equal(csp.get('base-uri'), "'none'");
    assert.equal(csp.get('form-action'), "'none'");
    for (const d of csp.values()) assert.doesNotMatch(d, /unsafe-|\*/, 'no unsafe-inline, unsafe-eval or wildcard');
    // Other sites may frame the page: no frame-ancestors, no X-Frame-Options.
    assert.equal(csp.has('frame-ancestors'), false);
    assert.equal(res.headers.get('x-frame-options'), null);
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    // The page has no inline script the policy would have to allow.
    assert.doesNotMatch(await res.text(), /<script(?![^>]*\bsrc=)[^>]*>/i);
  });

  it('embed.js may be imported by other origins (a module script is a CORS request)', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/embed.js`, { headers: { Origin: 'https://host.example' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.match(res.headers.get('content-type') ?? '', /^text\/javascript/);
    await res.arrayBuffer();
  });
});

describe('HTTP: requests Node\'s parser refuses', () => {
  // Node's limit, which docs/security.md gives as 16 KiB (the URL and its token included).
  const limit = http.maxHeaderSize;
  before(() => assert.equal(limit, 16 * 1024));

  it('headers over 16 KiB are answered 431, on the page, the tunnel and a WebSocket upgrade alike', async () => {
    const big = 'a'.repeat(limit + 1024);
    const cases = [
      ['a long header', `GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ${big}\r\n\r\n`],
      ['a long URL (a token in the query)', `GET /tunnel?token=${big} HTTP/1.1\r\nHost: h\r\n\r\n`],
      ['a WebSocket upgrade', `GET /tunnel?token=${big} HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: guacamole\r\n\r\n'],
      ['many headers', `GET / HTTP/1.1\r\nHost: h\r\n${Array.from({ length: 1000 }, (_, i) => `X-H${i}: ${'b'.repeat(20)}\r\n`).join('')}\r\n`],
    ] as const;
    for (const [name, request] of cases) {
      const said = await raw(request);
      assert.match(said, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/, `${name}: ${said.slice(0, 60)}`);
    }
  });

  it('headers just under the limit are served; malformed requests are 400', async () => {
    const said = await raw(`GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX-Pad: ${'a'.repeat(limit - 200)}\r\n\r\n`);
    assert.match(said, /^HTTP\/1\.1 503 /, said.slice(0, 60)); // guacd is not there: the answer itself is what counts
    for (const request of ['GET / HTTP/1.1\r\nHost h\r\n\r\n', 'BREW / HTTP/1.1\r\nHost: h\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n']) {
      assert.match(await raw(request), /^HTTP\/1\.1 400 Bad Request\r\n/, JSON.stringify(request));
    }
  });
});
