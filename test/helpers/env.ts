/**
 * The real test environment started by `bash scripts/test-env.sh up`: its
 * description in `.test-env/env.json`, and small helpers the integration and
 * end-to-end tests share.
 */
import { existsSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** guacd parameters (guacd names, string values) that reach `ready` and a drawn screen. */
export type GuacdParams = Record<string, string>;

/** A service: where it listens, the process that serves it, its log. */
export interface Service {
  host: string;
  port: number;
  pid: number;
  log: string;
}

/** One running guacd of the matrix (see {@link TestEnv.guacds}). */
export interface GuacdInstance extends Service {
  /** `1.3.0`, `1.5.5`, `1.6.0`: what `guacd -v` says. */
  version: string;
  /** Runs this guacd with its libraries (LD_LIBRARY_PATH set): `WRAPPER -f -b 127.0.0.1 -l PORT`. */
  wrapper: string;
  /** Debian's package (1.3.0) or built from upstream's source archive (scripts/build-guacd.sh). */
  source: 'debian' | 'upstream';
}

/** The shape of `.test-env/env.json` (version 1). Every port is on 127.0.0.1. */
export interface TestEnv {
  version: 1;
  /** Repository root the environment belongs to. */
  root: string;
  /** `.test-env/`, where logs, keys and the PostgreSQL cluster live. */
  dir: string;
  /** ISO time of the `up` that wrote this file. */
  startedAt: string;
  host: string;
  guacd: Service & {
    version: '1.3.0';
    /** The unpacked guacd binary; run it with `ldLibraryPath` as LD_LIBRARY_PATH, or use `wrapper`. */
    bin: string;
    /** `.cache/guacd/bin/guacd`: sets LD_LIBRARY_PATH and execs `bin` with its arguments. */
    wrapper: string;
    ldLibraryPath: string;
  };
  /**
   * Every guacd that runs, oldest first: Debian's 1.3.0 (the same process as
   * `guacd`) and each version built from upstream's source
   * (test/helpers/guacd-matrix.ts runs tests on each).
   */
  guacds: GuacdInstance[];
  /** Versions the matrix expects that do not run, and why (no source archive, failed build). */
  guacdSkipped: { version: string; reason: string }[];
  /** The local account every target logs in as (its password is kept for the machine). */
  user: { username: string; password: string; home: string; privateKeyPath: string; publicKeyPath: string };
  /** OpenSSH: password and public-key auth. For the key, pass `private-key` = {@link readPrivateKey}(). */
  ssh: Service & { username: string; password: string; privateKeyPath: string; params: GuacdParams };
  /** TigerVNC Xvnc with VncAuth (password only), an xterm of the test user on the display. */
  vnc: Service & { password: string; display: string; width: number; height: number; params: GuacdParams };
  /**
   * A second Xvnc like `vnc` (same password, xterm, initial size), for tests
   * that change the desktop's size (guacd 1.6 resizes VNC desktops to the
   * browser's size): they restore it; `vnc` keeps its size for all others.
   */
  vncScratch: TestEnv['vnc'];
  /**
   * freerdp-shadow-cli sharing its own Xvnc display: TLS only with a self-signed
   * certificate (guacd needs `security` tls or any, and `ignore-cert`), PAM
   * login of the test user.
   */
  rdp: Service & {
    username: string;
    password: string;
    security: 'tls';
    ignoreCert: true;
    display: string;
    width: number;
    height: number;
    params: GuacdParams;
  };
  /** inetutils telnetd behind socat; guacd types the username and password at `login:` / `Password:`. */
  telnet: Service & { username: string; password: string; params: GuacdParams };
  /** A private PostgreSQL 15 cluster; `database` is dropped and created afresh on each `up`. */
  postgres: Service & { database: string; user: string; password: string; url: string; dataDir: string };
  /** Every process `up` started, by name (`down` stops exactly these). */
  pids: Record<string, number>;
}

/** The process `pid` runs (signal 0: no signal sent, only the check). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The repository root: the nearest folder above this file with a package.json (works from `dist/test/helpers` too). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('no package.json above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

let cached: TestEnv | undefined;

/**
 * Reads `.test-env/env.json` of this repository (once per process).
 * @throws Error naming the command to run when the environment is not up.
 */
export function loadTestEnv(): TestEnv {
  if (cached) return cached;
  const file = join(repoRoot(), '.test-env', 'env.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`test environment is not up (${file} missing): run bash scripts/test-env.sh up`, { cause: err });
  }
  const env = JSON.parse(text) as TestEnv;
  if (env.version !== 1) throw new Error(`${file}: unsupported version ${String(env.version)}`);
  cached = env;
  return env;
}

/** The test user's RSA private key, PEM (`-----BEGIN RSA PRIVATE KEY-----`), as guacd's `private-key` wants it. */
export function readPrivateKey(env: TestEnv = loadTestEnv()): string {
  return readFileSync(env.ssh.privateKeyPath, 'utf8');
}

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this long (default 10 000 ms). */
  timeoutMs?: number;
  /** Pause between tries (default 50 ms). */
  intervalMs?: number;
  /** Named in the timeout error. */
  what?: string;
}

/**
 * Polls `predicate` until it returns a truthy value, and resolves to that value.
 * A predicate that throws counts as "not yet"; the last error is the timeout's cause.
 * @throws Error when `timeoutMs` passes first.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 50, what = 'condition' }: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}

/** A free TCP port on 127.0.0.1 (closed again before use: a tiny race, acceptable in tests). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.unref();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Listens on 127.0.0.1 (a free port) with a server that carries a tunnel.
 * @returns the port, and `close`: the tunnel ends its sessions, open
 *   connections are cut, then the server is closed
 */
export async function listenOnLoopback(server: http.Server, tunnel: { close(): Promise<void> }): Promise<{ port: number; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await tunnel.close();
      server.closeAllConnections();
      await closed;
    },
  };
}
