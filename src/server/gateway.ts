/**
 * The running gateway, assembled: the registry opened first (so a database
 * that cannot be reached stops `serve` before anything listens), the
 * resolver chain, the tunnel with the history hooks, the admin API under
 * `/api/`, session-end requests from other gateways, and the HTTP server.
 * `close()` takes them down in the order that loses no history.
 */
import type http from 'node:http';
import { join } from 'node:path';
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
import { pageShareHandler } from './page-share.js';
import { clientLimits, type Settings } from './settings.js';

/** Path prefix of the admin API. */
export const API_PATH = '/api/';

/** How often spent and revoked token ids past their expiry are deleted. */
const PRUNE_INTERVAL_MS = 10 * 60_000;

/** How often open sessions of dead gateways are looked for. */
const ORPHAN_SWEEP_MS = 60_000;

/** The settings a gateway runs on (settings.ts). */
export type GatewaySettings = Pick<Settings, 'dataDir' | 'db' | 'adminKey' | 'guacamoleLiteKey' | 'idleTimeoutMs' | 'maxSessionMs'
  | 'maxSessionsPerToken' | 'maxSessionsPerUser' | 'maxSessionsPerAddress' | 'handshakeRate' | 'trustedProxies'>;

/** What {@link openGateway} needs. */
export interface GatewayOptions {
  config: GatewaySettings;
  /** The gateway secret: seals tokens and, through HKDF, the stored passwords. */
  secret: string;
  /** guacd's current address (a supervised guacd may move). */
  guacd: () => GuacdAddress;
  /** Folder of the built client page. */
  webRoot: string;
  /** The server's logger (`createServerLogger`); every layer reports through it. Default: nowhere. */
  logger?: Logger;
}

/** A gateway whose server is built but not listening yet. */
export interface Gateway {
  readonly server: http.Server;
  readonly tunnel: Tunnel;
  readonly registry: Registry;
  /** Where the registry lives, without any password. */
  readonly database: string;
  /** Where the admin key comes from: `GATEWAY_ADMIN_KEY` or the key file's path (never the key). */
  readonly adminKeySource: string;
  /** Closes sessions, waits for their history to be written, closes the registry. Idempotent. */
  close(): Promise<void>;
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
  const registry = await openRegistry(config.db, { dataDir: config.dataDir, secretKey: secret, logger });
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
    const hooks = registrySessionHooks(registry);
    const notices = joinNotices(() => tunnel.sessions.values());
    const tunnel: Tunnel = createTunnel({
      guacd: options.guacd,
      resolve,
      idleTimeoutMs: config.idleTimeoutMs,
      maxSessionMs: config.maxSessionMs,
      limits: clientLimits(config),
      trustedProxies: config.trustedProxies,
      logger,
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
    const api = createAdminApi({ registry, adminKey, logger, sessions: sessionControl((id) => tunnel.sessions.get(id)) });
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
    endOrphans(registry.kind === 'sqlite' ? 0 : undefined);
    const sweep = setInterval(() => endOrphans(), ORPHAN_SWEEP_MS);
    sweep.unref();

    const server = createGatewayServer({ tunnel, webRoot: options.webRoot, guacd: options.guacd, api, logger, share: pageShareHandler(registry, secret) });
    let closing: Promise<void> | undefined;
    return {
      server,
      tunnel,
      registry,
      database,
      adminKeySource: config.adminKey !== undefined ? 'GATEWAY_ADMIN_KEY' : join(config.dataDir, 'admin-key'),
      close() {
        closing ??= (async () => {
          clearInterval(prune);
          clearInterval(sweep);
          unsubscribe();
          const closed = new Promise<void>((done) => server.close(() => done()));
          await tunnel.close();
          server.closeAllConnections();
          await closed;
          await Promise.allSettled([...pending]);
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
