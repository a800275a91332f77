/**
 * A small fleet for the fleet tests: two guacd of this test's own (the
 * newest version the test environment built; a join must reach the guacd
 * that holds the connection, so both are the same version), one PostgreSQL
 * registry with an `ssh` connection granted to alice, and two `serve`
 * gateways: A lists guacd 1 first (flags), B guacd 2 first (GATEWAY_GUACD).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Registry } from '../../src/registry/types.js';
import { loadTestEnv } from './env.js';
import { startOwnGuacd, type OwnGuacd } from './faults.js';
import { postgresFixture, type RegistryFixture } from './registry.js';
import { sshParams } from './security.js';
import { startServe, type ServeRun } from './serve.js';

export interface Fleet {
  fx: RegistryFixture;
  reg: Registry;
  g1: OwnGuacd;
  g2: OwnGuacd;
  a: ServeRun;
  b: ServeRun;
  /** A gateway's environment: the registry, the secret, a data folder of its own, an admin key. */
  gatewayEnv(): NodeJS.ProcessEnv;
  /** A guacd's name in the gateways' lists. */
  name(g: OwnGuacd): string;
  /** Stops the gateways and guacd, closes the registry and removes the folders. */
  stop(): Promise<void>;
}

/**
 * Starts the fleet.
 * @param opts.aArgs more arguments for gateway A (e.g. `--drain 4`)
 * @param opts.env more environment for both gateways
 */
export async function startFleet(opts: { aArgs?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<Fleet> {
  const dirs: string[] = [];
  const env = loadTestEnv();
  const wrapper = env.guacds[env.guacds.length - 1]?.wrapper ?? env.guacd.wrapper;
  const [g1, g2] = await Promise.all([startOwnGuacd(wrapper), startOwnGuacd(wrapper)]);
  const fx = await postgresFixture();
  const reg = await fx.open();
  await reg.createConnection({ name: 'ssh', protocol: 'ssh', params: sshParams() });
  await reg.grant('ssh', 'alice');
  const gatewayEnv = (): NodeJS.ProcessEnv => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gg-fleet-'));
    dirs.push(dataDir);
    return {
      ...process.env, DATABASE_URL: fx.url, GATEWAY_SECRET: fx.secret, GATEWAY_DATA_DIR: dataDir,
      GATEWAY_ADMIN_KEY: randomBytes(18).toString('base64url'), ...opts.env,
    };
  };
  const name = (g: OwnGuacd): string => `127.0.0.1:${g.port}`;
  const a = await startServe(gatewayEnv(), ['--guacd', name(g1), '--guacd', name(g2), ...(opts.aArgs ?? [])]);
  const b = await startServe({ ...gatewayEnv(), GATEWAY_GUACD: `${name(g2)}, ${name(g1)}` });
  return {
    fx, reg, g1, g2, a, b, gatewayEnv, name,
    async stop() {
      await a.stop();
      await b.stop();
      await reg.close();
      await fx.cleanup();
      await g1.kill();
      await g2.kill();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}
