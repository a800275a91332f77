/**
 * readBody on in-memory requests: the whole body within the limit, refusals
 * by declared and by actual size, a failed request, and a caller's own codes.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { GuacError } from '../../src/protocol/errors.js';
import { STATUS } from '../../src/protocol/status.js';
import { readBody } from '../../src/tunnel/body.js';

function request(headers: Record<string, string> = {}): PassThrough & IncomingMessage {
  return Object.assign(new PassThrough(), { headers }) as unknown as PassThrough & IncomingMessage;
}

const isError = (code: string, status: typeof STATUS[keyof typeof STATUS], message: string) => (err: unknown): boolean => {
  assert.ok(err instanceof GuacError);
  assert.deepEqual([err.code, err.status.guac, err.message], [code, status.guac, message]);
  return true;
};

describe('readBody', () => {
  it('returns the whole body, however it is cut', async () => {
    const req = request();
    const body = readBody(req, 16);
    req.write('token=');
    req.end('é&x=1');
    assert.equal((await body).toString('utf8'), 'token=é&x=1');
  });

  it('refuses a body over the limit, declared or sent, and drops the rest', async () => {
    const declared = request({ 'content-length': '17' });
    await assert.rejects(readBody(declared, 16), isError('GUAC_TUNNEL_BODY_TOO_LARGE', STATUS.CLIENT_OVERRUN, 'The connect request is too large.'));
    const sent = request();
    const body = readBody(sent, 16);
    sent.write('x'.repeat(10));
    sent.write('x'.repeat(10));
    await assert.rejects(body, isError('GUAC_TUNNEL_BODY_TOO_LARGE', STATUS.CLIENT_OVERRUN, 'The connect request is too large.'));
    assert.equal(sent.isPaused(), false, 'the rest is read and dropped');
    sent.end('x');
  });

  it('turns a failed request into the caller\'s error, cause kept, and takes its codes', async () => {
    const req = request();
    const body = readBody(req, 16);
    const cause = new Error('ECONNRESET');
    req.destroy(cause);
    await assert.rejects(body, (err: unknown) => isError('GUAC_TUNNEL_BAD_BODY', STATUS.CLIENT_BAD_REQUEST, 'The connect request could not be read.')(err) && (err as GuacError).cause === cause);
    const own = {
      tooLarge: () => new GuacError('GUAC_BODY_TOO_LARGE', 'CLIENT_OVERRUN', 'The request body exceeds 4 bytes.'),
      unreadable: (c: Error) => new GuacError('GUAC_BODY_UNREADABLE', 'CLIENT_BAD_REQUEST', 'Unreadable.', { cause: c }),
    };
    const big = request();
    const refused = readBody(big, 4, own);
    big.end('12345');
    await assert.rejects(refused, isError('GUAC_BODY_TOO_LARGE', STATUS.CLIENT_OVERRUN, 'The request body exceeds 4 bytes.'));
  });
});
