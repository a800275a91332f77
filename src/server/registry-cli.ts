/**
 * The registry's CLI commands, dispatched to by `cli.ts`:
 *
 *   connection add --name NAME --protocol ssh --param hostname=H [--param k=v…] [--secret-stdin NAME] [--grant USER[:ro]…]
 *   connection list | show NAME | remove NAME
 *   connection update NAME [--name NEW] [--protocol P] [--param k=v…] [--unset k…] [--secret-stdin NAME]
 *   connection grant NAME USER [--read-only] | ungrant NAME USER
 *   connection sessions [--active] [--limit N]
 *   session list [--active] [--limit N] | session end ID [--wait SECONDS]
 *   token --connection NAME --user USER [--read-only] [--ttl SECONDS] [--once]
 *   token revoke (--jti JTI | --user USER | --connection NAME)
 *
 * Every command takes `--db URL` (else DATABASE_URL, else SQLite in the data folder).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GuacError, isGuacError } from '../protocol/errors.js';
import { STATUS } from '../protocol/status.js';
import { notFound } from '../registry/connections.js';
import { dataDirFrom } from '../registry/key-file.js';
import { openRegistry, resolveDatabaseUrl } from '../registry/open.js';
import type { ParamInput, Registry } from '../registry/types.js';
import { loadSecret } from './secret.js';

/** What the commands read and write; everything has a process default. */
export interface RegistryCliContext {
  /** Standard output (default process.stdout). */
  out?: (text: string) => void;
  /** Error output (default process.stderr). */
  err?: (text: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Data folder (default GATEWAY_DATA_DIR, else ./data). */
  dataDir?: string;
  /** Gateway secret (default GATEWAY_SECRET, else `<dataDir>/secret`). */
  secret?: string | Uint8Array;
  /** Reads standard input for --secret-stdin (default process.stdin). */
  readStdin?: () => Promise<string>;
}

class UsageError extends Error {}

const CONNECTION_USAGE = `usage:
  connection add --name NAME --protocol PROTO --param NAME=VALUE... [--secret-stdin PARAM] [--grant USER[:ro]]...
  connection list
  connection show NAME
  connection update NAME [--name NEW] [--protocol PROTO] [--param NAME=VALUE]... [--unset PARAM]... [--secret-stdin PARAM]
  connection remove NAME
  connection grant NAME USER [--read-only]
  connection ungrant NAME USER
  connection sessions [--active] [--limit N]
options: --db URL (else DATABASE_URL, else SQLite in the data folder)`;

const TOKEN_USAGE = `usage:
  token --connection NAME --user USER [--read-only] [--ttl SECONDS] [--once]
  token revoke (--jti JTI | --user USER | --connection NAME)
options: --db URL (else DATABASE_URL, else SQLite in the data folder)`;

async function stdinText(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

interface Parsed {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>): Parsed {
  try {
    return parseArgs({ args, options: { db: { type: 'string' }, ...options }, allowPositionals: true, strict: true }) as Parsed;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function params(pairs: unknown): Record<string, ParamInput> {
  const out: Record<string, ParamInput> = {};
  for (const p of (pairs as string[] | undefined) ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UsageError(`--param expects NAME=VALUE, got ${JSON.stringify(p.slice(0, 40))}`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

/** Runs `fn` with an opened registry and turns errors into messages and exit codes (0 ok, 1 refused, 2 usage). */
async function withRegistry(
  ctx: RegistryCliContext,
  usage: string,
  db: unknown,
  fn: (reg: Registry, out: (s: string) => void) => Promise<void>,
): Promise<number> {
  const out = ctx.out ?? ((s: string) => void process.stdout.write(s));
  const err = ctx.err ?? ((s: string) => void process.stderr.write(s));
  const env = ctx.env ?? process.env;
  let reg: Registry | undefined;
  try {
    const dataDir = ctx.dataDir ?? dataDirFrom(env);
    const secret = ctx.secret ?? loadSecret(dataDir, env);
    reg = await openRegistry(resolveDatabaseUrl(typeof db === 'string' ? db : undefined, env), { dataDir, secretKey: secret, poolSize: 2 });
    await fn(reg, out);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`error: ${e.message}\n${usage}\n`);
      return 2;
    }
    if (isGuacError(e)) {
      err(`error: ${e.message} (${e.code})\n`);
      return 1;
    }
    throw e;
  } finally {
    await reg?.close();
  }
}

/**
 * `connection …` subcommands. `argv` starts after the word `connection`.
 * @returns the exit code
 */
export async function runConnectionCommand(argv: string[], ctx: RegistryCliContext = {}): Promise<number> {
  const [sub, ...rest] = argv;
  const err = ctx.err ?? ((s: string) => void process.stderr.write(s));
  let a: Parsed;
  try {
    a = parse(rest, {
      name: { type: 'string' },
      protocol: { type: 'string' },
      param: { type: 'string', multiple: true },
      unset: { type: 'string', multiple: true },
      'secret-stdin': { type: 'string' },
      grant: { type: 'string', multiple: true },
      'read-only': { type: 'boolean' },
      active: { type: 'boolean' },
      limit: { type: 'string' },
    });
  } catch (e) {
    err(`error: ${(e as Error).message}\n${CONNECTION_USAGE}\n`);
    return 2;
  }
  const v = a.values;
  const pos = a.positionals;
  const readStdin = ctx.readStdin ?? stdinText;
  const withSecret = async (p: Record<string, ParamInput | null>): Promise<void> => {
    const name = v['secret-stdin'];
    if (typeof name === 'string') p[name] = (await readStdin()).replace(/\r?\n$/, '');
  };
  const need = (n: number): void => {
    if (pos.length !== n) throw new UsageError(`connection ${sub} expects ${n === 1 ? 'a connection name' : 'a connection name and a user'}`);
  };

  return withRegistry(ctx, CONNECTION_USAGE, v.db, async (reg, out) => {
    switch (sub) {
      case 'add': {
        if (pos.length) throw new UsageError(`unexpected argument ${JSON.stringify(pos[0])}`);
        if (typeof v.name !== 'string' || typeof v.protocol !== 'string') throw new UsageError('connection add needs --name and --protocol');
        const p: Record<string, ParamInput | null> = params(v.param);
        await withSecret(p);
        const grants = ((v.grant as string[] | undefined) ?? []).map((g) => {
          const ro = g.endsWith(':ro');
          return { user: ro ? g.slice(0, -3) : g, readOnly: ro };
        });
        const c = await reg.createConnection({ name: v.name, protocol: v.protocol, params: p as Record<string, ParamInput> });
        for (const g of grants) await reg.grant(c.id, g.user, { readOnly: g.readOnly });
        out(`${c.id}\n`);
        return;
      }
      case 'list': {
        for (const c of await reg.listConnections()) out(`${c.id}  ${c.protocol.padEnd(10)}  ${c.name}\n`);
        return;
      }
      case 'show': {
        need(1);
        const c = await reg.getConnection(pos[0]!);
        if (!c) throw notFound(pos[0]!);
        out(JSON.stringify({ ...c, grants: await reg.listGrants(c.id) }, null, 2) + '\n');
        return;
      }
      case 'update': {
        need(1);
        const p: Record<string, ParamInput | null> = params(v.param);
        for (const u of (v.unset as string[] | undefined) ?? []) p[u] = null;
        await withSecret(p);
        const patch: Record<string, unknown> = { params: p };
        if (typeof v.name === 'string') patch.name = v.name;
        if (typeof v.protocol === 'string') patch.protocol = v.protocol;
        const c = await reg.updateConnection(pos[0]!, patch);
        out(`${c.id}\n`);
        return;
      }
      case 'remove': {
        need(1);
        await reg.removeConnection(pos[0]!);
        return;
      }
      case 'grant': {
        need(2);
        await reg.grant(pos[0]!, pos[1]!, { readOnly: v['read-only'] === true });
        return;
      }
      case 'ungrant': {
        need(2);
        if (!(await reg.ungrant(pos[0]!, pos[1]!))) throw new UsageError(`user ${JSON.stringify(pos[1])} has no grant on ${JSON.stringify(pos[0])}`);
        return;
      }
      case 'sessions':
        return printSessions(reg, v, out);
      default:
        throw new UsageError(sub === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(sub)}`);
    }
  });
}

/** Lists history, newest first (`--active`, `--limit N`), one session per line. */
async function printSessions(reg: Registry, v: Parsed['values'], out: (s: string) => void): Promise<void> {
  const limit = typeof v.limit === 'string' ? Number(v.limit) : undefined;
  if (limit !== undefined && !Number.isInteger(limit)) throw new UsageError('--limit expects a whole number');
  const list = await reg.listSessions({ active: v.active === true, ...(limit === undefined ? {} : { limit }) });
  for (const s of list) {
    const end = s.endedAt === null ? 'active' : `${new Date(s.endedAt).toISOString()} status ${s.status ?? '-'}`;
    out(`${s.id}  ${new Date(s.startedAt).toISOString()}  ${end}  ${s.user ?? '-'}  ${s.connectionName ?? s.connectionId ?? '-'}  in ${s.bytesFromBrowser} out ${s.bytesToBrowser}\n`);
  }
}

const SESSION_USAGE = `usage:
  session list [--active] [--limit N]
  session end ID [--wait SECONDS]   (default 10; 0 returns once asked)
options: --db URL (else DATABASE_URL, else SQLite in the data folder)`;

/**
 * `session list` and `session end`. Ending asks whichever gateway hosts the
 * session (PostgreSQL NOTIFY, or a row the gateway on a SQLite file polls
 * for every second), then waits for its history row to show the end.
 * `argv` starts after the word `session`.
 * @returns the exit code (1 when the session is unknown, already over, or no gateway ended it in time)
 */
export async function runSessionCommand(argv: string[], ctx: RegistryCliContext = {}): Promise<number> {
  const [sub, ...rest] = argv;
  const err = ctx.err ?? ((s: string) => void process.stderr.write(s));
  let a: Parsed;
  try {
    a = parse(rest, { active: { type: 'boolean' }, limit: { type: 'string' }, wait: { type: 'string' } });
  } catch (e) {
    err(`error: ${(e as Error).message}\n${SESSION_USAGE}\n`);
    return 2;
  }
  const v = a.values;
  const pos = a.positionals;
  let unconfirmed = false;
  const code = await withRegistry(ctx, SESSION_USAGE, v.db, async (reg, out) => {
    switch (sub) {
      case 'list':
        if (pos.length) throw new UsageError(`unexpected argument ${JSON.stringify(pos[0])}`);
        return printSessions(reg, v, out);
      case 'end': {
        if (pos.length !== 1) throw new UsageError('session end expects a session id');
        const waitS = typeof v.wait === 'string' ? Number(v.wait) : 10;
        if (!Number.isFinite(waitS) || waitS < 0 || waitS > 3600) throw new UsageError('--wait expects seconds from 0 to 3600');
        const id = pos[0]!;
        const rec = await reg.getSession(id);
        if (!rec) throw new GuacError('GUAC_SESSION_NOT_FOUND', 'RESOURCE_NOT_FOUND', `No session has the id ${JSON.stringify(id)}.`);
        if (rec.endedAt !== null) throw new GuacError('GUAC_SESSION_ENDED', 'RESOURCE_CONFLICT', 'The session has already ended.');
        await reg.requestSessionEnd(id, STATUS.SESSION_CLOSED);
        const deadline = Date.now() + waitS * 1000;
        while (Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 200));
          if ((await reg.getSession(id))?.endedAt != null) {
            out(`ended ${id}\n`);
            return;
          }
        }
        if (waitS === 0) {
          out(`asked the gateways to end ${id}\n`);
          return;
        }
        unconfirmed = true;
        err(`error: no gateway ended ${id} within ${waitS} s: is the gateway hosting it running? (its sessions are ended when it restarts)\n`);
        return;
      }
      default:
        throw new UsageError(sub === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(sub)}`);
    }
  });
  return code === 0 && unconfirmed ? 1 : code;
}

/**
 * `token` for registry connections, and `token revoke`. `argv` starts after the word `token`.
 * @returns the exit code
 */
export async function runRegistryTokenCommand(argv: string[], ctx: RegistryCliContext = {}): Promise<number> {
  const revoke = argv[0] === 'revoke';
  const err = ctx.err ?? ((s: string) => void process.stderr.write(s));
  let a: Parsed;
  try {
    a = parse(revoke ? argv.slice(1) : argv, {
      connection: { type: 'string' },
      user: { type: 'string' },
      jti: { type: 'string' },
      'read-only': { type: 'boolean' },
      ttl: { type: 'string' },
      once: { type: 'boolean' },
    });
  } catch (e) {
    err(`error: ${(e as Error).message}\n${TOKEN_USAGE}\n`);
    return 2;
  }
  const v = a.values;
  return withRegistry(ctx, TOKEN_USAGE, v.db, async (reg, out) => {
    if (a.positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(a.positionals[0])}`);
    if (revoke) {
      const given = (['jti', 'user', 'connection'] as const).filter((k) => typeof v[k] === 'string');
      if (given.length !== 1) throw new UsageError('token revoke needs exactly one of --jti, --user, --connection');
      const k = given[0]!;
      await reg.revoke({ [k]: v[k] } as never);
      return;
    }
    if (typeof v.connection !== 'string' || typeof v.user !== 'string') throw new UsageError('token needs --connection and --user');
    let ttlSeconds: number | undefined;
    if (typeof v.ttl === 'string') {
      if (!/^\d+$/.test(v.ttl)) throw new UsageError('--ttl expects a whole number of seconds');
      ttlSeconds = Number(v.ttl);
    }
    const t = await reg.mintToken({
      connection: v.connection,
      user: v.user,
      readOnly: v['read-only'] === true,
      once: v.once === true,
      ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
    });
    out(`${t.token}\n`);
  });
}
