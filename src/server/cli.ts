/**
 * The `guacamole-gateway` command.
 *
 *   serve [--host 127.0.0.1] [--port 8080] [--guacd HOST:PORT] [--idle-timeout S] [--max-session S]
 *         [--db URL] [--guacamole-lite-key KEY] [--max-sessions-per-token N] [--max-sessions-per-user N]
 *         [--max-sessions-per-address N] [--handshake-rate N/S] [--trust-proxy ADDR,…]
 *   token --protocol P --param NAME=VALUE... [--secret-stdin NAME] [--read-only] [--ttl S] [--user U] [--once] [--url BASE]
 *   token --connection … | token revoke …   (registry tokens, see registry-cli.ts)
 *   connection …                              (registry connections, see registry-cli.ts)
 *   session list | session end ID             (history, ending a live session, see registry-cli.ts)
 *
 * Exit codes: 0 done, 1 failed, 2 bad usage or configuration.
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isGuacError } from '../protocol/errors.js';
import { normalizeParams, PROTOCOLS, type Protocol } from '../guacd/params.js';
import type { GuacdAddress } from '../guacd/socket.js';
import type { Logger } from '../logger.js';
import { createServerLogger, parseLogLevel } from './logger.js';
import { DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS } from '../registry/validate.js';
import { CLIENT_LIMIT_DEFAULTS } from '../tunnel/options.js';
import { sealToken } from '../tunnel/token.js';
import { dataDirFrom, serveConfig } from './config.js';
import { API_PATH, openGateway } from './gateway.js';
import { findGuacd, GuacdProcess } from './guacd-process.js';
import { runConnectionCommand, runRegistryTokenCommand, runSessionCommand } from './registry-cli.js';
import { loadSecret } from './secret.js';

/** Where the CLI writes and what it reads; process defaults. */
export interface CliContext {
  out?: (text: string) => void;
  err?: (text: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Reads standard input (`--secret-stdin`). */
  readStdin?: () => Promise<string>;
  /** Stops `serve` (in addition to SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** `serve`'s logger; default `createServerLogger` at `GATEWAY_LOG_LEVEL` on stderr. */
  logger?: Logger;
}

const D = CLIENT_LIMIT_DEFAULTS;
const USAGE = `usage: guacamole-gateway <command>
  serve [--host 127.0.0.1] [--port 8080] [--guacd HOST:PORT] [--idle-timeout SECONDS] [--max-session SECONDS]
      Serves the client page at /, the tunnel at /tunnel and /healthz. Without --guacd,
      runs the guacd from scripts/provision-guacd.sh (or GATEWAY_GUACD_BIN, or PATH).
      --port 0 picks a free port; the URL is printed on start.
      --db URL: the registry (connections, grants, history): postgres://… or a SQLite
      file; else DATABASE_URL, else <data dir>/gateway.db. The admin API is at /api/,
      key GATEWAY_ADMIN_KEY, else <data dir>/admin-key. --guacamole-lite-key (or
      GATEWAY_GUACAMOLE_LITE_KEY) also accepts guacamole-lite's tokens.
      Per-client limits (0 = none), refused with CLIENT_TOO_MANY (797):
      --max-sessions-per-token N (default ${D.maxSessionsPerToken}), --max-sessions-per-user N (${D.maxSessionsPerUser}),
      --max-sessions-per-address N (${D.maxSessionsPerAddress}), --handshake-rate N/SECONDS (${D.handshakesPerAddress}/${D.handshakeWindowMs / 1000}, per address);
      or GATEWAY_MAX_SESSIONS_PER_TOKEN, _PER_USER, _PER_ADDRESS, GATEWAY_HANDSHAKE_RATE.
      --trust-proxy ADDR[,ADDR] (GATEWAY_TRUST_PROXY): proxies whose X-Forwarded-For
      names the client; set it behind nginx, else every browser shares its address.
  token --protocol ssh|vnc|rdp|telnet|kubernetes --param NAME=VALUE... [--secret-stdin NAME]
        [--read-only] [--ttl SECONDS] [--user NAME] [--once] [--url BASE_URL]
      Prints an access token (open BASE_URL?token=TOKEN), valid --ttl seconds (default 300).
      --secret-stdin reads one parameter's value (e.g. password) from standard input
      instead of the command line.
  token --connection NAME --user USER ... | token revoke ...   registry tokens
  connection ...                                               registry connections
  session list [--active] | session end ID                     history; end a live session
The signing secret: GATEWAY_SECRET, else <data dir>/secret (GATEWAY_DATA_DIR, default ./data).`;

class UsageError extends Error {}

/** Errors that say the configuration is wrong (exit code 2) rather than that something failed (1). */
const CONFIG_ERRORS = new Set(['GUAC_CONFIG_INVALID', 'GUAC_REGISTRY_URL_INVALID', 'GUAC_REGISTRY_KEY_MISMATCH', 'GUAC_SECRET_WEAK']);


/**
 * Runs the CLI.
 * @param argv the arguments after the program name
 * @returns the exit code
 */
export async function main(argv: string[], ctx: CliContext = {}): Promise<number> {
  const out = ctx.out ?? ((s: string) => void process.stdout.write(s));
  const err = ctx.err ?? ((s: string) => void process.stderr.write(s));
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serve(rest, ctx, out, err);
      case 'token':
        if (rest[0] === 'revoke' || rest.some((a) => a === '--connection' || a.startsWith('--connection='))) {
          return await runRegistryTokenCommand(rest, registryContext(ctx, out, err));
        }
        return await token(rest, ctx, out);
      case 'connection':
        return await runConnectionCommand(rest, registryContext(ctx, out, err));
      case 'session':
        return await runSessionCommand(rest, registryContext(ctx, out, err));
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        out(USAGE + '\n');
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`error: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    if (isGuacError(e)) {
      err(`error: ${e.message}\n`);
      return CONFIG_ERRORS.has(e.code) || e.status.name === 'CLIENT_BAD_REQUEST' ? 2 : 1;
    }
    throw e;
  }
}

function registryContext(ctx: CliContext, out: (s: string) => void, err: (s: string) => void) {
  return { out, err, ...(ctx.env ? { env: ctx.env } : {}), ...(ctx.readStdin ? { readStdin: ctx.readStdin } : {}) };
}

function parse<T extends NonNullable<Parameters<typeof parseArgs>[0]>['options']>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function token(args: string[], ctx: CliContext, out: (s: string) => void): Promise<number> {
  const { values } = parse(args, {
    protocol: { type: 'string' },
    param: { type: 'string', multiple: true },
    'secret-stdin': { type: 'string' },
    'read-only': { type: 'boolean' },
    ttl: { type: 'string' },
    user: { type: 'string' },
    once: { type: 'boolean' },
    url: { type: 'string' },
  });
  const protocol = values.protocol;
  if (!protocol) throw new UsageError('token needs --protocol');
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) throw new UsageError(`--protocol must be one of ${PROTOCOLS.join(', ')}`);
  const input: Record<string, string> = {};
  for (const pair of values.param ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--param expects NAME=VALUE, got ${JSON.stringify(pair.slice(0, 40))}`);
    input[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const stdinName = values['secret-stdin'];
  if (stdinName) input[stdinName] = (await (ctx.readStdin ?? readStdin)()).replace(/\r?\n$/, '');
  const params = Object.fromEntries(normalizeParams(protocol as Protocol, input));
  if (params.hostname === undefined && protocol !== 'kubernetes') throw new UsageError('token needs --param hostname=HOST');

  const ttl = values.ttl === undefined ? DEFAULT_TTL_SECONDS : /^\d{1,7}$/.test(values.ttl) ? Number(values.ttl) : NaN;
  if (!(ttl >= 1 && ttl <= MAX_TTL_SECONDS)) throw new UsageError(`--ttl must be 1 to ${MAX_TTL_SECONDS} seconds`);
  if (values.url !== undefined && !/^https?:\/\/[^\s]+$/.test(values.url)) throw new UsageError('--url must be an http(s) URL');

  const env = ctx.env ?? process.env;
  const secret = loadSecret(dataDirFrom(env), env);
  const now = Math.floor(Date.now() / 1000);
  const sealed = sealToken({
    iat: now,
    exp: now + ttl,
    aud: 'tunnel',
    target: { protocol, params },
    ...(values['read-only'] ? { readOnly: true } : {}),
    ...(values.user ? { user: values.user } : {}),
    ...(values.once ? { once: true } : {}),
  }, secret);
  if (values.url) {
    const url = new URL(values.url);
    url.searchParams.set('token', sealed);
    out(url.href + '\n');
  } else {
    out(sealed + '\n');
  }
  return 0;
}

/** dist/web, next to dist/src/server where this module runs from. */
function webRoot(): string {
  return fileURLToPath(new URL('../../web/', import.meta.url));
}

async function serve(args: string[], ctx: CliContext, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { values } = parse(args, {
    host: { type: 'string' },
    port: { type: 'string' },
    guacd: { type: 'string' },
    'idle-timeout': { type: 'string' },
    'max-session': { type: 'string' },
    db: { type: 'string' },
    'guacamole-lite-key': { type: 'string' },
    'max-sessions-per-token': { type: 'string' },
    'max-sessions-per-user': { type: 'string' },
    'max-sessions-per-address': { type: 'string' },
    'handshake-rate': { type: 'string' },
    'trust-proxy': { type: 'string' },
  });
  const env = ctx.env ?? process.env;
  const config = serveConfig({
    host: values.host, port: values.port, guacd: values.guacd,
    idleTimeout: values['idle-timeout'], maxSession: values['max-session'],
    db: values.db, guacamoleLiteKey: values['guacamole-lite-key'],
    maxSessionsPerToken: values['max-sessions-per-token'], maxSessionsPerUser: values['max-sessions-per-user'],
    maxSessionsPerAddress: values['max-sessions-per-address'], handshakeRate: values['handshake-rate'], trustProxy: values['trust-proxy'],
  }, env);
  const logger = ctx.logger ?? createServerLogger(parseLogLevel(env.GATEWAY_LOG_LEVEL));
  const secret = loadSecret(config.dataDir, env, logger);

  let guacd: GuacdProcess | undefined;
  let guacdAddress: () => GuacdAddress;
  let guacdBin: string | undefined;
  if (config.guacd) {
    const fixed = config.guacd;
    guacdAddress = () => fixed;
  } else {
    guacdBin = findGuacd(env);
    if (!guacdBin) {
      err('error: no guacd found: pass --guacd HOST:PORT, or run bash scripts/provision-guacd.sh\n');
      return 2;
    }
    guacdAddress = () => guacd!.address;
  }

  const root = webRoot();
  if (!existsSync(`${root}index.html`)) logger.warn({ root }, 'client page not built (dist/web/index.html missing): run npm run build');
  // The registry opens first: a database that cannot be reached stops us before guacd starts or a port opens.
  const gateway = await openGateway({ config, secret, guacd: guacdAddress, webRoot: root, env, logger });
  const { server } = gateway;
  const killGuacd = () => { if (guacd?.running) void guacd.stop(); };
  try {
    if (guacdBin) {
      guacd = new GuacdProcess(guacdBin, logger);
      process.once('exit', killGuacd);
      await guacd.start();
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await gateway.close();
    await guacd?.stop();
    process.removeListener('exit', killGuacd);
    if (isGuacError(e)) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    err(`error: cannot listen on ${config.host}:${config.port}${code ? ` (${code})` : ''}\n`);
    return 1;
  }
  const { address, port } = server.address() as AddressInfo;
  const base = `http://${address.includes(':') ? `[${address}]` : address}:${port}/`;
  out(`guacamole-gateway listening on ${base}\n`);
  out(`registry: ${gateway.registry.kind} ${gateway.database}\n`);
  out(`admin API: ${base}${API_PATH.slice(1)} (Authorization: Bearer <key from ${gateway.adminKeySource}>)\n`);
  logger.info({ host: address, port, guacd: guacd ? 'local' : 'external', registry: gateway.registry.kind }, 'gateway listening');

  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      logger.info({ signal: sig }, 'shutting down');
      // A second signal does not wait for the graceful path.
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    ctx.signal?.addEventListener('abort', () => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      resolve();
    }, { once: true });
  });

  await gateway.close();
  await guacd?.stop();
  process.removeListener('exit', killGuacd);
  out('guacamole-gateway stopped\n');
  return 0;
}
