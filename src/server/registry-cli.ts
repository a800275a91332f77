/**
 * The registry's commands, rows of the table in cli.ts: connections and
 * their grants, session history and ending a live session, revoking tokens.
 * (Minting is the `token` command, token-command.ts.) Each opens the
 * registry its settings name (`--db`, else `DATABASE_URL`, else SQLite in
 * the data folder) for the length of the command.
 */
import { REGISTRY } from '../registry/errors.js';
import { SERVER } from './errors.js';
import { STATUS } from '../protocol/status.js';
import { notFound } from '../registry/connections.js';
import type { CreatedShare, HistoryEntry, ParamInput, Registry, Share } from '../registry/types.js';
import { MAX_TTL_SECONDS } from '../registry/validate.js';
import { shareAnswer } from './share-link.js';
import {
  command, intFlag, list, paramPairs, printJson, REGISTRY_SETTINGS, secretFromStdin, str, UsageError, withRegistry,
  type Command, type CommandIo, type FlagValues,
} from './cli-command.js';
import { RECORD_OPTIONS, recordFlags } from './recording-cli.js';
import { FILE_FLAGS, FILE_UPDATE_FLAGS, FILE_USAGE, fileRulesFromFlags } from './file-flags.js';

/** History, newest first (`--active`, `--limit N`): one session per line, or `--json`. */
async function printSessions(reg: Registry, flags: FlagValues, json: boolean, io: CommandIo): Promise<void> {
  const limit = intFlag(flags, 'limit', 0, 1_000_000);
  const sessions = await reg.listSessions({ active: flags.active === true, ...(limit === undefined ? {} : { limit }) });
  if (json) return printJson(io, sessions);
  for (const s of sessions) io.out(sessionLine(s));
}

function sessionLine(s: HistoryEntry): string {
  const end = s.endedAt === null ? 'active' : `${new Date(s.endedAt).toISOString()} status ${s.status ?? '-'}`;
  return `${s.id}  ${new Date(s.startedAt).toISOString()}  ${end}  ${s.user ?? '-'}  ${s.connectionName ?? s.connectionId ?? '-'}  in ${s.bytesFromBrowser} out ${s.bytesToBrowser}${s.message ? `  ${JSON.stringify(s.message)}` : ''}\n`;
}

/** Asks whichever gateway hosts session `id` to end it and waits up to `waitS` for its history row to show the end. */
async function endSession(reg: Registry, id: string, waitS: number, io: CommandIo): Promise<number> {
  const rec = await reg.getSession(id);
  if (!rec) throw REGISTRY.GUAC_SESSION_NOT_FOUND({ message: `No session has the id ${JSON.stringify(id)}.` });
  if (rec.endedAt !== null) throw REGISTRY.GUAC_SESSION_ENDED();
  await reg.requestSessionEnd(id, STATUS.SESSION_CLOSED);
  if (waitS === 0) {
    io.out(`asked the gateways to end ${id}\n`);
    return 0;
  }
  const deadline = Date.now() + waitS * 1000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    if ((await reg.getSession(id))?.endedAt != null) {
      io.out(`ended ${id}\n`);
      return 0;
    }
  }
  io.err(`error: no gateway ended ${id} within ${waitS} s: is the gateway hosting it running? (its sessions are ended when it restarts)\n`);
  return 1;
}

/** A new share link: the link, then its token and id, one per line (or `--json`). */
function printShare(io: CommandIo, share: CreatedShare, json: boolean): void {
  const a = shareAnswer(share);
  if (json) return printJson(io, a);
  io.out(`url ${a.url}\ntoken ${a.token}\nid ${a.id}\nexpires ${new Date(a.expiresAt).toISOString()}\n`);
}

function shareLine(s: Share): string {
  const state = s.revokedAt !== null ? 'revoked' : s.expiresAt <= Date.now() ? 'expired' : 'valid';
  return `${s.id}  ${s.readOnly ? 'watch' : 'control'}  ${s.once ? 'once' : 'many'}  expires ${new Date(s.expiresAt).toISOString()}  ${state}  ${s.creator ?? '-'}\n`;
}

const SESSION_LIST = command({
  name: 'session list',
  usage: '[--active] [--limit N] [--json]',
  summary: 'The session history, newest first: id, start, end and status, user, connection, bytes.',
  options: { active: { type: 'boolean' }, limit: { type: 'string' } },
  json: true,
  settings: REGISTRY_SETTINGS,
  async run({ flags, settings, json, io, logger }) {
    await withRegistry(settings, logger, (reg) => printSessions(reg, flags, json, io));
  },
});

