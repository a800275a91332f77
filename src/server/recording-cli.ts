/**
 * The `recording` commands (list, show, verify, delete, link, retention)
 * and the `--record*` flags that `connection add|update` and `token` share.
 * They open the registry as the other registry commands do, and the
 * recordings folder (`--recordings-dir`, else `<data dir>/recordings`).
 */
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import { checkRecordSpec, type Recording } from '../registry/recordings.js';
import type { Registry } from '../registry/types.js';
import { MAX_TTL_SECONDS } from '../registry/validate.js';
import type { RecordSpec } from '../tunnel/recording/recorder.js';
import {
  command, intFlag, printJson, REGISTRY_SETTINGS, str, UsageError, withRegistry,
  type Command, type FlagValues,
} from './cli-command.js';
import { Recordings } from './recordings.js';
import { loadGatewaySecret } from '../registry/key-file.js';
import type { Settings } from './settings.js';

/** The flags of {@link recordFlags}. */
export const RECORD_OPTIONS = {
  record: { type: 'boolean' },
  'no-record': { type: 'boolean' },
  'record-keys': { type: 'boolean' },
  'record-policy': { type: 'string' },
} as const;

/**
 * `--record [--record-keys] [--record-policy required|best-effort]` as a
 * record spec (the last two imply the first); `--no-record`: null; none of
 * them: undefined (unchanged).
 */
export function recordFlags(flags: FlagValues): RecordSpec | null | undefined {
  const policy = str(flags, 'record-policy');
  const on = flags.record === true || flags['record-keys'] === true || policy !== undefined;
  if (flags['no-record'] === true) {
    if (on) throw new UsageError('--no-record cannot be given with --record, --record-keys or --record-policy');
    return null;
  }
  if (!on) return undefined;
  if (policy !== undefined && policy !== 'required' && policy !== 'best-effort') throw new UsageError('--record-policy must be required or best-effort');
  return checkRecordSpec({ keys: flags['record-keys'] === true, ...(policy === undefined ? {} : { policy }) }) ?? undefined;
}

const SETTINGS = [...REGISTRY_SETTINGS, 'recordingsDir', 'recordingMaxAgeMs', 'recordingMaxMiB'] as const;
type RecordingSettings = Pick<Settings, (typeof SETTINGS)[number]>;

/** Runs `fn` on the recordings the settings name. */
function withRecordings<T>(s: RecordingSettings, logger: Logger, fn: (r: Recordings, reg: Registry) => Promise<T>): Promise<T> {
  return withRegistry(s, logger, (reg) => fn(new Recordings({
    dir: s.recordingsDir ?? join(s.dataDir, 'recordings'), registry: reg, secret: loadGatewaySecret(s.dataDir, s.secret, logger), logger,
    maxAgeMs: s.recordingMaxAgeMs, maxTotalBytes: s.recordingMaxMiB * 1024 * 1024,
  }), reg));
}

function line(r: Recording): string {
  const state = r.complete === null ? 'recording' : r.complete ? 'complete' : 'incomplete';
  const dur = r.durationMs === null ? '-' : `${(r.durationMs / 1000).toFixed(1)}s`;
  return `${r.id}  ${new Date(r.startedAt).toISOString()}  ${dur.padStart(8)}  ${String(r.size).padStart(10)}  ${state.padEnd(10)}  ${r.keys ? 'keys' : '-   '}  ${r.user ?? '-'}  ${r.connectionName ?? r.connectionId ?? '-'}\n`;
}

/** The `recording` commands. */
export const RECORDING_COMMANDS: readonly Command[] = [
  command({
    name: 'recording list',
    usage: '[--connection ID] [--user USER] [--limit N] [--json]',
    summary: 'Recordings, newest first: id, start, duration, bytes, state, keys, user, connection.',
    options: { connection: { type: 'string' }, user: { type: 'string' }, limit: { type: 'string' } },
    json: true,
    settings: SETTINGS,
    async run({ flags, settings, json, io, logger }) {
      const limit = intFlag(flags, 'limit', 1, 1000);
      const connectionId = str(flags, 'connection');
      const user = str(flags, 'user');
      const recs = await withRecordings(settings, logger, (r) => r.registryList({
        ...(limit === undefined ? {} : { limit }), ...(connectionId === undefined ? {} : { connectionId }), ...(user === undefined ? {} : { user }),
      }));
      if (json) return printJson(io, recs);
      for (const r of recs) io.out(line(r));
    },
  }),
  command({
    name: 'recording show',
    usage: 'ID',
    summary: 'Shows a recording\'s metadata as JSON.',
    positionals: 1,
    settings: SETTINGS,
    async run({ args, settings, io, logger }) {
      printJson(io, await withRecordings(settings, logger, async (r) => (await r.pathOf(args[0])).rec));
    },
  }),
  command({
    name: 'recording verify',
    usage: 'ID [--json]',
    summary: 'Reads the file back against its size and sha256: intact (exit 0), or incomplete, damaged, missing, still recording (exit 1).',
    positionals: 1,
    json: true,
    settings: SETTINGS,
    async run({ args, settings, json, io, logger }) {
      const v = await withRecordings(settings, logger, (r) => r.verify(args[0]));
      if (json) printJson(io, v);
      else io.out(`${v.state}: ${v.message}\n`);
      return v.state === 'intact' ? 0 : 1;
    },
  }),
  command({
    name: 'recording delete',
    usage: 'ID',
    summary: 'Deletes a finished recording: its metadata and its file.',
    positionals: 1,
    settings: SETTINGS,
    async run({ args, settings, io, logger }) {
      const rec = await withRecordings(settings, logger, (r) => r.delete(args[0]));
      io.out(`deleted ${rec.id}\n`);
    },
  }),
  command({
    name: 'recording link',
    usage: 'ID [--ttl SECONDS] [--url BASE_URL] [--json]',
    summary: 'Prints a signed playback link valid --ttl seconds (default 300): /recording.html#token=…, under --url if given.',
    options: { ttl: { type: 'string' }, url: { type: 'string' } },
    positionals: 1,
    json: true,
    settings: SETTINGS,
    async run({ args, flags, settings, json, io, logger }) {
      const ttl = intFlag(flags, 'ttl', 1, MAX_TTL_SECONDS, ' of seconds');
      const url = str(flags, 'url');
      if (url !== undefined && !/^https?:\/\/[^\s]+$/.test(url)) throw new UsageError('--url must be an http(s) URL');
      const link = await withRecordings(settings, logger, (r) => r.link(args[0], ttl));
      const full = url === undefined ? link.url : new URL(link.url, url).href;
      if (json) return printJson(io, { ...link, url: full });
      io.out(`${full}\n`);
    },
  }),
  command({
    name: 'recording retention',
    usage: '',
    summary: 'Applies --recording-max-age and --recording-max-mib now (serve does it every minute); prints the ids deleted.',
    settings: SETTINGS,
    async run({ settings, io, logger }) {
      const deleted = await withRecordings(settings, logger, (r) => r.enforceRetention());
      for (const id of deleted) io.out(`deleted ${id}\n`);
    },
  }),
];
