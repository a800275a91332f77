/**
 * The tunnel inside an Express app: HTTP tunnel requests through a route,
 * WebSocket upgrades through the server Express returns from `listen`.
 *   GATEWAY_SECRET=… [GUACD_HOST=… GUACD_PORT=… PORT=…] node dist/examples/express.js
 */
import express from 'express';
import { createTunnel, tokenResolver } from 'guacamole-gateway';

const secret = process.env.GATEWAY_SECRET;
if (!secret) throw new Error('set GATEWAY_SECRET (at least 16 characters)');

const tunnel = createTunnel({
  guacd: { host: process.env.GUACD_HOST ?? '127.0.0.1', port: Number(process.env.GUACD_PORT ?? 4822) },
  resolve: tokenResolver({ secret }),
});

const app = express();
// No body parser on this route: the tunnel reads the request body itself.
app.all('/tunnel', (req, res, next) => {
  if (!tunnel.handleHttp(req, res)) next();
});
app.get('/', (_req, res) => {
  res.type('text').send('guacamole-gateway tunnel at /tunnel\n');
});

const server = app.listen(Number(process.env.PORT ?? 8080), '127.0.0.1');
server.on('upgrade', (req, socket, head) => {
  if (req.url?.startsWith('/tunnel')) tunnel.handleUpgrade(req, socket, head);
  else socket.destroy();
});

process.once('SIGINT', () => {
  server.close();
  void tunnel.close();
});
