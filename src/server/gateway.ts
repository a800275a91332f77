/**
 * The running gateway, assembled: the registry opened first (so a database
 * that cannot be reached stops `serve` before anything listens), the
 * resolver chain, the tunnel with the history hooks, the admin API under
 * `/api/`, session-end requests from other gateways, and the HTTP server.
 * `close()` takes them down in the order that loses no history.
 */
import type http from 'node:http';
import { join } from 'node:path';
import { GuacdPool } from '../guacd/pool.js';
import type { GuacdAddress } from '../guacd/socket.js';
import { silentLogger, type Logger } from '../logger.js';
import { guacamoleLiteResolver } from '../registry/guacamole-lite.js';
import { loadAdminKey } from '../registry/key-file.js';
import { openRegistry, SQLITE_FILE } from '../registry/open.js';
import { redactUrl } from '../registry/postgres.js';
import { registryResolver, registrySessionHooks, sessionControl } from '../registry/resolver.js';
import type { Registry } from '../registry/types.js';
import { tokenResolver, type Resolver } from '../tunnel/resolver.js';
import { createTunnel, type Tunnel } from '../tunnel/tunnel.js';
import { createAdminApi } from './admin-api.js';
import { createGatewayServer } from './app.js';
import { joinNotices } from './join-notices.js';
import { mainPortMetrics, type MetricsSource } from './metrics-http.js';
import { pageShareHandler } from './page-share.js';
import { clientLimits, type Settings } from './settings.js';
import { Recordings } from './recordings.js';
import { recordingRoutes } from './recordings-api.js';
import { playbackHandler } from './recordings-page.js';

/** Path prefix of the admin API. */
export const API_PATH = '/api/';

/** How often spent and revoked token ids past their expiry are deleted. */
const PRUNE_INTERVAL_MS = 10 * 60_000;

/** How often open sessions of dead gateways are looked for. */
const ORPHAN_SWEEP_MS = 60_000;

/** The settings a gateway runs on (settings.ts). */
export type GatewaySettings = Pick<Settings, 'dataDir' | 'db' | 'adminKey' | 'guacamoleLiteKey' | 'idleTimeoutMs' | 'maxSessionMs'
  | 'maxSessionsPerToken' | 'maxSessionsPerUser' | 'maxSessionsPerAddress' | 'handshakeRate' | 'trustedProxies'>
  & Partial<Pick<Settings, 'recordingsDir' | 'recordingMaxAgeMs' | 'recordingMaxMiB' | 'recordingMaxWaitMs'>>;

/** What {@link openGateway} needs. */
export interface GatewayOptions {
  config: GatewaySettings;
  /** The gateway secret: seals tokens and, through HKDF, the stored passwords. */
  secret: string;
  /** The guacd sessions go to: a pool (started and stopped by the caller), or one guacd's current address. */
  guacd: GuacdPool | (() => GuacdAddress);
  /** Folder of the built client page. */
  webRoot: string;
  /** The server's logger (`createServerLogger`); every layer reports through it. Default: nowhere. */
  logger?: Logger;
  /** The id this process records its sessions under (a worker names itself); default a random UUID. */
  gatewayId?: string;
  /**
   * At start, end every open session of a SQLite file (it had one gateway: they are the previous run's).
   * Default true; false for a worker joining others on the same file (theirs are alive).
   */
  endAllOpenAtStart?: boolean;
  /** `/metrics` on the main port, behind the admin key: the metrics text to answer with. */
  mainPortMetrics?: MetricsSource;
  /** A worker's part of the HTTP tunnel across workers (cluster-http-relay.ts): its token prefix and relay. */
  httpTunnel?: { tokenPrefix: string; relay: (req: http.IncomingMessage, res: http.ServerResponse) => boolean };
}

