/**
 * The npm package as an embedder meets it: packed from a copy of the sources
 * (so `prepack` builds it from src/ alone), installed into a fresh app outside
 * the repository, type-checked against by a consumer under two module
 * resolutions, every export imported, the plain-node and Express examples run
 * against the real guacd, and the installed CLI's `token` and `serve` used for
 * a real SSH session.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { freePort, loadTestEnv, repoRoot, waitFor, type TestEnv } from '../helpers/env.js';
import { startChild, type ChildRun } from '../helpers/serve.js';
import { TunnelClient } from '../helpers/ws-client.js';

const run = promisify(execFile);
const SECRET = 'package-test-secret-0123456789abcdef';
/** What each entry point must export (a sample of the documented names). */
const EXPORTS: Record<string, string[]> = {
  'guacamole-gateway': ['createTunnel', 'tokenResolver', 'sealToken', 'openToken', 'GuacdClient', 'STATUS', 'GuacError', 'CHANNELS', 'silentLogger'],
  'guacamole-gateway/protocol': ['encode', 'Parser', 'InstructionSplitter', 'STATUS', 'GuacError'],
  'guacamole-gateway/guacd': ['GuacdClient', 'normalizeParams', 'PROTOCOLS'],
  'guacamole-gateway/tunnel': ['createTunnel', 'tokenResolver', 'sealToken', 'SUBPROTOCOL'],
  'guacamole-gateway/registry': ['openRegistry'],
};

let env: TestEnv;
let work: string;
let app: string;
let tarball: string;
const children: ChildRun[] = [];

/** npm with the machine's settings, never asking. */
async function npm(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await run('npm', [...args, '--no-audit', '--no-fund'], { cwd, maxBuffer: 16 << 20, env: { ...process.env, CI: 'true' } });
  return stdout;
}

before(async () => {
  env = loadTestEnv();
  const root = repoRoot();
  work = mkdtempSync(join(tmpdir(), 'gg-package-'));
  // A checkout without dist/: the tarball can only hold what prepack builds.
  const copy = join(work, 'checkout');
  mkdirSync(copy);
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'tsconfig.web.json', 'LICENSE', 'README.md']) {
    cpSync(join(root, f), join(copy, f));
  }
  for (const d of ['src', 'bin', 'docs', 'scripts']) cpSync(join(root, d), join(copy, d), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
  const packed = JSON.parse(await npm(copy, ['pack', '--json', '--pack-destination', work])) as { filename: string }[];
  tarball = join(work, packed[0]!.filename);

  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'host-app', private: true, type: 'module' }));
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
  const pinned = (name: string): string => `${name}@${lock.packages[`node_modules/${name}`]!.version}`;
  // The dev tools at the repository's versions, so npm finds them in its cache.
  await npm(app, ['install', '--prefer-offline', tarball,
    pinned('typescript'), pinned('@types/node'), pinned('express'), pinned('@types/express')]);
}, { timeout: 600_000 });

after(async () => {
  for (const c of children) await c.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('npm package', { timeout: 600_000 }, () => {
  it('holds the built library, the web client and the CLI, and nothing of the repository', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
    for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/tunnel/index.d.ts', 'dist/src/server/cli.js',
      'dist/web/index.html', 'dist/web/embed.js', 'dist/web/app.js', 'dist/web/app.css', 'bin/guacamole-gateway.js', 'LICENSE']) {
      assert.ok(files.includes(f), `${f} is in the package`);
    }
    const stray = files.filter((f) => /^(test|bench|examples|scripts|src)\//.test(f) || f.endsWith('.map') || f.endsWith('.ts') && !f.endsWith('.d.ts'));
    assert.deepEqual(stray, []);
  });

  it('imports every entry point from the installed package', async () => {
    const script = Object.entries(EXPORTS).map(([spec, names]) =>
      `{ const m = await import(${JSON.stringify(spec)}); for (const n of ${JSON.stringify(names)}) if (m[n] === undefined) throw new Error(${JSON.stringify(spec)} + ' lacks ' + n); }`).join('\n');
    writeFileSync(join(app, 'imports.mjs'), `${script}\nconsole.log('imports ok');\n`);
    const { stdout } = await run(process.execPath, ['imports.mjs'], { cwd: app });
    assert.equal(stdout.trim(), 'imports ok');
  });

  for (const resolution of ['node16', 'bundler'] as const) {
    it(`type-checks a consumer with module resolution ${resolution}`, async () => {
      const dir = join(app, `tc-${resolution}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'consumer.ts'), CONSUMER);
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
        compilerOptions: {
          strict: true, noEmit: true, target: 'ES2022', types: ['node'],
          module: resolution === 'node16' ? 'node16' : 'esnext', moduleResolution: resolution,
        },
        files: ['consumer.ts'],
      }));
      await run(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: app });
      // And a consumer that misuses the API is caught: the types are real, not `any`.
      writeFileSync(join(dir, 'consumer.ts'), `${CONSUMER}\nconst wrong: number = STATUS.SUCCESS.name;\nexport { wrong };\n`);
      await assert.rejects(run(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: app }),
        (err: { stdout?: string }) => /TS2322/.test(err.stdout ?? ''));
    });
  }

  for (const example of ['plain-node', 'express']) {
    it(`runs the ${example} example against the real guacd`, async () => {
      // The example as an embedder has it: importing 'guacamole-gateway', compiled by the app's own tsc.
      const dir = join(app, `example-${example}`);
      mkdirSync(dir, { recursive: true });
      cpSync(join(repoRoot(), 'examples', `${example}.ts`), join(dir, 'main.ts'));
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
        compilerOptions: { strict: true, target: 'ES2022', module: 'node16', moduleResolution: 'node16', types: ['node'], outDir: 'out', esModuleInterop: true },
        files: ['main.ts'],
      }));
      await run(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: app });
      const port = await freePort();
      const child = startChild(process.execPath, [join(dir, 'out', 'main.js')], {
        ...process.env, GATEWAY_SECRET: SECRET, GUACD_HOST: env.guacd.host, GUACD_PORT: String(env.guacd.port), PORT: String(port),
      });
      children.push(child);
      const token = (await runCli(['token', '--protocol', 'ssh', ...sshParams(), '--secret-stdin', 'password', '--ttl', '120'])).trim();
      await waitFor(() => fetch(`http://127.0.0.1:${port}/`).then(() => true, () => undefined), { what: `${example} example listening` });
      await firstFrame(`ws://127.0.0.1:${port}/tunnel?token=${encodeURIComponent(token)}`);
      await child.stop();
    });
  }

  it('runs the installed CLI: `npx guacamole-gateway token`, and `serve` from node_modules/.bin', async () => {
    const token = (await runCli(['token', '--protocol', 'ssh', ...sshParams(), '--secret-stdin', 'password', '--ttl', '120'])).trim();
    assert.match(token, /^v1\.[A-Za-z0-9_-]+$/);
    const port = await freePort();
    const data = join(work, 'serve-data');
    // The bin npx would run, started straight: npx does not pass SIGTERM on to it.
    const child = startChild(join(app, 'node_modules/.bin/guacamole-gateway'), ['serve', '--port', String(port),
      '--guacd', `${env.guacd.host}:${env.guacd.port}`], { ...process.env, GATEWAY_SECRET: SECRET, GATEWAY_DATA_DIR: data }, app);
    children.push(child);
    await waitFor(() => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok || undefined, () => undefined),
      { what: 'installed serve answering /healthz', timeoutMs: 30_000 });
    // The page comes from the package's own dist/web.
    const page = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    await firstFrame(`ws://127.0.0.1:${port}/tunnel?token=${encodeURIComponent(token)}`);
    await child.stop();
  });
});

