/**
 * The guacd-pool sections of docs/deployment.md ("A fleet of guacd: the
 * pool", "TLS to guacd", "Draining a gateway"), each command run as written
 * with only the documented addresses and paths swapped for the test's:
 * 10.0.0.21:4822 and 10.0.0.22:4822 are two guacd of the test's own, the
 * CA file is the test's. Each must start a gateway whose /healthz lists
 * those guacd healthy, in that order; the drain block's SIGTERM must leave
 * a live session running with /healthz 503, and the gateway exits 0 once
 * that session ends.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, loadTestEnv, repoRoot, waitFor } from '../helpers/env.js';
import { startOwnGuacd, type OwnGuacd } from '../helpers/faults.js';
import { deploymentBlocks } from '../helpers/nginx.js';
import type { Registry } from '../../src/registry/types.js';
import { sqliteFixture, type RegistryFixture } from '../helpers/registry.js';
import { Cleanups, openSession, sshParams } from '../helpers/security.js';
import { startChild, type ChildRun } from '../helpers/serve.js';
import { makeGuacdCertificates } from '../helpers/tls-certs.js';

const POOL = '## A fleet of guacd: the pool';

interface Health { ok: boolean; draining: boolean; guacd: { pool: { name: string; healthy: boolean }[] } }

/** A documented shell line as argv and environment: `VAR="v" guacamole-gateway serve …` (comments dropped). */
function command(line: string): { env: Record<string, string>; argv: string[] } {
  const env: Record<string, string> = {};
  let rest = line.replace(/\s+#.*$/, '').trim();
  for (let m = /^([A-Z_]+)="([^"]*)"\s+/.exec(rest); m; m = /^([A-Z_]+)="([^"]*)"\s+/.exec(rest)) {
    env[m[1]!] = m[2]!;
    rest = rest.slice(m[0].length);
  }
  return { env, argv: rest.split(/\s+/) };
}

describe('docs/deployment.md: the guacd pool, TLS to guacd and draining, as written', { timeout: 180_000 }, () => {
  const cleanups = new Cleanups();
  const dirs: string[] = [];
  let fx: RegistryFixture;
  let g1: OwnGuacd;
  let g2: OwnGuacd;
  let tlsGuacd: OwnGuacd;
  let tlsGuacd2: OwnGuacd;
  let certs: string;
  let blocks: string[];
  let reg: Registry;

  before(async () => {
    blocks = deploymentBlocks('sh', POOL);
    assert.equal(blocks.length, 3, 'the pool, TLS and drain blocks');
    const env = loadTestEnv();
    const wrapper = env.guacds[env.guacds.length - 1]?.wrapper ?? env.guacd.wrapper;
    certs = makeGuacdCertificates();
    dirs.push(certs);
    const tlsArgs = ['-C', join(certs, 'guacd.pem'), '-K', join(certs, 'guacd.key')];
    [g1, g2, tlsGuacd, tlsGuacd2] = await Promise.all([
      startOwnGuacd(wrapper), startOwnGuacd(wrapper), startOwnGuacd(wrapper, tlsArgs), startOwnGuacd(wrapper, tlsArgs),
    ]);
    fx = await sqliteFixture();
    reg = await fx.open();
    await reg.createConnection({ name: 'ssh', protocol: 'ssh', params: sshParams() });
    await reg.grant('ssh', 'alice');
  });
  after(async () => {
    await cleanups.run();
    await reg?.close();
    await Promise.all([g1, g2, tlsGuacd, tlsGuacd2].map((g) => g?.kill()));
    await fx?.cleanup();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** The documented addresses and files, as this test runs them. */
  const swap = (text: string): string => text
    .replace(/tls:\/\/10\.0\.0\.21:4822/g, `tls://127.0.0.1:${tlsGuacd.port}`)
    .replace(/tls:\/\/10\.0\.0\.22:4822/g, `tls://127.0.0.1:${tlsGuacd2.port}`)
    .replace(/10\.0\.0\.21:4822/g, `127.0.0.1:${g1.port}`)
    .replace(/10\.0\.0\.22:4822/g, `127.0.0.1:${g2.port}`)
    .replace(/\/etc\/guacd\/ca\.pem/g, join(certs, 'ca.pem'));

  /** Runs a documented `guacamole-gateway serve …` line on a free port; resolves once /healthz answers 200. */
  async function serveAsWritten(line: string): Promise<{ run: ChildRun; port: number }> {
    const { env, argv } = command(line);
    assert.deepEqual(argv.slice(0, 2), ['guacamole-gateway', 'serve'], `a serve command: ${line}`);
    const port = await freePort();
    const run = startChild(process.execPath, [join(repoRoot(), 'bin/guacamole-gateway.js'), ...argv.slice(1)], {
      ...process.env, ...env, GATEWAY_PORT: String(port), GATEWAY_DATA_DIR: fx.dataDir, GATEWAY_SECRET: fx.secret,
      GATEWAY_ADMIN_KEY: randomBytes(18).toString('base64url'), GATEWAY_MAX_SESSIONS_PER_ADDRESS: '0', GATEWAY_HANDSHAKE_RATE: '0/60',
    });
    cleanups.add(() => run.stop());
    await waitFor(async () => {
      if (run.child.exitCode !== null) throw new Error(`serve exited with ${run.child.exitCode}:\n${run.output()}`);
      return (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) || undefined;
    }, { what: `serve to answer /healthz:\n${run.output()}`, timeoutMs: 30_000 });
    return { run, port };
  }
  const openSsh = async (port: number) => openSession(cleanups, { wsUrl: `ws://127.0.0.1:${port}/tunnel` },
    `token=${encodeURIComponent((await reg.mintToken({ connection: 'ssh', user: 'alice' })).token)}`);
  const health = async (port: number): Promise<Health> => (await fetch(`http://127.0.0.1:${port}/healthz`)).json() as Promise<Health>;
  const pool = (h: Health) => h.guacd.pool.map((m) => [m.name, m.healthy]);

  it('the pool block: both lines (flags, then GATEWAY_GUACD) list both guacd, healthy, in the written order', async () => {
    const lines = blocks[0]!.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    assert.equal(lines.length, 2);
    for (const line of lines) {
      const { run, port } = await serveAsWritten(swap(line));
      assert.deepEqual(pool(await health(port)), [[`127.0.0.1:${g1.port}`, true], [`127.0.0.1:${g2.port}`, true]], line);
      await run.stop();
      assert.equal(run.child.exitCode, 0);
    }
  });

  it('the TLS block: tls:// guacd reached with the CA the line names', async () => {
    const [line] = blocks[1]!.split('\n').filter((l) => l.includes('serve'));
    const { run, port } = await serveAsWritten(swap(line!));
    // A session on each: both reached through TLS with that CA.
    const sessions = [await openSsh(port), await openSsh(port)];
    const guacds = await Promise.all(sessions.map((c) => waitFor(async () => (await reg.getSession(c.uuid as string))?.guacd ?? undefined, { what: 'the history row', timeoutMs: 10_000 })));
    assert.deepEqual(guacds.sort(), [`tls://127.0.0.1:${tlsGuacd.port}`, `tls://127.0.0.1:${tlsGuacd2.port}`].sort());
    assert.deepEqual(pool(await health(port)), [[`tls://127.0.0.1:${tlsGuacd.port}`, true], [`tls://127.0.0.1:${tlsGuacd2.port}`, true]]);
    for (const c of sessions) c.close();
    await run.stop();
  });

  it('the drain block: SIGTERM (kill -TERM) keeps the live session with /healthz 503; the gateway exits 0 when it ends', async () => {
    const [serveLine, killLine] = blocks[2]!.split('\n').filter((l) => l.trim() !== '');
    assert.match(killLine!, /kill -TERM <pid>/);
    const { run, port } = await serveAsWritten(swap(serveLine!));
    const live = await openSsh(port);
    const exited = new Promise<number | null>((resolve) => run.child.once('exit', (code) => resolve(code)));
    run.child.kill('SIGTERM');
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 503, { what: '/healthz 503', timeoutMs: 5000 });
    assert.equal((await health(port)).draining, true);
    assert.equal(live.ws.readyState, live.ws.OPEN, 'the live session goes on (--drain 600)');
    live.close();
    assert.equal(await exited, 0);
  });
});
