/**
 * `createTunnel`'s options with every default filled in and checked once.
 */
import { TUNNEL } from './errors.js';
import { silentLogger } from '../logger.js';
import type { ParserLimits } from '../protocol/constants.js';
import { resolveLimits } from '../protocol/parser.js';
import net from 'node:net';
import type { ClientLimits } from './admission.js';
import { plainAddress } from './client-address.js';
import type { TunnelOptions } from './types.js';

/** Options after defaults. */
export interface ResolvedOptions extends Required<Omit<TunnelOptions, 'limits' | 'onSessionStart' | 'onSessionEnd' | 'recorder' | 'onTransfer' | 'allowedOrigins' | 'trustedProxies'>> {
  limits: ClientLimits & {
    maxSessions: number;
    parser: Partial<ParserLimits>;
    maxMessageBytes: number;
    maxConnectBodyBytes: number;
    maxPendingInputBytes: number;
    highWaterBytes: number;
    lowWaterBytes: number;
  };
  onSessionStart: TunnelOptions['onSessionStart'];
  onSessionEnd: TunnelOptions['onSessionEnd'];
  recorder: TunnelOptions['recorder'];
  onTransfer: TunnelOptions['onTransfer'];
  allowedOrigins: (origin: string) => boolean;
  /** Plain addresses (see `plainAddress`). */
  trustedProxies: ReadonlySet<string>;
}

/** Defaults of the per-client limits (`TunnelLimits`). */
export const CLIENT_LIMIT_DEFAULTS: Readonly<ClientLimits> = Object.freeze({
  maxSessionsPerToken: 4,
  maxSessionsPerUser: 10,
  maxSessionsPerAddress: 32,
  handshakesPerAddress: 30,
  handshakeWindowMs: 60_000,
});

function count(value: number | undefined, fallback: number, name: string, min = 0): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw TUNNEL.GUAC_TUNNEL_BAD_OPTION({ message: `Tunnel option ${name} must be an integer of at least ${min}.` });
  }
  return value;
}

/**
 * Fills in defaults.
 * @throws GuacError `GUAC_TUNNEL_BAD_OPTION` for a missing resolver or guacd address, or a bad number
 */
export function resolveOptions(options: TunnelOptions): ResolvedOptions {
  if (typeof options?.resolve !== 'function') throw TUNNEL.GUAC_TUNNEL_BAD_OPTION({ message: 'Tunnel option resolve must be a function.' });
  if (options.guacd === undefined || options.guacd === null) throw TUNNEL.GUAC_TUNNEL_BAD_OPTION({ message: 'Tunnel option guacd is required.' });
  const l = options.limits ?? {};
  const highWaterBytes = count(l.highWaterBytes, 1 << 20, 'limits.highWaterBytes', 1);
  const lowWaterBytes = count(l.lowWaterBytes, Math.min(256 * 1024, Math.floor(highWaterBytes / 4)), 'limits.lowWaterBytes');
  if (lowWaterBytes > highWaterBytes) throw TUNNEL.GUAC_TUNNEL_BAD_OPTION({ message: 'Tunnel option limits.lowWaterBytes must not exceed limits.highWaterBytes.' });
  const origins = options.allowedOrigins;
  const prefix = options.httpTokenPrefix ?? '';
  if (typeof prefix !== 'string' || !/^[\w.-]{0,32}$/.test(prefix)) {
    throw TUNNEL.GUAC_TUNNEL_BAD_OPTION({ message: 'Tunnel option httpTokenPrefix must be up to 32 of A-Z a-z 0-9 . _ -.' });
  }
  return {
    httpTokenPrefix: prefix,
    guacd: options.guacd,
    resolve: options.resolve,
    idleTimeoutMs: count(options.idleTimeoutMs, 0, 'idleTimeoutMs'),
    maxSessionMs: count(options.maxSessionMs, 0, 'maxSessionMs'),
    handshakeTimeoutMs: count(options.handshakeTimeoutMs, 15_000, 'handshakeTimeoutMs'),
    firstFrameTimeoutMs: count(options.firstFrameTimeoutMs, 15_000, 'firstFrameTimeoutMs'),
    browserTimeoutMs: count(options.browserTimeoutMs, 15_000, 'browserTimeoutMs'),
    limits: {
      maxSessions: count(l.maxSessions, 1000, 'limits.maxSessions', 1),
      // Resolved here, once: each session's parsers take them as they are (and bad ones fail createTunnel).
      parser: resolveLimits(l.parser),
      maxMessageBytes: count(l.maxMessageBytes, 1 << 20, 'limits.maxMessageBytes', 1024),
      maxConnectBodyBytes: count(l.maxConnectBodyBytes, 64 * 1024, 'limits.maxConnectBodyBytes', 1024),
      maxPendingInputBytes: count(l.maxPendingInputBytes, 256 * 1024, 'limits.maxPendingInputBytes', 1024),
      highWaterBytes,
      lowWaterBytes,
      ...Object.fromEntries(Object.entries(CLIENT_LIMIT_DEFAULTS).map(([name, fallback]) => {
        const key = name as keyof ClientLimits;
        return [key, count(l[key], fallback, `limits.${key}`, key === 'handshakeWindowMs' ? 1 : 0)];
      })) as unknown as ClientLimits,
    },
    logger: options.logger ?? silentLogger,
    onSessionStart: options.onSessionStart,
    onSessionEnd: options.onSessionEnd,
    recorder: options.recorder,
    onTransfer: options.onTransfer,
    allowedOrigins: typeof origins === 'function' ? origins : ((set) => (o: string) => set.has(o))(new Set(origins ?? [])),
    trustedProxies: new Set((options.trustedProxies ?? []).map((a) => {
      if (typeof a !== 'string' || net.isIP(a) === 0) throw TUNNEL.GUAC_TUNNEL_BAD_OPTION({ message: 'Tunnel option trustedProxies must list IP addresses.' });
      return plainAddress(a);
    })),
  };
}
