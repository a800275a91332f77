/**
 * Value parsers of the settings table (settings.ts): each takes the raw
 * string and the name it was given under (`--port`, `--port (GATEWAY_PORT)`,
 * `GATEWAY_SECRET`) and returns the value or throws a GuacError
 * `GUAC_CONFIG_INVALID` naming it, which the CLI turns into exit code 2.
 */
import net from 'node:net';
import { resolve } from 'node:path';
import { GuacError } from '../protocol/errors.js';
import { REGISTRY } from '../registry/errors.js';
import type { TunnelLimits } from '../tunnel/types.js';

/** The per-client limits a gateway was given; the tunnel's defaults for the rest. */
export type ClientLimitSettings = Pick<TunnelLimits, 'maxSessionsPerToken' | 'maxSessionsPerUser' | 'maxSessionsPerAddress' | 'handshakesPerAddress' | 'handshakeWindowMs'>;

/** Shortest gateway secret accepted (tokens derive their key from it). */
export const MIN_SECRET_LENGTH = 16;
/** Shortest admin key accepted. */
export const MIN_ADMIN_KEY_LENGTH = 16;

/** Levels guacd's `-L` takes. */
export const GUACD_LOG_LEVELS = ['error', 'warning', 'info', 'debug', 'trace'] as const;

const invalid = (message: string): GuacError => REGISTRY.GUAC_CONFIG_INVALID({ message: message });
const shown = (value: string, max = 40): string => JSON.stringify(value.slice(0, max));

/**
 * Parses a TCP port.
 * @param allowZero accept 0 (pick a free port)
 * @throws GuacError `GUAC_CONFIG_INVALID`
 */
export function parsePort(value: string, what: string, allowZero: boolean): number {
  const n = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(n >= (allowZero ? 0 : 1) && n <= 65535)) {
    throw invalid(`${what} must be a port number from ${allowZero ? 0 : 1} to 65535, not ${shown(value)}.`);
  }
  return n;
}

/**
 * Parses `HOST:PORT` (`[v6]:PORT` for IPv6).
 * @throws GuacError `GUAC_CONFIG_INVALID`
 */
export function parseHostPort(value: string, what: string, allowZero = false): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(.*)$/.exec(value) ?? /^([^:]+):([^:]*)$/.exec(value);
  if (!m || m[1] === '') throw invalid(`${what} must be HOST:PORT (e.g. 127.0.0.1:4822), not ${shown(value, 60)}.`);
  if (m[0].startsWith('[') && net.isIPv6(m[1]!) === false) throw invalid(`${what}: ${JSON.stringify(m[1])} is not an IPv6 address.`);
  return { host: m[1]!, port: parsePort(m[2]!, `${what} port`, allowZero) };
}

/** A host name or address to listen on. */
export function parseHost(value: string, what: string): string {
  if (value === '' || /[\s/]/.test(value)) throw invalid(`${what} must be a host name or address, not ${shown(value, 60)}.`);
  return value;
}

/** Whole seconds, returned in milliseconds; 0 = none. */
export function parseSeconds(value: string, what: string): number {
  const n = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw invalid(`${what} must be a whole number of seconds, not ${shown(value)}.`);
  return n * 1000;
}

/**
 * `--workers`: `auto` (one per core the process may use) or 1 to 256.
 * @param cores what `auto` means (os.availableParallelism())
 */
export function parseWorkers(cores: () => number) {
  return (value: string, what: string): number => {
    if (value === 'auto') return Math.max(1, cores());
    const n = /^\d{1,3}$/.test(value) ? Number(value) : NaN;
    if (!(n >= 1 && n <= 256)) throw invalid(`${what} must be auto or a number of workers from 1 to 256, not ${shown(value)}.`);
    return n;
  };
}

/** `--metrics-listen`: `HOST:PORT` (a listener of its own; port 0 picks one) or `main` (the main port, behind the admin key). */
export function parseMetricsListen(value: string, what: string): { host: string; port: number } | 'main' {
  return value === 'main' ? 'main' : parseHostPort(value, what, true);
}

/** A count; 0 = no limit. */
export function parseCount(value: string, what: string): number {
  if (!/^\d{1,7}$/.test(value)) throw invalid(`${what} must be a whole number (0 for no limit), not ${shown(value)}.`);
  return Number(value);
}

