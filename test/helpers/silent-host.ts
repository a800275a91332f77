/**
 * A host application using the library as the README shows, with no
 * `logger` option, run as its own process by test/integration/diagnostics:
 * a real SSH session, a refused token, a guacd that is not there, a resolver
 * that throws. The library must write nothing; this script writes nothing
 * either and reports through its exit code alone (0: every case went as
 * expected). Only the package's public entry point is used.
 */
import http from 'node:http';
import net from 'node:net';
import { WebSocket } from 'ws';
import { createTunnel, sealToken, tokenResolver, type TunnelOptions } from '../../src/index.js';
import { freePort } from './env.js';

const given = JSON.parse(process.env.SILENT_HOST ?? '{}') as { guacd: { host: string; port: number }; ssh: Record<string, string> };
const SECRET = 'silent-host-secret-0123456789abcdef';

async function listen(options: TunnelOptions): Promise<{ url: string; close(): Promise<void> }> {
  const tunnel = createTunnel(options);
  const server = http.createServer((req, res) => { if (!tunnel.handleHttp(req, res)) res.writeHead(404).end(); });
  server.on('upgrade', (req, socket, head) => tunnel.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/tunnel`,
    async close() {
      await tunnel.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Opens a tunnel; resolves with the close reason, after the first `sync` if `leaveAtSync`. */
function session(url: string, leaveAtSync: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['guacamole']);
    const timer = setTimeout(() => { ws.terminate(); reject(new Error('timeout')); }, 30_000);
    ws.on('message', (data: Buffer) => {
      if (leaveAtSync && /(^|;)4\.sync,/.test(data.toString('utf8'))) ws.close();
    });
    ws.on('error', () => undefined);
    ws.on('close', (_code, reason) => { clearTimeout(timer); resolve(reason.toString('utf8')); });
  });
}

const exp = () => Math.floor(Date.now() / 1000) + 300;
const sshToken = (e = exp()) => encodeURIComponent(sealToken({ iat: e - 900, exp: e, target: { protocol: 'ssh', params: given.ssh } }, SECRET));

async function main(): Promise<boolean> {
  const good = await listen({ guacd: given.guacd, resolve: tokenResolver({ secret: SECRET }) });
  // A browser leaving after the first frame ends the session normally (no reason: a plain close).
  const ok = await session(`${good.url}?token=${sshToken()}`, true);
  const expired = await session(`${good.url}?token=${sshToken(exp() - 600)}`, false);
  await good.close();
  const nowhere = await listen({ guacd: { host: '127.0.0.1', port: await freePort() }, resolve: tokenResolver({ secret: SECRET }) });
  const unreachable = await session(`${nowhere.url}?token=${sshToken()}`, false);
  await nowhere.close();
  const broken = await listen({ guacd: given.guacd, resolve: () => { throw new Error('the host app broke'); } });
  const thrown = await session(broken.url, false);
  await broken.close();
  // CLIENT_TIMEOUT (expired), UPSTREAM_NOT_FOUND (no guacd), SERVER_ERROR (the resolver threw).
  return ok === '' && expired === '776' && unreachable === '519' && thrown === '512';
}

// exit(), not exitCode: after a failure a tunnel may still be listening.
main().then((passed) => process.exit(passed ? 0 : 3), () => process.exit(4));
