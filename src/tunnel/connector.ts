/**
 * How a session reaches guacd: a function from the handshake to a detached
 * connection. The tunnel uses {@link guacdConnector} (GuacdClient.open, then
 * detach); tests give the session core an in-memory stream instead, so that
 * it runs without sockets.
 */
import type { Duplex } from 'node:stream';
import { GuacdClient, type GuacdAddress, type HandshakeOptions } from '../guacd/index.js';
import type { Logger } from '../logger.js';

/** A guacd connection after its handshake, handed to the session's relay. */
export interface GuacdConnection {
  /** The stream to guacd, paused and without listeners (a `net.Socket` in production). */
  socket: Duplex;
  /** Bytes guacd already sent after `ready`, relayed before anything else. */
  pending: Buffer;
  /** guacd already ended the stream: after `pending` nothing more comes. */
  ended: boolean;
  /** guacd's `$…` id of the connection. */
  connectionId: string;
  /** The protocol version the handshake settled on (`VERSION_1_3_0`, …), when known. */
  version?: string | undefined;
  /** The pool's name of the guacd reached (pool connectors only). */
  guacd?: string | undefined;
}

/**
 * Connects to guacd and completes the handshake.
 * @param logger the session's logger: retries and guacd's complaints are reported through it
 * @param guacd the pool member that must be used (a join: `Target.guacd`); ignored without a pool
 * @throws GuacError why not (guacd's codes, `GUAC_ABORTED` once `signal` fired)
 */
export type GuacdConnector = (handshake: HandshakeOptions, signal: AbortSignal, logger: Logger, guacd?: string) => Promise<GuacdConnection>;

/**
 * The real connector.
 * @param address asked at each connect (a supervised guacd may move)
 * @param timeoutMs connect + handshake limit; 0 = none
 */
export function guacdConnector(address: () => GuacdAddress, timeoutMs: number): GuacdConnector {
  return (handshake, signal, logger) => openDetached(address(), handshake, signal, logger, timeoutMs);
}

/** GuacdClient.open at `address`, then detach: the connection a session relays. */
export async function openDetached(address: GuacdAddress, handshake: HandshakeOptions, signal: AbortSignal, logger: Logger, timeoutMs: number): Promise<GuacdConnection> {
  const limit = timeoutMs > 0 ? { timeoutMs } : {};
  const { client, connectionId, version } = await GuacdClient.open(address, { ...handshake, signal, ...limit }, { ...limit, signal, logger });
  try {
    return { ...client.detach(), connectionId, version };
  } catch (err) {
    void client.close().catch(() => undefined);
    throw err;
  }
}