/** `N/SECONDS` (N handshakes per address per SECONDS), or `0` for no limit. */
export function parseHandshakeRate(value: string, what: string): Pick<ClientLimitSettings, 'handshakesPerAddress' | 'handshakeWindowMs'> {
  if (value === '0') return { handshakesPerAddress: 0 };
  const m = /^(\d{1,7})\/(\d{1,7})$/.exec(value);
  if (!m || Number(m[2]) === 0) throw invalid(`${what} must be N/SECONDS (e.g. 30/60) or 0, not ${shown(value)}.`);
  return { handshakesPerAddress: Number(m[1]), handshakeWindowMs: Number(m[2]) * 1000 };
}

/** A comma-separated list of IP addresses. */
export function parseAddresses(value: string, what: string): string[] {
  const list = value.split(',').map((a) => a.trim()).filter((a) => a !== '');
  for (const a of list) if (net.isIP(a) === 0) throw invalid(`${what} must list IP addresses, not ${shown(a, 60)}.`);
  return list;
}

/** A folder, made absolute against the working directory. */
export function parseFolder(value: string): string {
  return resolve(value);
}

/** A database URL or path; blank means the default. */
export function parseDatabase(value: string): string | undefined {
  return value.trim() === '' ? undefined : value.trim();
}

/** A key of at least `min` bytes (never echoed). */
export function parseKey(min: number, exact = false) {
  return (value: string, what: string): string => {
    const n = Buffer.byteLength(value);
    if (exact ? n !== min : n < min) {
      throw invalid(exact ? `${what} must be the ${min}-byte key guacamole-lite was configured with.` : `${what} must be at least ${min} bytes long.`);
    }
    return value;
  };
}

/** One of a fixed list of words. */
export function parseOneOf<T extends string>(words: readonly T[]) {
  return (value: string, what: string): T => {
    if (!(words as readonly string[]).includes(value)) throw invalid(`${what} must be one of ${words.join(', ')}, not ${shown(value)}.`);
    return value as T;
  };
}

/** A path to an executable (checked when it is used). */
export function parsePath(value: string, what: string): string {
  if (value.includes('\0')) throw invalid(`${what} is not a path.`);
  return value;
}

/** One guacd of `--guacd`: its name (the address, normalized: what the live-session directory records) and where it is. */
export interface GuacdSpec {
  name: string;
  address: { host: string; port: number } | { path: string };
  /** `tls://HOST:PORT`: speak TLS to it (`--guacd-ca`, `--guacd-cert`, `--guacd-key`). */
  tls: boolean;
}

/**
 * Parses a list of guacd, separated by commas or spaces (repeated `--guacd`
 * flags arrive joined by commas): `HOST:PORT`, `[v6]:PORT`,
 * `tls://HOST:PORT` or `unix:/absolute/path`. Names are normalized
 * (`TLS://h:4822` is `tls://h:4822`) so that gateways listing the same guacd
 * name it alike.
 * @throws GuacError `GUAC_CONFIG_INVALID` for a bad entry or one listed twice
 */
export function parseGuacdList(value: string, what: string): GuacdSpec[] {
  const items = value.split(/[\s,]+/).filter((s) => s !== '');
  if (items.length === 0) throw invalid(`${what} names no guacd.`);
  const out: GuacdSpec[] = [];
  for (const item of items) {
    let spec: GuacdSpec;
    if (item.startsWith('unix:')) {
      const path = item.slice(5);
      if (!path.startsWith('/') || path.includes('\0')) throw invalid(`${what}: ${shown(item, 60)} must be unix:/absolute/path.`);
      spec = { name: `unix:${path}`, address: { path }, tls: false };
    } else {
      const tls = /^tls:\/\//i.test(item);
      const { host, port } = parseHostPort(tls ? item.slice(6) : item, what);
      spec = { name: `${tls ? 'tls://' : ''}${host.includes(':') ? `[${host}]` : host}:${port}`, address: { host, port }, tls };
    }
    if (out.some((s) => s.name === spec.name)) throw invalid(`${what} lists ${spec.name} twice.`);
    out.push(spec);
  }
  return out;
}
