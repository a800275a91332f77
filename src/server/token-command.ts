/**
 * `token`: prints an access token. With `--connection` the registry mints
 * it for a stored connection and a granted user; with `--protocol` and
 * `--param` it is self-contained (the target sealed inside, nothing stored).
 * `--url BASE` prints the page link instead of the bare token.
 */
import { normalizeParams, PROTOCOLS, type Protocol } from '../guacd/params.js';
import type { Logger } from '../logger.js';
import { loadGatewaySecret } from '../registry/key-file.js';
import { DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS } from '../registry/validate.js';
import { sealToken } from '../tunnel/token.js';
import { command, intFlag, paramPairs, REGISTRY_SETTINGS, secretFromStdin, str, UsageError, withRegistry, type FlagValues } from './cli-command.js';
import type { Settings } from './settings.js';
import { RECORD_OPTIONS, recordFlags } from './recording-cli.js';
import { FILE_FLAGS, FILE_USAGE, fileRulesFromFlags } from './file-flags.js';
import { NO_RULES, tokenRules } from '../registry/file-rules.js';

/** Flags only a self-contained token takes. */
// A registry connection's recording is the connection's own setting (connection update --record).
const SELF_CONTAINED = ['protocol', 'param', 'secret-stdin', 'record', 'record-keys', 'record-policy'] as const;

async function selfContained(flags: FlagValues, s: Pick<Settings, 'dataDir' | 'secret'>, stdin: () => Promise<string>, logger: Logger): Promise<string> {
  const protocol = str(flags, 'protocol');
  if (protocol === undefined) throw new UsageError('token needs --protocol (or --connection)');
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) throw new UsageError(`--protocol must be one of ${PROTOCOLS.join(', ')}`);
  const input: Record<string, string> = paramPairs(flags);
  await secretFromStdin(flags, stdin, input);
  const params = Object.fromEntries(normalizeParams(protocol as Protocol, input));
  if (params.hostname === undefined && protocol !== 'kubernetes') throw new UsageError('token needs --param hostname=HOST');
  const ttl = intFlag(flags, 'ttl', 1, MAX_TTL_SECONDS, ' of seconds') ?? DEFAULT_TTL_SECONDS;
  const user = str(flags, 'user');
  const record = recordFlags(flags);
  const now = Math.floor(Date.now() / 1000);
  return sealToken({
    iat: now,
    exp: now + ttl,
    aud: 'tunnel',
    target: { protocol, params, ...(record ? { record } : {}) },
    ...(flags['read-only'] === true ? { readOnly: true } : {}),
    ...(user ? { user } : {}),
    ...(flags.once === true ? { once: true } : {}),
    ...(flags.share === true ? { share: true } : {}),
    ...tokenRules({ ...NO_RULES, ...fileRulesFromFlags(flags) }),
  }, loadGatewaySecret(s.dataDir, s.secret, logger));
}

async function fromRegistry(flags: FlagValues, s: Pick<Settings, (typeof REGISTRY_SETTINGS)[number]>, logger: Logger): Promise<string> {
  const connection = str(flags, 'connection')!;
  const user = str(flags, 'user');
  const extra = SELF_CONTAINED.find((f) => flags[f] !== undefined);
  if (extra !== undefined) throw new UsageError(`--${extra} is for self-contained tokens; --connection takes the target from the registry`);
  if (user === undefined) throw new UsageError('token needs --connection and --user');
  const ttlSeconds = intFlag(flags, 'ttl', 1, MAX_TTL_SECONDS, ' of seconds');
  const t = await withRegistry(s, logger, (reg) => reg.mintToken({
    connection,
    user,
    readOnly: flags['read-only'] === true,
    once: flags.once === true,
    share: flags.share === true,
    ...fileRulesFromFlags(flags),
    ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
  }));
  return t.token;
}

/** The `token` command. */
export const TOKEN_COMMAND = command({
  name: 'token',
  usage: '(--connection NAME --user USER | --protocol PROTO --param NAME=VALUE... [--secret-stdin PARAM] [--user USER])\n'
    + `        [--read-only] [--ttl SECONDS] [--once] [--share] ${FILE_USAGE} [--url BASE_URL] [--record [--record-keys] [--record-policy P]]`,
  summary: `Prints an access token valid --ttl seconds (default ${DEFAULT_TTL_SECONDS}): for a registry connection a granted user may use, `
    + `or self-contained (${PROTOCOLS.join('|')}); --secret-stdin reads one parameter (a password) from standard input.`,
  options: {
    connection: { type: 'string' },
    protocol: { type: 'string' },
    param: { type: 'string', multiple: true },
    'secret-stdin': { type: 'string' },
    user: { type: 'string' },
    'read-only': { type: 'boolean' },
    ttl: { type: 'string' },
    once: { type: 'boolean' },
    share: { type: 'boolean' },
    url: { type: 'string' },
    ...RECORD_OPTIONS,
    ...FILE_FLAGS,
  },
  settings: REGISTRY_SETTINGS,
  async run({ flags, settings, io, logger }) {
    const url = str(flags, 'url');
    if (url !== undefined && !/^https?:\/\/[^\s]+$/.test(url)) throw new UsageError('--url must be an http(s) URL');
    const token = str(flags, 'connection') !== undefined ? await fromRegistry(flags, settings, logger) : await selfContained(flags, settings, io.readStdin, logger);
    if (url === undefined) {
      io.out(`${token}\n`);
      return;
    }
    const link = new URL(url);
    link.searchParams.set('token', token);
    io.out(`${link.href}\n`);
  },
});
