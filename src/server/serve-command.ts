/**
 * `serve`: the gateway. Opens the registry first (a database that cannot be
 * reached stops it before guacd starts or a port opens), starts and
 * supervises a local guacd unless `--guacd` names some (a pool), listens,
 * and on SIGINT/SIGTERM closes the sessions and writes their history before
 * it exits; with `--drain S`, SIGTERM first lets live sessions run up to S
 * seconds while refusing new ones. It reads every setting of the table
 * (settings.ts). With
 * `--workers N` this process is the primary (cluster-primary.ts) and each
 * worker runs the gateway (cluster-worker.ts).
 */
import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { isGuacError } from '../protocol/errors.js';
import { REGISTRY } from '../registry/errors.js';
import type { Logger } from '../logger.js';
import { loadAdminKey, loadGatewaySecret } from '../registry/key-file.js';
import { command, type CommandIo } from './cli-command.js';
import { Primary } from './cluster-primary.js';
import { httpTokenPrefix } from './cluster-http-relay.js';
import { drain, WorkerLink } from './cluster-worker.js';
import { adminKeySource, API_PATH, openGateway } from './gateway.js';
import { guacdPool } from './guacd-pool.js';
import { findGuacd, GuacdProcess } from './guacd-process.js';
import { createMetrics } from './metrics.js';
import { listen, METRICS_PATH, metricsServer } from './metrics-http.js';
import { SETTINGS, type Settings } from './settings.js';
import type { SessionHandle } from '../tunnel/types.js';

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
async function drainFor(tunnel: { drain(): Promise<void>; readonly sessions: ReadonlyMap<string, unknown> }, ms: number, logger: Logger): Promise<void> {
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

/**
 * A worker stops when the primary says so: SIGTERM, or its IPC channel
 * closing (the primary is gone). SIGINT from a terminal reaches the whole
 * process group: the primary turns it into SIGTERM, so the worker ignores it.
 * A second SIGTERM (systemd's KillMode=control-group signals every process,
 * then the primary signals its workers) must not cut the graceful path short.
 */
function workerStopRequested(logger: Logger): Promise<void> {
  process.on('SIGINT', () => undefined);
  return new Promise<void>((resolve) => {
    let stopping = false;
    process.on('SIGTERM', () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal: 'SIGTERM' }, 'worker shutting down');
      resolve();
    });
    process.once('disconnect', () => {
      logger.warn({}, 'worker lost its primary: shutting down');
      resolve();
    });
  });
}

/** Without `--guacd`, the local guacd to supervise (not started yet); with it, none. */
function localGuacd(s: Settings, io: CommandIo): string | undefined {
  if (s.guacd) return undefined;
  const bin = findGuacd(s.guacdBin, io.env.PATH ?? '');
  if (!bin) {
    throw REGISTRY.GUAC_CONFIG_INVALID({ message: s.guacdBin
      ? `--guacd-bin ${JSON.stringify(s.guacdBin)} is not an executable.`
      : 'No guacd found: pass --guacd HOST:PORT or --guacd-bin PATH, or run bash scripts/provision-guacd.sh.' });
  }
  return bin;
}

