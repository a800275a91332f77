/**
 * The shape of a CLI command and the helpers every command shares. A command
 * is a row of the table in cli.ts: the words that select it, its usage line,
 * its own flags, the settings it reads (settings.ts: their flags are accepted
 * and their values arrive checked), and a handler. The dispatcher parses,
 * checks the positional count, and maps failures to exit codes: a
 * {@link UsageError} (or a bad setting, or input refused as a bad request) is
 * 2, any other failure 1.
 */
import type { ParseArgsConfig } from 'node:util';
import type { Logger } from '../logger.js';
import { openRegistry } from '../registry/open.js';
import { loadGatewaySecret } from '../registry/key-file.js';
import type { Registry } from '../registry/types.js';
import type { SettingName, Settings } from './settings.js';

/** The command line is wrong: exit code 2 with the command's usage. */
export class UsageError extends Error {}

/** Where a command writes and reads. */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
  /** Standard input, whole (`--secret-stdin`). */
  readStdin(): Promise<string>;
  /** Stops a long-running command (`serve`) besides SIGINT/SIGTERM. */
  signal: AbortSignal | undefined;
  /** The environment the settings were read from (for `PATH`). */
  env: NodeJS.ProcessEnv;
}

/** Parsed flag values. */
export type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** What a handler receives. */
export interface Invocation<K extends SettingName = SettingName> {
  /** Positional arguments after the command's words. */
  args: string[];
  /** Its own flags (settings' flags are in `settings`). */
  flags: FlagValues;
  /** The settings it asked for, checked. */
  settings: Pick<Settings, K>;
  /** True with `--json`. */
  json: boolean;
  io: CommandIo;
  /** The server's logger at the `logLevel` setting (logger.ts); what the command opens reports through it. */
  logger: Logger;
}

/** A row of the command table. */
export interface Command<K extends SettingName = SettingName> {
  /** The words that select it: `connection list`. */
  name: string;
  /** What follows the name in the usage line (settings' flags are listed by `--help`). */
  usage: string;
  /** One line of doc. */
  summary: string;
  /** Its own flags. */
  options?: NonNullable<ParseArgsConfig['options']>;
  /** How many positional arguments: exactly n, or [min, max]. Default 0. */
  positionals?: number | readonly [number, number];
  /** Accepts `--json` (list and show commands). */
  json?: boolean;
  /** The settings it reads. */
  settings: readonly K[];
  /** Runs it; a number is the exit code (default 0). */
  run(inv: Invocation<K>): Promise<number | void>;
}

/** Declares a command, keeping its settings' types for the handler. */
export function command<K extends SettingName>(c: Command<K>): Command {
  return c as unknown as Command;
}

/** A string flag, or undefined. */
export function str(flags: FlagValues, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** A repeatable string flag. */
export function list(flags: FlagValues, name: string): string[] {
  const v = flags[name];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** `--param NAME=VALUE` pairs. */
export function paramPairs(flags: FlagValues): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of list(flags, 'param')) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UsageError(`--param expects NAME=VALUE, got ${JSON.stringify(p.slice(0, 40))}`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

/** The value `--secret-stdin NAME` reads into `params[NAME]`, one trailing newline dropped. */
export async function secretFromStdin(flags: FlagValues, readStdin: () => Promise<string>, params: Record<string, unknown>): Promise<void> {
  const name = str(flags, 'secret-stdin');
  if (name !== undefined) params[name] = (await readStdin()).replace(/\r?\n$/, '');
}

/** A whole number flag from `min` to `max`, or undefined when absent. */
export function intFlag(flags: FlagValues, name: string, min: number, max: number, unit = ''): number | undefined {
  const v = str(flags, name);
  if (v === undefined) return undefined;
  const n = /^\d{1,9}$/.test(v) ? Number(v) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`--${name} must be a whole number${unit} from ${min} to ${max}`);
  return n;
}

/** Writes `value` as JSON (`--json`). */
export function printJson(io: CommandIo, value: unknown): void {
  io.out(JSON.stringify(value, null, 2) + '\n');
}

/** The settings a registry command reads. */
export const REGISTRY_SETTINGS = ['dataDir', 'db', 'secret'] as const;

/** Opens the registry the settings name (reporting through `logger`), runs `fn`, closes it. */
export async function withRegistry<T>(s: Pick<Settings, (typeof REGISTRY_SETTINGS)[number]>, logger: Logger, fn: (reg: Registry) => Promise<T>): Promise<T> {
  const reg = await openRegistry(s.db, { dataDir: s.dataDir, secretKey: loadGatewaySecret(s.dataDir, s.secret, logger), poolSize: 2, logger });
  try {
    return await fn(reg);
  } finally {
    await reg.close();
  }
}
