/**
 * The guacd handshake, step by step as Java's `ConfiguredGuacamoleSocket`
 * reads: `select`, expect `args`, send the client's capabilities, `connect`,
 * expect `ready`. An `error` at any step becomes a GuacError with guacd's
 * status.
 */
import type { Logger } from '../logger.js';
import { STATUS } from '../protocol/status.js';
import { abortError, errorFromInstruction, guacdError } from './errors.js';
import { describeParam, isProtocol, normalizeWith, type ParamInput, type Protocol } from './params.js';
import { LEGACY_VERSION, negotiateVersion, supports, type ProtocolVersion } from './versions.js';
import type { Instruction } from './reader.js';

/**
 * What the handshake announces when the caller says nothing: the one place
 * these defaults live (the tunnel fills in what a browser leaves out from
 * here too). Raw PCM (8 and 16 bit) is what guacamole-common-js's
 * AudioPlayer plays in every browser; PNG and JPEG are what every browser
 * decodes, while WebP is left to clients that announce it.
 */
export const HANDSHAKE_DEFAULTS = Object.freeze({
  width: 1024,
  height: 768,
  dpi: 96,
  audio: Object.freeze(['audio/L8', 'audio/L16']) as readonly string[],
  video: Object.freeze([]) as readonly string[],
  image: Object.freeze(['image/png', 'image/jpeg']) as readonly string[],
});

/** What to connect to and how the client presents itself. */
export interface HandshakeOptions {
  /** Start a new connection with this protocol. Exactly one of `protocol` and `join`. */
  protocol?: Protocol;
  /** Join a live connection by its id (`$…`; the `$` is added when missing). */
  join?: string;
  /** Connection parameters, camelCase or guacd names (see `normalizeParams`). */
  params?: ParamInput;
  /** Sets the `read-only` parameter: guacd then ignores this user's input. Typical when joining. */
  readOnly?: boolean;
  /** Display size and resolution: default 1024 × 768 at 96 DPI ({@link HANDSHAKE_DEFAULTS}). */
  width?: number;
  height?: number;
  dpi?: number;
  /** Mimetypes the client accepts: default audio `['audio/L8', 'audio/L16']`, video `[]`, image `['image/png', 'image/jpeg']` ({@link HANDSHAKE_DEFAULTS}). */
  audio?: readonly string[];
  video?: readonly string[];
  image?: readonly string[];
  /** IANA zone sent with `timezone` (protocol 1.1.0+); default the host's; `null` sends none. */
  timezone?: string | null;
  /** User name sent with `name` (protocol 1.5.0+; older guacd ignore it). */
  name?: string;
  /**
   * Answers guacd's `required` prompts (protocol 1.3.0+), during or after the
   * handshake, with values for the names asked. Names left out are answered
   * empty. Without it a prompt ends the connection with `GUAC_CREDENTIALS_REQUIRED`.
   */
  onRequired?: (names: string[]) => Promise<Record<string, string>> | Record<string, string>;
  /** Handshake timeout, default 15 000 ms. */
  timeoutMs?: number;
  /**
   * How long guacd may take to answer `select` with `args`, default 5 000 ms
   * (never more than `timeoutMs`; 0 leaves only `timeoutMs`). guacd answers
   * within milliseconds once the connection's process is up; past this the
   * process is taken for hung and the handshake fails with
   * `GUAC_GUACD_NOT_STARTED`, which `GuacdClient.open` retries.
   */
  selectTimeoutMs?: number;
  /** Aborts the handshake. */
  signal?: AbortSignal;
}

/** What the handshake established. */
export interface HandshakeResult {
  /** guacd's id of the connection (`$…`): others join with it. */
  connectionId: string;
  /** The protocol version both sides now speak. */
  version: ProtocolVersion;
  /** The version guacd announced (`VERSION_1_0_0` when it announced none). */
  serverVersion: string;
  /** The parameter names guacd asked for, in its order. */
  args: string[];
}

/** @internal What the handshake needs from the client. */
export interface HandshakeIO {
  write(opcode: string, ...args: string[]): void;
  next(): Promise<Instruction | null>;
  /** The instruction the handshake waits for, for timeout messages. */
  waiting?: string;
  /** Where warnings go (the client's `logger` option). */
  readonly log: Logger;
}

const warned = new Set<string>();

function positive(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw guacdError('GUAC_PARAM_INVALID', `The display ${what} must be a positive integer.`);
  }
  return value;
}

/** The host's zone, looked up once: building an Intl.DateTimeFormat per handshake was a tenth of a session's setup CPU. */
let hostZone: { tz: string | undefined } | undefined;

function hostTimezone(): string | undefined {
  if (!hostZone) {
    let tz: string | undefined;
    try {
      tz = Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
    } catch {
      tz = undefined;
    }
    hostZone = { tz };
  }
  return hostZone.tz;
}

/**
 * Runs the handshake over `io`.
 * @throws GuacError: parameter errors (`GUAC_PARAM_*`, `GUAC_PROTOCOL_UNKNOWN`)
 *   before anything is sent; `GUAC_GUACD_ERROR` (guacd's status),
 *   `GUAC_GUACD_CLOSED`, `GUAC_JOIN_NOT_FOUND`, `GUAC_PROTOCOL_UNSUPPORTED`,
 *   `GUAC_GUACD_PROTOCOL`, `GUAC_GUACD_TIMEOUT`, `GUAC_GUACD_NOT_STARTED`, `GUAC_ABORTED`
 */