function sshParams(): string[] {
  const p = env.ssh.params;
  return ['--param', `hostname=${p.hostname}`, '--param', `port=${p.port}`, '--param', `username=${p.username}`];
}

/** The installed CLI (`npx guacamole-gateway …`) in the app, the SSH password on stdin. */
async function runCli(args: string[]): Promise<string> {
  const child = execFile('npx', ['--no-install', 'guacamole-gateway', ...args], {
    cwd: app, env: { ...process.env, GATEWAY_SECRET: SECRET, GATEWAY_DATA_DIR: join(work, 'cli-data') },
  });
  child.stdin?.end(env.ssh.password + '\n');
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((ok) => child.once('exit', ok));
  assert.equal(code, 0, `guacamole-gateway ${args[0]} failed: ${err}`);
  return out;
}

/** Opens a tunnel and waits for the SSH session's first frame. */
async function firstFrame(url: string): Promise<void> {
  const client = await TunnelClient.connect(url, { timeoutMs: 10_000 });
  try {
    await client.waitFor((r) => r.opcode === 'sync', 20_000, 'first frame (sync)');
    assert.ok(client.instructions.some((r) => r.opcode === 'size'), 'the remote display was sized');
  } finally {
    client.ws.close();
    await client.closed;
  }
}

/** A host app's use of the public API, type-checked against the installed declarations. */
const CONSUMER = `import http from 'node:http';
import { createTunnel, tokenResolver, sealToken, GuacdClient, STATUS, GuacError, type Target, type TunnelOptions } from 'guacamole-gateway';
import { encode, Parser } from 'guacamole-gateway/protocol';
import { normalizeParams } from 'guacamole-gateway/guacd';
import { SUBPROTOCOL } from 'guacamole-gateway/tunnel';
import { openRegistry } from 'guacamole-gateway/registry';

const options: TunnelOptions = {
  guacd: { host: '127.0.0.1', port: 4822 },
  resolve: async (): Promise<Target> => {
    if (Math.random() > 2) throw new GuacError('APP_DENIED', 'CLIENT_FORBIDDEN', 'no');
    return { protocol: 'ssh', params: { hostname: 'h' } };
  },
};
const tunnel = createTunnel(options);
const server = http.createServer((req, res) => { if (!tunnel.handleHttp(req, res)) res.writeHead(404).end(); });
server.on('upgrade', (req, socket, head) => tunnel.handleUpgrade(req, socket, head));
const token: string = sealToken({ exp: 1, target: { protocol: 'ssh', params: {} } }, 'x'.repeat(32));
const resolver = tokenResolver({ secret: 'x'.repeat(32) });
const code: number = STATUS.CLIENT_FORBIDDEN.guac;
const wire: string = encode('size', 1024, 768) + SUBPROTOCOL;
new Parser().push(Buffer.from(wire), (opcode: string, args: string[]) => void [opcode, args]);
const params: Map<string, string> = normalizeParams('ssh', { hostname: 'h' });
const connect: Promise<GuacdClient> = GuacdClient.connect({ host: '127.0.0.1', port: 4822 });
export { token, resolver, code, params, connect, openRegistry };
`;
