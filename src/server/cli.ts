/**
 * The `guacamole-gateway` command: one table of commands (cli-command.ts
 * gives a row's shape) and one dispatcher. The dispatcher picks the row whose
 * words start the arguments, parses its flags together with the flags of the
 * settings it reads (settings.ts), checks the positional count, makes the
 * server's logger at `--log-level` (logger.ts), runs it, and turns failures into messages and exit codes.
 *
 * Exit codes: 0 done; 1 failed (refused, not found, unreachable); 2 bad
 * usage or configuration (unknown command or flag, missing argument, a bad
 * setting, input refused as a bad request).
 */
import { parseArgs } from 'node:util';
import { isGuacError } from '../protocol/errors.js';
import type { Logger } from '../logger.js';
import { UsageError, type Command, type CommandIo } from './cli-command.js';
import { REGISTRY_COMMANDS } from './registry-cli.js';
import { RECORDING_COMMANDS } from './recording-cli.js';
import { createServerLogger } from './logger.js';
import { SERVE_COMMAND } from './serve-command.js';
import { environment, readSettings, settingFlags, settingsHelp } from './settings.js';
import { TOKEN_COMMAND } from './token-command.js';

/** Where the CLI writes and what it reads; process defaults. */
export interface CliContext {
  out?: (text: string) => void;
  err?: (text: string) => void;
  /** The environment settings are read from (default: the process's). */
  env?: NodeJS.ProcessEnv;
  /** Reads standard input (`--secret-stdin`). */
  readStdin?: () => Promise<string>;
  /** Stops `serve` (in addition to SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** The commands' logger; default `createServerLogger` at the `logLevel` setting, on stderr. */
  logger?: Logger;
}

/** Every command, in the order the usage text lists them. */
export const COMMANDS: readonly Command[] = Object.freeze([SERVE_COMMAND, TOKEN_COMMAND, ...REGISTRY_COMMANDS, ...RECORDING_COMMANDS]);

/** Errors that say the configuration is wrong (exit code 2) rather than that something failed (1). */
const CONFIG_ERRORS = new Set(['GUAC_CONFIG_INVALID', 'GUAC_REGISTRY_URL_INVALID', 'GUAC_REGISTRY_KEY_MISMATCH', 'GUAC_SECRET_WEAK']);

/** Exit code of a failure: 2 for usage and configuration, 1 for the rest. */
export function exitCodeOf(e: unknown): 1 | 2 {
  if (e instanceof UsageError) return 2;
  if (isGuacError(e) && (CONFIG_ERRORS.has(e.code) || e.status.name === 'CLIENT_BAD_REQUEST')) return 2;
  return 1;
}

function usageLine(c: Command): string {
  return `  ${c.name}${c.usage ? ` ${c.usage}` : ''}`;
}

/** The usage of the commands whose name starts with `prefix` (all with ''). */
export function usage(prefix = ''): string {
  const rows = COMMANDS.filter((c) => prefix === '' || c.name === prefix || c.name.startsWith(`${prefix} `));
  return [
    'usage: guacamole-gateway <command> [flags]   (<command> --help for its settings)',
    ...rows.flatMap((c) => [usageLine(c), `      ${c.summary}`]),
    ...(prefix === '' ? ['Exit codes: 0 done, 1 failed, 2 bad usage or configuration. Settings: docs/configuration.md.'] : []),
  ].join('\n');
}

/** One command's help: usage, summary, and the settings it reads with their variables and defaults. */
export function commandHelp(c: Command): string {
  const names = [...new Set([...c.settings, 'logLevel' as const])];
  const settings = `\nsettings (flag, else environment variable, else default):\n${settingsHelp(names)}`;
  return `usage: guacamole-gateway ${usageLine(c).trim()}\n  ${c.summary}${settings}`;
}

/** The row whose words start `argv` (the longest such name), with the rest of the arguments. */
function find(argv: readonly string[]): [Command, string[]] | undefined {
  let best: Command | undefined;
  for (const c of COMMANDS) {
    const words = c.name.split(' ');
    if (words.every((w, i) => argv[i] === w) && (!best || words.length > best.name.split(' ').length)) best = c;
  }
  return best && [best, argv.slice(best.name.split(' ').length)];
}

async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const HELP = new Set(['--help', '-h']);

/**
 * Runs the CLI.
 * @param argv the arguments after the program name
 * @returns the exit code
 */
export async function main(argv: string[], ctx: CliContext = {}): Promise<number> {
  const io: CommandIo = {
    out: ctx.out ?? ((s: string) => void process.stdout.write(s)),
    err: ctx.err ?? ((s: string) => void process.stderr.write(s)),
    readStdin: ctx.readStdin ?? readProcessStdin,
    signal: ctx.signal,
    env: environment(ctx.env),
  };
  if (argv.length === 0 || (argv.length === 1 && (argv[0] === 'help' || HELP.has(argv[0]!)))) {
    io.out(usage() + '\n');
    return argv.length === 0 ? 2 : 0;
  }
  const found = find(argv);
  if (!found) {
    // A group's word alone (`connection`), or with --help: its commands.
    const group = COMMANDS.some((c) => c.name.startsWith(`${argv[0]} `)) ? argv[0]! : '';
    if (group && argv.length === 2 && HELP.has(argv[1]!)) {
      io.out(usage(group) + '\n');
      return 0;
    }
    const what = group ? (argv[1] === undefined ? `${group} needs a subcommand` : `unknown subcommand ${JSON.stringify(`${group} ${argv[1]}`)}`)
      : `unknown command ${JSON.stringify(argv[0])}`;
    io.err(`error: ${what}\n${usage(group)}\n`);
    return 2;
  }
  const [cmd, rest] = found;
  if (rest.some((a) => HELP.has(a))) {
    io.out(commandHelp(cmd) + '\n');
    return 0;
  }
  try {
    let parsed: { values: Record<string, unknown>; positionals: string[] };
    try {
      parsed = parseArgs({
        args: rest,
        options: { ...cmd.options, ...settingFlags(cmd.settings), 'log-level': { type: 'string' }, ...(cmd.json ? { json: { type: 'boolean' } } : {}) },
        strict: true,
        allowPositionals: true,
      });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const [min, max] = typeof cmd.positionals === 'number' ? [cmd.positionals, cmd.positionals] : cmd.positionals ?? [0, 0];
    const args = parsed.positionals;
    if (args.length > max) throw new UsageError(`unexpected argument ${JSON.stringify(args[max])}`);
    if (args.length < min) throw new UsageError(`${cmd.name} expects ${cmd.usage.split(' [')[0]}`);
    const { logLevel } = readSettings(['logLevel'], parsed.values, io.env);
    // Before the command runs: a key file it generates (secret, admin-key) is reported through it.
    const logger = ctx.logger ?? createServerLogger(logLevel);
    const settings = readSettings(cmd.settings, parsed.values, io.env);
    const code = await cmd.run({ args, flags: parsed.values as Record<string, string | boolean | undefined>, settings, json: parsed.values.json === true, io, logger });
    return code ?? 0;
  } catch (e) {
    const exit = exitCodeOf(e);
    if (e instanceof UsageError) io.err(`error: ${e.message}\n${usage(cmd.name)}\n`);
    else if (isGuacError(e)) io.err(`error: ${e.message} (${e.code})\n`);
    else throw e;
    return exit;
  }
}
