/**
 * Smoke test of the real test environment (scripts/test-env.sh up): every
 * service accepts TCP, every process is alive, and guacd answers `select`
 * with `args` for each protocol. Raw sockets only, so a failure here points at
 * the environment, not at the gateway's own modules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { loadTestEnv, readPrivateKey, waitFor } from '../helpers/env.js';

const env = loadTestEnv();

/** Connects, then resolves once the socket is open; rejects on error or after `timeoutMs`. */
function connect(host: string, port: number, timeoutMs = 5000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`connect to ${host}:${port} timed out`)));
    socket.once('connect', () => {
      socket.setTimeout(0);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Sends `request` and collects the reply up to and including the first `;`. */
function exchange(socket: net.Socket, request: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const done = (err?: Error): void => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      if (err) reject(err);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(() => done(new Error(`no complete reply to ${request} in ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (chunk.includes(0x3b)) done();
    });
    socket.once('error', done);
    socket.once('end', () => done(new Error(`connection closed before a reply to ${request}`)));
    socket.write(request);
  });
}

const services = {
  guacd: env.guacd,
  ssh: env.ssh,
  vnc: env.vnc,
  vncScratch: env.vncScratch,
  rdp: env.rdp,
  telnet: env.telnet,
  postgres: env.postgres,
};

for (const [name, service] of Object.entries(services)) {
  test(`${name} accepts a TCP connection on ${service.host}:${service.port}`, async () => {
    assert.equal(service.host, '127.0.0.1');
    const socket = await connect(service.host, service.port);
    socket.destroy();
  });
}

test('every process the environment started is alive', () => {
  assert.ok(Object.keys(env.pids).length >= 6, 'env.json lists the started processes');
  for (const [name, pid] of Object.entries(env.pids)) {
    assert.doesNotThrow(() => process.kill(pid, 0), `${name} (pid ${pid}) is not running`);
  }
});

test('env.json lists guacd 1.3.0 first in the matrix, each version once, and every expected version runs or says why not', () => {
  assert.deepEqual(env.guacds[0], { version: '1.3.0', host: env.guacd.host, port: env.guacd.port, pid: env.guacd.pid, log: env.guacd.log, wrapper: env.guacd.wrapper, source: 'debian' });
  const versions = [...env.guacds.map((g) => g.version), ...env.guacdSkipped.map((s) => s.version)];
  assert.equal(new Set(versions).size, versions.length, versions.join(' '));
  for (const v of ['1.3.0', '1.5.5', '1.6.0']) assert.ok(versions.includes(v), `${v} runs or is listed as skipped`);
  for (const s of env.guacdSkipped) assert.match(s.reason, /^(no source|its build failed)/);
  assert.equal(new Set(env.guacds.map((g) => g.port)).size, env.guacds.length, 'each guacd on its own port');
});

for (const g of env.guacds) {
  // guacd 1.5 and 1.6 both speak (and announce) protocol version 1.5.0.
  const announced = g.version === '1.3.0' ? 'VERSION_1_3_0' : 'VERSION_1_5_0';
  for (const protocol of ['ssh', 'vnc', 'rdp', 'telnet']) {
    test(`guacd ${g.version} answers select ${protocol} with args, ${announced} first`, async () => {
      const socket = await connect(g.host, g.port);
      try {
        const select = `6.select,${protocol.length}.${protocol};`;
        const reply = await exchange(socket, select);
        assert.ok(reply.startsWith('4.args,'), `reply starts with 4.args, — got ${JSON.stringify(reply.slice(0, 60))}`);
        assert.ok(reply.startsWith(`4.args,13.${announced},8.hostname,`), reply.slice(0, 60));
      } finally {
        socket.destroy();
      }
    });
  }
}

test('the SSH private key is an unencrypted PEM RSA key (what guacd 1.3.0 reads)', () => {
  const key = readPrivateKey(env);
  assert.match(key, /^-----BEGIN RSA PRIVATE KEY-----\n/);
  assert.doesNotMatch(key, /ENCRYPTED/);
});

test('waitFor resolves to the first truthy value and times out otherwise', async () => {
  let n = 0;
  assert.equal(await waitFor(() => (++n >= 3 ? n : 0), { intervalMs: 1 }), 3);
  await assert.rejects(
    waitFor(() => false, { timeoutMs: 30, intervalMs: 5, what: 'never' }),
    /timed out after 30 ms waiting for never/,
  );
});
