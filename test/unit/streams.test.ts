/**
 * The pieces of file transfer that stand alone: the policy, reading stream
 * indexes from raw bytes, relaying a piece with instructions cut out, the
 * download file name header, and the CLI's size flags.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from '../../src/protocol/encoder.js';
import { filePolicy, sendKept } from '../../src/tunnel/streams/index.js';
import { offersFiles } from '../../src/tunnel/streams/policy.js';
import { firstIndex } from '../../src/tunnel/streams/raw.js';
import { contentDisposition } from '../../src/tunnel/streams/download.js';
import { fileRulesFromFlags, parseSize } from '../../src/server/file-flags.js';
import { UsageError } from '../../src/server/cli-command.js';
import { mergeFiles } from '../../src/tunnel/resolver.js';

describe('file policy', () => {
  it('read-only transfers nothing; each restriction applies; the smallest positive maximum wins', () => {
    assert.deepEqual(filePolicy(false), { upload: true, download: true, maxUploadBytes: 0 });
    assert.deepEqual(filePolicy(true, { maxUploadBytes: 5 }), { upload: false, download: false, maxUploadBytes: 5 });
    assert.deepEqual(filePolicy(false, { noUpload: true, maxUploadBytes: 10 }, { noDownload: true, maxUploadBytes: 7 }, { maxUploadBytes: 0 }),
      { upload: false, download: false, maxUploadBytes: 7 });
    assert.deepEqual(filePolicy(false, { maxUploadBytes: -3 }, { maxUploadBytes: 1.5 }), { upload: true, download: true, maxUploadBytes: 0 });
  });

  it('the page hears of the stream routes when the connection turns transfer on, or for a join', () => {
    assert.equal(offersFiles({ params: { hostname: 'h' } }), false);
    assert.equal(offersFiles({ params: { 'enable-sftp': 'false' } }), false);
    assert.equal(offersFiles({ params: { 'enable-sftp': 'true' } }), true);
    assert.equal(offersFiles({ params: { enableDrive: true } }), true);
    assert.equal(offersFiles({ join: '$abc', params: {} }), true);
  });

  it('a token only adds restrictions to its connection\'s', () => {
    assert.equal(mergeFiles(undefined, {}), undefined);
    assert.deepEqual(mergeFiles({ noUpload: false, maxUploadBytes: 100 }, { noUpload: true, maxUploadBytes: 500 }), { noUpload: true, noDownload: false, maxUploadBytes: 100 });
    assert.deepEqual(mergeFiles({ noDownload: true }, { maxUploadBytes: 9 }), { noUpload: false, noDownload: true, maxUploadBytes: 9 });
  });
});

describe('raw stream instructions', () => {
  it('reads the stream index of blob, end and ack without decoding the rest', () => {
    for (const [ins, idx] of [[encode('blob', 7, 'AAAA'), 7], [encode('end', 12), 12], [encode('ack', 0, 'OK', 0), 0], [encode('blob', 'x', 'A'), -1], [encode('end', 123456789012), -1]] as const) {
      const b = Buffer.from(`junk${ins}`);
      assert.equal(firstIndex(b, 4, b.length), idx, ins);
    }
  });

  it('sendKept relays everything but the dropped instructions, in whole instructions', () => {
    const parts = [encode('sync', 1), encode('blob', 3, 'QUJD'), encode('size', 0, 10, 10), encode('end', 3), encode('sync', 2)];
    const buf = Buffer.from(parts.join(''));
    const ends: number[] = [];
    const drops: number[] = [];
    let at = 0;
    parts.forEach((p, i) => {
      const start = at;
      at += Buffer.byteLength(p);
      if (i === 1 || i === 4) drops.push(buf.byteOffset + start, buf.byteOffset + at);
      else ends.push(buf.byteOffset + at);
    });
    const sent: string[] = [];
    sendKept(buf, ends, drops, (m) => sent.push(m.toString()));
    assert.deepEqual(sent, [parts[0], parts[2] + parts[3]]);
  });
});

describe('download names', () => {
  it('Content-Disposition: no path, no quote, no control character, the exact name in filename*', () => {
    assert.equal(contentDisposition('/home/x/report.pdf'), 'attachment; filename="report.pdf"; filename*=UTF-8\'\'report.pdf');
    assert.equal(contentDisposition('a"\r\nSet-Cookie: x=1;.txt'), 'attachment; filename="a_Set-Cookie: x=1_.txt"; filename*=UTF-8\'\'a%22Set-Cookie%3A%20x%3D1%3B.txt');
    assert.equal(contentDisposition('..\\..\\'), 'attachment; filename="download"; filename*=UTF-8\'\'download');
    assert.equal(contentDisposition('日本.txt'), 'attachment; filename="__.txt"; filename*=UTF-8\'\'%E6%97%A5%E6%9C%AC.txt');
  });
});

describe('CLI file flags', () => {
  it('sizes take K, M, G, T (1024-based) and refuse anything else', () => {
    assert.equal(parseSize('0', 'x'), 0);
    assert.equal(parseSize('500M', 'x'), 500 * 2 ** 20);
    assert.equal(parseSize('2GiB', 'x'), 2 * 2 ** 30);
    assert.equal(parseSize('1048576', 'x'), 1048576);
    for (const bad of ['-1', '1.5G', '10X', '', 'M']) assert.throws(() => parseSize(bad, 'max-upload-size'), (e: unknown) => e instanceof UsageError && /--max-upload-size must be a size/.test(e.message));
  });

  it('flags map to rules; contradictions are usage errors', () => {
    assert.deepEqual(fileRulesFromFlags({ 'no-upload': true, 'max-upload-size': '1K' }), { noUpload: true, maxUploadBytes: 1024 });
    assert.deepEqual(fileRulesFromFlags({ 'allow-upload': true, 'no-download': true }), { noUpload: false, noDownload: true });
    assert.throws(() => fileRulesFromFlags({ 'no-upload': true, 'allow-upload': true }), UsageError);
  });
});
