/**
 * Configuration of `serve`: command-line values checked once, with clear
 * messages. A bad value is a GuacError `GUAC_CONFIG_INVALID`; the CLI turns
 * it into exit code 2.
 */
import net from 'node:net';
import { resolve } from 'node:path';
import { GuacError } from '../protocol/errors.js';

/** Everything `serve` needs. */
export interface ServeConfig {
  host: string;
  /** 0 picks a free port (the URL printed at start shows which). */
  port: number;
  /** An external guacd; when absent, a local one is started and supervised. */
  guacd?: { host: string; port: number };
  /** Where the secret lives (unless GATEWAY_SECRET is set). */
  dataDir: string;
  /** Idle timeout in ms; 0 = none. */
  idleTimeoutMs: number;
  /** Longest session in ms; 0 = none. */
  maxSessionMs: number;
}

/** Raw values as parsed from the command line (strings) and the environment. */
export interface ServeInput {
  host?: string | undefined;
  port?: string | undefined;
  guacd?: string | undefined;
  idleTimeout?: string | undefined;
  maxSession?: string | undefined;
}

const invalid = (message: string): GuacError => new GuacError('GUAC_CONFIG_INVALID', 'SERVER_ERROR', message);

/**
 * Parses a TCP port.
 * @param allowZero accept 0 (pick a free port)
 * @throws GuacError `GUAC_CONFIG_INVALID`
 */
export function parsePort(value: string, what: string, allowZero: boolean): number {
  const n = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(n >= (allowZero ? 0 : 1) && n <= 65535)) {
    throw invalid(`${what} must be a port number from ${allowZero ? 0 : 1} to 65535, not ${JSON.stringify(value.slice(0, 40))}.`);
  }
  return n;
}

/**
 * Parses `HOST:PORT` (`[v6]:PORT` for IPv6).
 * @throws GuacError `GUAC_CONFIG_INVALID`
 */
export function parseHostPort(value: string, what: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(.*)$/.exec(value) ?? /^([^:]+):([^:]*)$/.exec(value);
  if (!m || m[1] === '') throw invalid(`${what} must be HOST:PORT (e.g. 127.0.0.1:4822), not ${JSON.stringify(value.slice(0, 60))}.`);
  if (m[0].startsWith('[') && net.isIPv6(m[1]) === false) throw invalid(`${what}: ${JSON.stringify(m[1])} is not an IPv6 address.`);
  return { host: m[1], port: parsePort(m[2], `${what} port`, false) };
}

function seconds(value: string | undefined, what: string): number {
  if (value === undefined || value === '') return 0;
  const n = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw invalid(`${what} must be a whole number of seconds, not ${JSON.stringify(value.slice(0, 40))}.`);
  return n * 1000;
}

/** The data folder: `GATEWAY_DATA_DIR`, default `./data`. */
export function dataDirFrom(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.GATEWAY_DATA_DIR && env.GATEWAY_DATA_DIR !== '' ? env.GATEWAY_DATA_DIR : 'data');
}

/**
 * Builds the `serve` configuration.
 * @throws GuacError `GUAC_CONFIG_INVALID` naming the bad value
 */
export function serveConfig(input: ServeInput, env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const host = input.host ?? '127.0.0.1';
  if (host === '' || /[\s/]/.test(host)) throw invalid(`--host must be a host name or address, not ${JSON.stringify(host.slice(0, 60))}.`);
  const config: ServeConfig = {
    host,
    port: parsePort(input.port ?? '8080', '--port', true),
    dataDir: dataDirFrom(env),
    idleTimeoutMs: seconds(input.idleTimeout, '--idle-timeout'),
    maxSessionMs: seconds(input.maxSession, '--max-session'),
  };
  if (input.guacd !== undefined) config.guacd = parseHostPort(input.guacd, '--guacd');
  return config;
}
