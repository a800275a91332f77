/**
 * Opening the byte stream to guacd: TCP, TLS (guacd started with `-C`/`-K`)
 * or a Unix socket, with a timeout and an AbortSignal.
 */
import net from 'node:net';
import tls from 'node:tls';
import { abortError, guacdError, socketError } from './errors.js';

/** guacd's default port. */
export const GUACD_DEFAULT_PORT = 4822;

/** Where guacd listens: `{ host, port }` (default 127.0.0.1:4822) or `{ path }` for a Unix socket. */
export type GuacdAddress = ({ host?: string; port?: number } | { path: string }) & {
  /** Speak TLS to guacd (`true`, or options such as `ca`, `servername`, `rejectUnauthorized`). */
  tls?: boolean | tls.ConnectionOptions;
};

/** Options of {@link openSocket}. */
export interface OpenOptions {
  /** Connection timeout, default 10 000 ms (TLS negotiation included). */
  timeoutMs?: number;
  /** Aborts the attempt. */
  signal?: AbortSignal;
}

/** Human form of an address for messages and logs. */
export function describeAddress(address: GuacdAddress): string {
  if ('path' in address) return address.path;
  return `${address.host ?? '127.0.0.1'}:${address.port ?? GUACD_DEFAULT_PORT}`;
}

/**
 * Connects to guacd.
 * @returns the connected socket, with no listeners but its own
 * @throws GuacError `GUAC_GUACD_UNREACHABLE`, `GUAC_GUACD_TIMEOUT`,
 *   `GUAC_GUACD_IO`, `GUAC_ABORTED`
 */
export function openSocket(address: GuacdAddress, opts: OpenOptions = {}): Promise<net.Socket> {
  const where = describeAddress(address);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const signal = opts.signal;
  if (signal?.aborted) return Promise.reject(abortError(signal, `Connecting to guacd at ${where}`));

  return new Promise((resolve, reject) => {
    let socket: net.Socket;
    const target = 'path' in address ? { path: address.path } : { host: address.host ?? '127.0.0.1', port: address.port ?? GUACD_DEFAULT_PORT };
    const useTls = address.tls !== undefined && address.tls !== false;
    if (useTls) {
      const extra = typeof address.tls === 'object' ? address.tls : {};
      const servername = 'host' in target && target.host && !net.isIP(target.host) ? target.host : undefined;
      socket = tls.connect({ ...(servername ? { servername } : {}), ...extra, ...target });
    } else {
      socket = net.connect(target);
    }

    const timer = setTimeout(() => {
      finish(guacdError('GUAC_GUACD_TIMEOUT', `Connecting to guacd at ${where} timed out after ${timeoutMs} ms.`));
    }, timeoutMs);
    const onAbort = () => finish(abortError(signal as AbortSignal, `Connecting to guacd at ${where}`));
    const onError = (err: Error) => finish(socketError(err, where));
    const onConnect = () => finish();

    function finish(err?: Error) {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', onError);
      socket.removeListener(useTls ? 'secureConnect' : 'connect', onConnect);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        socket.setNoDelay(true);
        resolve(socket);
      }
    }

    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.once(useTls ? 'secureConnect' : 'connect', onConnect);
  });
}