/** A gateway whose server is built but not listening yet. */
export interface Gateway {
  readonly server: http.Server;
  readonly tunnel: Tunnel;
  readonly registry: Registry;
  /** The guacd pool, when given one: `status()` gives each guacd's health and session count (what metrics read). */
  readonly guacd: GuacdPool | undefined;
  /** Where the registry lives, without any password. */
  readonly database: string;
  /** Where the admin key comes from: `GATEWAY_ADMIN_KEY` or the key file's path (never the key). */
  readonly adminKeySource: string;
  /** Session recordings: folder, retention, links. */
  readonly recordings: Recordings;
  /** Closes sessions, waits for their history to be written, closes the registry. Idempotent. */
  close(): Promise<void>;
}

/** Where the admin key comes from: `GATEWAY_ADMIN_KEY` or the key file's path (never the key). */
export function adminKeySource(config: Pick<Settings, 'adminKey' | 'dataDir'>): string {
  return config.adminKey !== undefined ? 'GATEWAY_ADMIN_KEY' : join(config.dataDir, 'admin-key');
}

/**
 * The tunnel's resolver: registry tokens (`token --connection`), the
 * self-contained tokens of `token --protocol` through the same revocation
 * and single-use checks, and guacamole-lite's tokens when a key is given.
 * The gateway's own tokens start `v1.`; guacamole-lite's are plain base64,
 * which has no dot, so the prefix tells them apart.
 */
export function gatewayResolver(registry: Registry, secret: string, guacamoleLiteKey?: string, logger?: Logger): Resolver {
  const own = registryResolver(registry, secret, { fallback: tokenResolver({ secret }) });
  if (guacamoleLiteKey === undefined) return own;
  const lite = guacamoleLiteResolver({ key: guacamoleLiteKey, ...(logger ? { logger } : {}) });
  return (req) => (/^v\d+\./.test(req.query.get('token') ?? 'v1.') ? own(req) : lite(req));
}

/**
 * Opens the registry and builds everything on it.
 * @throws GuacError from `openRegistry` (`GUAC_REGISTRY_UNAVAILABLE`, `GUAC_REGISTRY_KEY_MISMATCH`, …),
 *   `GUAC_KEY_FILE` for an admin key file that cannot be made, `GUAC_CONFIG_INVALID` for a short admin key
 */