export async function runHandshake(io: HandshakeIO, opts: HandshakeOptions, signal: AbortSignal): Promise<HandshakeResult> {
  // Everything the caller got wrong fails here, before a byte is sent.
  if ((opts.protocol === undefined) === (opts.join === undefined)) {
    throw guacdError('GUAC_PARAM_INVALID', 'The handshake needs exactly one of "protocol" and "join".');
  }
  if (opts.protocol !== undefined && !isProtocol(opts.protocol)) {
    throw guacdError('GUAC_PROTOCOL_UNKNOWN', `Unknown protocol "${String(opts.protocol)}".`);
  }
  if (opts.join !== undefined && (typeof opts.join !== 'string' || opts.join.replace(/^\$/, '') === '')) {
    throw guacdError('GUAC_PARAM_INVALID', 'The connection id to join is empty.');
  }
  const scope = opts.protocol ?? '*';
  const values = normalizeWith(scope, opts.params ?? {});
  if (opts.readOnly) values.set('read-only', 'true');
  const width = positive(opts.width, HANDSHAKE_DEFAULTS.width, 'width');
  const height = positive(opts.height, HANDSHAKE_DEFAULTS.height, 'height');
  const dpi = positive(opts.dpi, HANDSHAKE_DEFAULTS.dpi, 'dpi');
  const target = opts.join !== undefined ? (opts.join.startsWith('$') ? opts.join : `$${opts.join}`) : (opts.protocol as string);

  const expect = async (opcode: string, step: string): Promise<string[]> => {
    if (signal.aborted) throw abortError(signal, 'The guacd handshake');
    io.waiting = opcode;
    const instruction = await io.next();
    if (instruction === null) {
      if (step === 'select' && opts.join !== undefined) {
        throw guacdError('GUAC_JOIN_NOT_FOUND', `guacd closed the connection instead of joining ${target}: no such connection.`);
      }
      if (step === 'select') {
        // guacd 1.3.0 rather stays silent on an unknown protocol, and closes like this when it
        // cannot start the connection's process (seen under heavy connection churn).
        throw guacdError('GUAC_PROTOCOL_UNSUPPORTED', `guacd closed the connection instead of starting "${target}": it has no plugin for that protocol, or could not start the connection (see guacd's log).`);
      }
      throw guacdError('GUAC_GUACD_CLOSED', `guacd closed the connection while the handshake waited for "${opcode}".`);
    }
    if (instruction.opcode === 'error') {
      const err = errorFromInstruction(instruction.args);
      // guacd 1.5+ answers `select,$id` for an unknown connection with
      // `error,No such connection.,0x0204` where 1.3.0 just closes: one code for both.
      if (step === 'select' && opts.join !== undefined && err.status.guac === STATUS.RESOURCE_NOT_FOUND.guac) {
        throw guacdError('GUAC_JOIN_NOT_FOUND', `guacd has no connection ${target} to join (guacd: "${instruction.args[0] ?? ''}").`, err);
      }
      throw err;
    }
    if (instruction.opcode !== opcode) {
      throw guacdError('GUAC_GUACD_PROTOCOL', `guacd sent "${instruction.opcode}" where the handshake expected "${opcode}".`);
    }
    return instruction.args;
  };

  if (signal.aborted) throw abortError(signal, 'The guacd handshake');
  io.write('select', target);
  const offered = await expect('args', 'select');

  // guacd 1.1.0+ leads with its version; 1.0.0 sends only names.
  let version: ProtocolVersion = LEGACY_VERSION;
  let serverVersion: string = LEGACY_VERSION;
  let names = offered;
  const announced = offered.length > 0 && offered[0].startsWith('VERSION_');
  if (announced) {
    serverVersion = offered[0];
    const chosen = negotiateVersion(serverVersion);
    if (!chosen) throw guacdError('GUAC_GUACD_PROTOCOL', 'guacd announced a protocol version this client cannot read.');
    version = chosen;
    names = offered.slice(1);
  }

  const listed = new Set(names);
  for (const name of values.keys()) {
    if (listed.has(name)) continue;
    const key = `${scope}:${name}`;
    if (warned.has(key)) continue;
    warned.add(key);
    const about = describeParam(scope, name);
    io.log.warn({
      protocol: scope === '*' ? undefined : scope,
      parameter: name,
      since: about.since,
      build: about.build,
      guacdVersion: serverVersion,
    }, 'guacd does not list this parameter; its value is not sent');
  }

  io.write('size', String(width), String(height), String(dpi));
  io.write('audio', ...(opts.audio ?? HANDSHAKE_DEFAULTS.audio));
  io.write('video', ...(opts.video ?? HANDSHAKE_DEFAULTS.video));
  io.write('image', ...(opts.image ?? HANDSHAKE_DEFAULTS.image));
  if (supports(version, 'TIMEZONE_HANDSHAKE') && opts.timezone !== null) {
    const tz = opts.timezone ?? hostTimezone();
    if (tz) io.write('timezone', tz);
  }
  if (supports(version, 'NAME_HANDSHAKE') && opts.name !== undefined) io.write('name', opts.name);

  const connectArgs = names.map((name) => values.get(name) ?? '');
  if (announced) io.write('connect', version, ...connectArgs);
  else io.write('connect', ...connectArgs);

  const ready = await expect('ready', 'connect');
  if (!ready[0]) throw guacdError('GUAC_GUACD_PROTOCOL', 'guacd sent "ready" without a connection id.');
  return { connectionId: ready[0], version, serverVersion, args: names };
}