/** `http://host:port/` of a listening address. */
function baseUrl(address: string, port: number): string {
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}/`;
}

/** The error line of a listener that could not start. */
function listenFailed(io: CommandIo, where: string, e: unknown): number {
  const code = (e as NodeJS.ErrnoException).code;
  io.err(`error: cannot listen on ${where}${code ? ` (${code})` : ''}\n`);
  return 1;
}

/** `serve --workers N` in the primary: forks, supervises and stops the workers. */
async function servePrimary(s: Settings & { workers: number }, io: CommandIo, logger: Logger): Promise<number> {
  // Made once here, so workers starting together read the same files instead of racing to write them.
  loadGatewaySecret(s.dataDir, s.secret, logger);
  loadAdminKey(s.dataDir, s.adminKey, logger);
  const bin = localGuacd(s, io);
  let guacd: GuacdProcess | undefined;
  const killGuacd = () => { if (guacd?.running) void guacd.stop(); };
  const metricsListen = typeof s.metricsListen === 'object' ? s.metricsListen : undefined;
  const primary = new Primary({
    workers: s.workers, logger, ...(metricsListen ? { metricsListen } : {}), ...(bin ? { guacd: () => guacd!.address } : {}),
  });
  try {
    if (bin) {
      guacd = new GuacdProcess(bin, s.guacdLogLevel, logger);
      process.once('exit', killGuacd);
      await guacd.start();
    }
    await primary.start();
  } catch (e) {
    await primary.stop();
    await guacd?.stop();
    process.removeListener('exit', killGuacd);
    if (isGuacError(e)) throw e;
    if ((e as NodeJS.ErrnoException).code) return listenFailed(io, metricsListen ? `${metricsListen.host}:${metricsListen.port}` : `${s.host}:${s.port}`, e);
    io.err(`error: ${(e as Error).message}\n`);
    return 1;
  }
  const base = baseUrl(primary.address.address, primary.address.port);
  io.out(`guacamole-gateway listening on ${base}\n`);
  io.out(`workers: ${s.workers} (SIGHUP replaces them one at a time)\n`);
  io.out(`admin API: ${base}${API_PATH.slice(1)} (Authorization: Bearer <key from ${adminKeySource(s)}>)\n`);
  const m = primary.metricsAddress();
  if (m) io.out(`metrics: ${baseUrl(m.address, m.port)}${METRICS_PATH.slice(1)}\n`);
  const onHup = () => { void primary.roll(); };
  process.on('SIGHUP', onHup);

  const stop = await stopRequested(io.signal, logger);
  process.removeListener('SIGHUP', onHup);
  // --drain applies to SIGTERM (a balancer's or systemd's stop); SIGINT is someone at a terminal.
  await primary.stop(stop === 'SIGTERM' ? s.drainMs : 0);
  await guacd?.stop();
  process.removeListener('exit', killGuacd);
  io.out('guacamole-gateway stopped\n');
  return 0;
}

/** The `serve` command. */
export const SERVE_COMMAND = command({
  name: 'serve',
  usage: '[--host 127.0.0.1] [--port 8080] [--guacd HOST:PORT]... [--drain S] [--db URL] [--workers N|auto] [settings...]',
  summary: 'Serves the client page at /, the tunnel at /tunnel, the admin API at /api/ and /healthz; '
    + 'without --guacd runs and supervises its own guacd. Every setting: serve --help, docs/configuration.md.',
  settings: SETTINGS.map((s) => s.name),
  async run({ settings: s, io, logger: serverLogger }) {
    if (s.workers !== undefined && cluster.isPrimary) return servePrimary({ ...s, workers: s.workers }, io, serverLogger);
    try {
      return await serveGateway(s, io, serverLogger);
    } finally {
      // A worker's IPC channel would keep it alive, failed or done; closing it lets the process end.
      if (cluster.isWorker && process.connected) process.disconnect();
    }
  },
});

/** One gateway: the whole of `serve` without `--workers`, or one worker. */
async function serveGateway(s: Settings, io: CommandIo, serverLogger: Logger): Promise<number> {
  const link = cluster.isWorker ? new WorkerLink(serverLogger) : undefined;
  const logger = link ? serverLogger.child({ worker: link.id }) : serverLogger;
  const secret = loadGatewaySecret(s.dataDir, s.secret, logger);
  // A worker's guacd is --guacd or the one its primary supervises.
  const bin = link ? undefined : localGuacd(s, io);
  let guacd: GuacdProcess | undefined;
  const pool = guacdPool(s, link && !s.guacd ? await link.guacd() : () => guacd!.address);

  const root = webRoot();
  if (!existsSync(`${root}index.html`) && !link) logger.warn({ root }, 'client page not built (dist/web/index.html missing): run npm run build');
  let liveSessions: ReadonlyMap<string, SessionHandle> | undefined;
  const metrics = s.metricsListen === undefined ? undefined : createMetrics({
    processMetrics: true, guacd: () => pool.status(), sessions: () => liveSessions?.values() ?? [],
  });
  if (metrics && link) link.serveMetrics(metrics.registry);
  const ownMetrics = metrics ? () => metrics.registry.metrics() : undefined;
  const gateway = await openGateway({
    config: s, secret, guacd: pool, webRoot: root, logger,
    ...(link ? {
      gatewayId: link.gatewayId, endAllOpenAtStart: link.id === 1,
      httpTunnel: { tokenPrefix: httpTokenPrefix(link.id), relay: (req, res) => link.relay.route(req, res) },
    } : {}),
    ...(s.metricsListen === 'main' ? { mainPortMetrics: link ? link.summedMetrics : ownMetrics! } : {}),
  });
  const { server } = gateway;
  liveSessions = gateway.tunnel.sessions;
  const metricsListen = !link && typeof s.metricsListen === 'object' ? s.metricsListen : undefined;
  const scrapes = metricsListen ? metricsServer(ownMetrics!, logger) : undefined;
  const killGuacd = () => { if (guacd?.running) void guacd.stop(); };
  let where = `${s.host}:${s.port}`;
  try {
    if (bin) {
      guacd = new GuacdProcess(bin, s.guacdLogLevel, logger);
      process.once('exit', killGuacd);
      await guacd.start();
    }
    pool.start();
    await listen(server, s.port, s.host);
    if (scrapes) {
      where = `${metricsListen!.host}:${metricsListen!.port}`;
      await listen(scrapes, metricsListen!.port, metricsListen!.host);
    }
  } catch (e) {
    pool.stop();
    await gateway.close();
    metrics?.close();
    scrapes?.close();
    await guacd?.stop();
    process.removeListener('exit', killGuacd);
    if (isGuacError(e)) throw e;
    return listenFailed(io, where, e);
  }
  const { address, port } = server.address() as AddressInfo;
  if (link) {
    await link.ready(gateway, address, port);
    logger.info({ host: address, port, registry: gateway.registry.kind, gateway: link.gatewayId }, 'worker listening');
    await Promise.race([
      workerStopRequested(logger),
      link.stopRequested.then((ms) => drainFor(gateway.tunnel, ms, logger)),
      link.drainRequested.then(async () => {
        await drain(gateway, logger);
        await link.sendFinalMetrics();
      }),
    ]);
    pool.stop();
    await gateway.close();
    link.relay.close();
    metrics?.close();
    return 0;
  }
  const base = baseUrl(address, port);
  io.out(`guacamole-gateway listening on ${base}\n`);
  io.out(`registry: ${gateway.registry.kind} ${gateway.database}\n`);
  io.out(`admin API: ${base}${API_PATH.slice(1)} (Authorization: Bearer <key from ${gateway.adminKeySource}>)\n`);
  if (scrapes) {
    const m = scrapes.address() as AddressInfo;
    io.out(`metrics: ${baseUrl(m.address, m.port)}${METRICS_PATH.slice(1)}\n`);
  }
  logger.info({ host: address, port, guacd: guacd ? 'local' : pool.names, registry: gateway.registry.kind }, 'gateway listening');

  const stop = await stopRequested(io.signal, logger);
  if (stop === 'SIGTERM' && s.drainMs > 0) await drainFor(gateway.tunnel, s.drainMs, logger);
  pool.stop();
  await gateway.close();
  metrics?.close();
  await new Promise<void>((resolve) => (scrapes ? scrapes.close(() => resolve()) : resolve()));
  await guacd?.stop();
  process.removeListener('exit', killGuacd);
  io.out('guacamole-gateway stopped\n');
  return 0;
}