export async function openGateway(options: GatewayOptions): Promise<Gateway> {
  const { config, secret } = options;
  const logger = options.logger ?? silentLogger;
  const registry = await openRegistry(config.db, {
    dataDir: config.dataDir, secretKey: secret, logger, ...(options.gatewayId === undefined ? {} : { gatewayId: options.gatewayId }),
  });
  const database = config.db === undefined
    ? join(config.dataDir, SQLITE_FILE)
    : /^postgres(ql)?:/i.test(config.db) ? redactUrl(config.db) : config.db;
  try {
    const adminKey = loadAdminKey(config.dataDir, config.adminKey, logger);
    const resolve = gatewayResolver(registry, secret, config.guacamoleLiteKey, logger);

    // History writes still running; close() waits for them before closing the registry.
    const pending = new Set<Promise<void>>();
    const track = (p: Promise<void>): Promise<void> => {
      pending.add(p);
      void p.finally(() => pending.delete(p));
      return p;
    };
    const recordings = await openRecordings(config, registry, secret, logger);
    const hooks = registrySessionHooks(registry);
    const notices = joinNotices(() => tunnel.sessions.values());
    const tunnel: Tunnel = createTunnel({
      guacd: options.guacd,
      resolve,
      idleTimeoutMs: config.idleTimeoutMs,
      maxSessionMs: config.maxSessionMs,
      limits: clientLimits(config),
      trustedProxies: config.trustedProxies,
      ...(options.httpTunnel ? { httpTokenPrefix: options.httpTunnel.tokenPrefix } : {}),
      logger,
      recorder: recordings.factory,
      onSessionStart: (info) => {
        notices.joined(info);
        return track(hooks.onSessionStart(info));
      },
      onSessionEnd: (record) => {
        notices.left(record);
        return track(hooks.onSessionEnd(record));
      },
      onTransfer: (record, info) => track(hooks.onTransfer(record, info)),
    });
    const api = createAdminApi({
      registry, adminKey, logger, sessions: sessionControl((id) => tunnel.sessions.get(id)), routes: recordingRoutes(recordings),
    });
    // Requests to end a session hosted here, from this gateway's API (SQLite) or any gateway's (PostgreSQL NOTIFY).
    const unsubscribe = await registry.onSessionEndRequest((id, status, message) => {
      const session = tunnel.sessions.get(id);
      if (!session) return;
      logger.info({ session: id, status: status.guac }, 'closing a session on request');
      session.close(status, message);
    });
    const prune = setInterval(() => {
      registry.pruneTokens().catch((err: unknown) => logger.warn({ error: err }, 'registry: pruning token ids failed'));
    }, PRUNE_INTERVAL_MS);
    prune.unref();
    // Sessions a crashed gateway (this one's previous run, or another sharing the database) left open.
    const endOrphans = (staleMs?: number): void => {
      registry.endOrphanedSessions(staleMs === undefined ? {} : { staleMs }).then(
        (n) => { if (n > 0) logger.warn({ sessions: n }, 'registry: ended sessions whose gateway stopped without ending them'); },
        (err: unknown) => logger.warn({ error: err }, 'registry: ending orphaned sessions failed'),
      );
    };
    await registry.startHeartbeat();
    // A SQLite file has one gateway: every session open in it at start is the previous run's.
    endOrphans(registry.kind === 'sqlite' && options.endAllOpenAtStart !== false ? 0 : undefined);
    const sweep = setInterval(() => endOrphans(), ORPHAN_SWEEP_MS);
    sweep.unref();
    const retention = retain(recordings, logger);

    const server = createGatewayServer({
      tunnel, webRoot: options.webRoot, guacd: options.guacd, api, logger, share: pageShareHandler(registry, secret), recordings: playbackHandler(recordings),
      ...(options.mainPortMetrics ? { metrics: mainPortMetrics(options.mainPortMetrics, adminKey, logger) } : {}),
      ...(options.httpTunnel ? { relayHttpTunnel: options.httpTunnel.relay } : {}),
    });
    let closing: Promise<void> | undefined;
    return {
      server,
      tunnel,
      registry,
      guacd: options.guacd instanceof GuacdPool ? options.guacd : undefined,
      database,
      recordings,
      adminKeySource: adminKeySource(config),
      close() {
        closing ??= (async () => {
          clearInterval(prune);
          clearInterval(sweep);
          clearInterval(retention);
          unsubscribe();
          const closed = new Promise<void>((done) => server.close(() => done()));
          await tunnel.close();
          server.closeAllConnections();
          await closed;
          await Promise.allSettled([...pending]);
          await recordings.settle();
          await registry.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    await registry.close().catch(() => undefined);
    throw err;
  }
}

/** How often retention runs. */
const RETENTION_MS = 60_000;

/** The recordings of this gateway, its folder made if missing. */
async function openRecordings(config: GatewaySettings, registry: Registry, secret: string, logger: Logger): Promise<Recordings> {
  const recordings = new Recordings({
    dir: config.recordingsDir ?? join(config.dataDir, 'recordings'), registry, secret, logger,
    maxAgeMs: config.recordingMaxAgeMs ?? 0, maxTotalBytes: (config.recordingMaxMiB ?? 0) * 1024 * 1024,
    ...(config.recordingMaxWaitMs === undefined ? {} : { maxStallMs: config.recordingMaxWaitMs }),
  });
  // A folder that cannot be made is each recording's fault (required: refused; best-effort: incomplete), not the gateway's.
  await recordings.prepare().catch((err: unknown) => logger.warn({ error: err, dir: recordings.dir }, 'recording: folder not made'));
  return recordings;
}

/** Runs retention now and every minute. */
function retain(recordings: Recordings, logger: Logger): NodeJS.Timeout {
  const run = (): void => {
    recordings.enforceRetention().catch((err: unknown) => logger.warn({ error: err }, 'recording: retention failed'));
  };
  run();
  const timer = setInterval(run, RETENTION_MS);
  timer.unref();
  return timer;
}