/** The registry commands. */
export const REGISTRY_COMMANDS: readonly Command[] = [
  command({
    name: 'connection add',
    usage: `--name NAME --protocol PROTO --param NAME=VALUE... [--secret-stdin PARAM] [--grant USER[:ro]]... ${FILE_USAGE}\n`
      + '        [--record [--record-keys] [--record-policy required|best-effort]]',
    summary: 'Adds a connection (secret parameters stored encrypted; --record: its sessions are recorded); prints its id.',
    options: {
      name: { type: 'string' }, protocol: { type: 'string' }, param: { type: 'string', multiple: true }, 'secret-stdin': { type: 'string' },
      grant: { type: 'string', multiple: true }, ...RECORD_OPTIONS, ...FILE_FLAGS,
    },
    settings: REGISTRY_SETTINGS,
    async run({ flags, settings, io, logger }) {
      const name = str(flags, 'name');
      const protocol = str(flags, 'protocol');
      if (name === undefined || protocol === undefined) throw new UsageError('connection add needs --name and --protocol');
      const params: Record<string, ParamInput> = paramPairs(flags);
      await secretFromStdin(flags, io.readStdin, params);
      const grants = list(flags, 'grant').map((g) => (g.endsWith(':ro') ? { user: g.slice(0, -3), readOnly: true } : { user: g, readOnly: false }));
      await withRegistry(settings, logger, async (reg) => {
        const record = recordFlags(flags);
        const c = await reg.createConnection({ name, protocol, params, files: fileRulesFromFlags(flags), ...(record === undefined ? {} : { record }) });
        for (const g of grants) await reg.grant(c.id, g.user, { readOnly: g.readOnly });
        io.out(`${c.id}\n`);
      });
    },
  }),
  command({
    name: 'connection list',
    usage: '[--json]',
    summary: 'Lists connections: id, protocol, name (secret parameters never shown).',
    json: true,
    settings: REGISTRY_SETTINGS,
    async run({ settings, json, io, logger }) {
      const connections = await withRegistry(settings, logger, (reg) => reg.listConnections());
      if (json) return printJson(io, connections);
      for (const c of connections) io.out(`${c.id}  ${c.protocol.padEnd(10)}  ${c.name}\n`);
    },
  }),
  command({
    name: 'connection show',
    usage: 'NAME [--json]',
    summary: 'Shows a connection and its grants as JSON (secret parameters as "[set]").',
    positionals: 1,
    json: true,
    settings: REGISTRY_SETTINGS,
    async run({ args, settings, io, logger }) {
      await withRegistry(settings, logger, async (reg) => {
        const c = await reg.getConnection(args[0]!);
        if (!c) throw notFound(args[0]!);
        printJson(io, { ...c, grants: await reg.listGrants(c.id) });
      });
    },
  }),
  command({
    name: 'connection update',
    usage: `NAME [--name NEW] [--protocol PROTO] [--param NAME=VALUE]... [--unset PARAM]... [--secret-stdin PARAM] ${FILE_USAGE} [--allow-upload] [--allow-download]\n`
      + '        [--record [--record-keys] [--record-policy required|best-effort] | --no-record]',
    summary: 'Changes a connection; prints its id.',
    options: {
      name: { type: 'string' }, protocol: { type: 'string' }, param: { type: 'string', multiple: true }, unset: { type: 'string', multiple: true },
      'secret-stdin': { type: 'string' }, ...RECORD_OPTIONS, ...FILE_UPDATE_FLAGS,
    },
    positionals: 1,
    settings: REGISTRY_SETTINGS,
    async run({ args, flags, settings, io, logger }) {
      const params: Record<string, ParamInput | null> = paramPairs(flags);
      for (const u of list(flags, 'unset')) params[u] = null;
      await secretFromStdin(flags, io.readStdin, params);
      const name = str(flags, 'name');
      const protocol = str(flags, 'protocol');
      const record = recordFlags(flags);
      const c = await withRegistry(settings, logger, (reg) => reg.updateConnection(args[0]!, {
        params,
        ...(record === undefined ? {} : { record }),
        files: fileRulesFromFlags(flags),
        ...(name === undefined ? {} : { name }),
        ...(protocol === undefined ? {} : { protocol }),
      }));
      io.out(`${c.id}\n`);
    },
  }),
  command({
    name: 'connection remove',
    usage: 'NAME',
    summary: 'Removes a connection and its grants (its history stays).',
    positionals: 1,
    settings: REGISTRY_SETTINGS,
    async run({ args, settings, logger }) {
      await withRegistry(settings, logger, (reg) => reg.removeConnection(args[0]!));
    },
  }),
  command({
    name: 'connection grant',
    usage: 'NAME USER [--read-only]',
    summary: 'Lets USER (or * for everyone) mint tokens for the connection.',
    options: { 'read-only': { type: 'boolean' } },
    positionals: 2,
    settings: REGISTRY_SETTINGS,
    async run({ args, flags, settings, logger }) {
      await withRegistry(settings, logger, (reg) => reg.grant(args[0]!, args[1]!, { readOnly: flags['read-only'] === true }));
    },
  }),
  command({
    name: 'connection ungrant',
    usage: 'NAME USER',
    summary: 'Takes a grant away.',
    positionals: 2,
    settings: REGISTRY_SETTINGS,
    async run({ args, settings, logger }) {
      if (!(await withRegistry(settings, logger, (reg) => reg.ungrant(args[0]!, args[1]!)))) {
        throw SERVER.GUAC_GRANT_NOT_FOUND({ message: `User ${JSON.stringify(args[1])} has no grant on ${JSON.stringify(args[0])}.` });
      }
    },
  }),
  SESSION_LIST,
  { ...SESSION_LIST, name: 'connection sessions', summary: 'The session history, as session list.' },
  command({
    name: 'session end',
    usage: 'ID [--wait SECONDS]',
    summary: 'Ends a live session on whichever gateway hosts it; waits --wait s (default 10; 0: only ask) to see it end.',
    options: { wait: { type: 'string' } },
    positionals: 1,
    settings: REGISTRY_SETTINGS,
    async run({ args, flags, settings, io, logger }) {
      const waitS = intFlag(flags, 'wait', 0, 3600, ' of seconds') ?? 10;
      return withRegistry(settings, logger, (reg) => endSession(reg, args[0]!, waitS, io));
    },
  }),
  command({
    name: 'session share',
    usage: 'ID [--read-only] [--ttl SECONDS] [--once] [--json]',
    summary: 'Creates a link that joins live session ID (full control unless --read-only; a read-only session only read-only).',
    options: { 'read-only': { type: 'boolean' }, ttl: { type: 'string' }, once: { type: 'boolean' } },
    positionals: 1,
    json: true,
    settings: REGISTRY_SETTINGS,
    async run({ args, flags, settings, json, io, logger }) {
      const ttl = intFlag(flags, 'ttl', 1, MAX_TTL_SECONDS, ' of seconds');
      const share = await withRegistry(settings, logger, (reg) => reg.createShare({
        session: args[0]!, readOnly: flags['read-only'] === true, once: flags.once === true, ...(ttl === undefined ? {} : { ttlSeconds: ttl }),
      }));
      printShare(io, share, json);
    },
  }),
  command({
    name: 'session watch',
    usage: 'ID [--json]',
    summary: 'Creates a read-only link that watches live session ID.',
    positionals: 1,
    json: true,
    settings: REGISTRY_SETTINGS,
    async run({ args, settings, json, io, logger }) {
      printShare(io, await withRegistry(settings, logger, (reg) => reg.createShare({ session: args[0]!, readOnly: true })), json);
    },
  }),
  command({
    name: 'session shares',
    usage: 'ID [--json]',
    summary: 'Lists the share links of session ID: id, watch or control, once or many, expiry, state, creator.',
    positionals: 1,
    json: true,
    settings: REGISTRY_SETTINGS,
    async run({ args, settings, json, io, logger }) {
      const shares = await withRegistry(settings, logger, (reg) => reg.listShares(args[0]!));
      if (json) return printJson(io, shares);
      for (const s of shares) io.out(shareLine(s));
    },
  }),
  command({
    name: 'share revoke',
    usage: 'ID',
    summary: 'Revokes share link ID and ends the sessions opened through it (CLIENT_FORBIDDEN).',
    positionals: 1,
    settings: REGISTRY_SETTINGS,
    async run({ args, settings, logger }) {
      if (!(await withRegistry(settings, logger, (reg) => reg.revokeShare(args[0]!)))) {
        throw REGISTRY.GUAC_SHARE_NOT_FOUND({ message: `No share has the id ${JSON.stringify(args[0])}.` });
      }
    },
  }),
  command({
    name: 'token revoke',
    usage: '(--jti JTI | --user USER | --connection NAME)',
    summary: 'Revokes one token, or every token of a user or connection issued so far; ends the sessions they opened.',
    options: { jti: { type: 'string' }, user: { type: 'string' }, connection: { type: 'string' } },
    settings: REGISTRY_SETTINGS,
    async run({ flags, settings, logger }) {
      const given = (['jti', 'user', 'connection'] as const).filter((k) => str(flags, k) !== undefined);
      if (given.length !== 1) throw new UsageError('token revoke needs exactly one of --jti, --user, --connection');
      const k = given[0]!;
      const v = str(flags, k)!;
      await withRegistry(settings, logger, (reg) => reg.revoke(k === 'jti' ? { jti: v } : k === 'user' ? { user: v } : { connection: v }));
    },
  }),
];
