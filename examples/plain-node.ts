/**
 * The tunnel on a plain `node:http` server. Run guacd, then:
 *   GATEWAY_SECRET=$(openssl rand -hex 32) [GUACD_HOST=… GUACD_PORT=… PORT=…] node dist/examples/plain-node.js
 * and point guacamole-common-js at ws://localhost:8080/tunnel (or the HTTP
 * tunnel at http://localhost:8080/tunnel) with `token=…` as connect data,
 * the token minted by `guacamole-gateway token` with the same secret.
 */
import http from 'node:http';
import { createTunnel, tokenResolver } from 'guacamole-gateway';

const secret = process.env.GATEWAY_SECRET;
if (!secret) throw new Error('set GATEWAY_SECRET (at least 16 characters)');

const tunnel = createTunnel({
  guacd: { host: process.env.GUACD_HOST ?? '127.0.0.1', port: Number(process.env.GUACD_PORT ?? 4822) },
  resolve: tokenResolver({ secret }),
  idleTimeoutMs: 15 * 60_000,
  onSessionEnd: (s) => process.stdout.write(`session ${s.id} ended: ${s.status.name}\n`),
});

const server = http.createServer((req, res) => {
  if (req.url?.startsWith('/tunnel') && tunnel.handleHttp(req, res)) return;
  res.writeHead(404).end();
});
server.on('upgrade', (req, socket, head) => {
  if (req.url?.startsWith('/tunnel')) tunnel.handleUpgrade(req, socket, head);
  else socket.destroy();
});
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1');

process.once('SIGINT', () => {
  server.close();
  void tunnel.close();
});
