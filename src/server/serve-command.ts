/**
 * `serve`: the gateway. Opens the registry first (a database that cannot be
 * reached stops it before guacd starts or a port opens), starts and
 * supervises a local guacd unless `--guacd` names some (a pool), listens,
 * and on SIGINT/SIGTERM closes the sessions and writes their history before
 * it exits; with `--drain S`, SIGTERM first lets live sessions run up to S
 * seconds while refusing new ones. It reads every setting of the table (settings.ts).
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { isGuacError } from '../protocol/errors.js';
import { REGISTRY } from '../registry/errors.js';
import type { Logger } from '../logger.js';
import { loadGatewaySecret } from '../registry/key-file.js';
import { command } from './cli-command.js';
import { API_PATH, openGateway } from './gateway.js';
import { guacdPool } from './guacd-pool.js';
import { findGuacd, GuacdProcess } from './guacd-process.js';
import { SETTINGS } from './settings.js';

/** dist/web, next to dist/src/server where this module runs from. */
function webRoot(): string {
  return fileURLToPath(new URL('../../web/', import.meta.url));
}

/** Resolves on SIGINT, SIGTERM or `signal` (with what came); a second signal exits at once. */
function stopRequested(signal: AbortSignal | undefined, logger: Logger): Promise<NodeJS.Signals | 'abort'> {
  return new Promise((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      logger.info({ signal: sig }, 'shutting down');
      // A second signal does not wait for the graceful path (nor for a drain).
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      resolve(sig);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    signal?.addEventListener('abort', () => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      resolve('abort');
    }, { once: true });
  });
}

/**
 * `--drain`: new sessions are refused (`/healthz` says 503 so that a balancer
 * sends them elsewhere) while the live ones get up to `ms` to end; those
 * still open then are ended by the gateway's close (SESSION_CLOSED).
 */
async function drain(tunnel: { drain(): Promise<void>; readonly sessions: ReadonlyMap<string, unknown> }, ms: number, logger: Logger): Promise<void> {
  logger.info({ sessions: tunnel.sessions.size, drainMs: ms }, 'draining: no new sessions; live ones may go on');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    tunnel.drain().then(() => false),
    new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), ms); }),
  ]);
  clearTimeout(timer);
  if (timedOut) logger.info({ sessions: tunnel.sessions.size }, 'drain time is up; ending the sessions left');
  else logger.info({}, 'drained: no session left');
}

/** The `serve` command. */
export const SERVE_COMMAND = command({
  name: 'serve',
  usage: '[--host 127.0.0.1] [--port 8080] [--guacd HOST:PORT]... [--drain S] [--db URL] [settings...]',
  summary: 'Serves the client page at /, the tunnel at /tunnel, the admin API at /api/ and /healthz; '
    + 'without --guacd runs and supervises its own guacd. Every setting: serve --help, docs/configuration.md.',
  settings: SETTINGS.map((s) => s.name),
  async run({ settings: s, io, logger }) {
    const secret = loadGatewaySecret(s.dataDir, s.secret, logger);
    let guacd: GuacdProcess | undefined;
    let guacdBin: string | undefined;
    if (!s.guacd) {
      guacdBin = findGuacd(s.guacdBin, io.env.PATH ?? '');
      if (!guacdBin) {
        throw REGISTRY.GUAC_CONFIG_INVALID({ message: s.guacdBin
          ? `--guacd-bin ${JSON.stringify(s.guacdBin)} is not an executable.`
          : 'No guacd found: pass --guacd HOST:PORT or --guacd-bin PATH, or run bash scripts/provision-guacd.sh.' });
      }
    }
    const pool = guacdPool(s, () => guacd!.address);

    const root = webRoot();
    if (!existsSync(`${root}index.html`)) logger.warn({ root }, 'client page not built (dist/web/index.html missing): run npm run build');
    const gateway = await openGateway({ config: s, secret, guacd: pool, webRoot: root, logger });
    const { server } = gateway;
    const killGuacd = () => { if (guacd?.running) void guacd.stop(); };
    try {
      if (guacdBin) {
        guacd = new GuacdProcess(guacdBin, s.guacdLogLevel, logger);
        process.once('exit', killGuacd);
        await guacd.start();
      }
      pool.start();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(s.port, s.host, () => {
          server.removeListener('error', reject);
          resolve();
        });
      });
    } catch (e) {
      pool.stop();
      await gateway.close();
      await guacd?.stop();
      process.removeListener('exit', killGuacd);
      if (isGuacError(e)) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      io.err(`error: cannot listen on ${s.host}:${s.port}${code ? ` (${code})` : ''}\n`);
      return 1;
    }
    const { address, port } = server.address() as AddressInfo;
    const base = `http://${address.includes(':') ? `[${address}]` : address}:${port}/`;
    io.out(`guacamole-gateway listening on ${base}\n`);
    io.out(`registry: ${gateway.registry.kind} ${gateway.database}\n`);
    io.out(`admin API: ${base}${API_PATH.slice(1)} (Authorization: Bearer <key from ${gateway.adminKeySource}>)\n`);
    logger.info({ host: address, port, guacd: guacd ? 'local' : pool.names, registry: gateway.registry.kind }, 'gateway listening');

    const stop = await stopRequested(io.signal, logger);
    if (stop === 'SIGTERM' && s.drainMs > 0) await drain(gateway.tunnel, s.drainMs, logger);
    pool.stop();
    await gateway.close();
    await guacd?.stop();
    process.removeListener('exit', killGuacd);
    io.out('guacamole-gateway stopped\n');
    return 0;
  },
});
