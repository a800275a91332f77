/**
 * What the transports share: the options, the live sessions, admission, the
 * way to guacd, and the one sequence that starts a session (admit → session
 * → register) for both of them.
 */
import type { IncomingMessage } from 'node:http';
import { GuacError } from '../protocol/errors.js';
import { TUNNEL } from './errors.js';
import type { HandshakeOptions } from '../guacd/index.js';
import type { Logger } from '../logger.js';
import { Admission, type Claimant } from './admission.js';
import { clientAddress } from './client-address.js';
import { GuacdPool } from '../guacd/pool.js';
import { guacdConnector, type GuacdConnection, type GuacdConnector } from './connector.js';
import { poolConnector } from './pool-connector.js';
import type { ResolvedOptions } from './options.js';
import { TunnelSession, type BrowserPort, type SessionHost } from './session.js';

/** A transport's browser side, which learns its session once it exists. */
export interface SessionPort extends BrowserPort {
  session: TunnelSession | undefined;
}

/** The tunnel as its transports see it. */
export class TunnelHost implements SessionHost {
  readonly sessions = new Map<string, TunnelSession>();
  readonly admission: Admission;
  closing = false;
  /** New sessions are refused (GUAC_TUNNEL_DRAINING); live ones go on. */
  draining = false;
  private readonly connector: GuacdConnector;
  /** Resolves `drain()`'s promise once the last session is gone. */
  private drained: (() => void) | undefined;

  /**
   * @param options the tunnel's options
   * @param connector how sessions reach guacd (default: GuacdClient at `options.guacd`)
   */
  constructor(readonly options: ResolvedOptions, connector?: GuacdConnector) {
    this.admission = new Admission(options.limits);
    const g = options.guacd;
    this.connector = connector ?? (g instanceof GuacdPool
      ? poolConnector(g, options.handshakeTimeoutMs)
      : guacdConnector(typeof g === 'function' ? g : () => g, options.handshakeTimeoutMs));
  }

  connect(handshake: HandshakeOptions, signal: AbortSignal, logger: Logger, guacd?: string): Promise<GuacdConnection> {
    return this.connector(handshake, signal, logger, guacd);
  }

  /** Refuses new sessions from now on; resolves once no session is left. */
  drain(): Promise<void> {
    this.draining = true;
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const before = this.drained;
      this.drained = () => { before?.(); resolve(); };
    });
  }

  /**
   * Starts a session for `req` on `port`, if it may start now: admission
   * (closing, the address's rate and count, `maxSessions`), then the
   * session, registered in the same turn so that the per-address count
   * cannot be overtaken. The caller then calls `open()`.
   * @param query the connect data (WebSocket query string, HTTP `?connect` body)
   * @returns the session, or why it may not start (nothing was counted)
   */
  start(req: IncomingMessage, port: SessionPort, query: URLSearchParams): TunnelSession | GuacError {
    const admitted = this.admit(req);
    if (admitted instanceof GuacError) return admitted;
    const session = new TunnelSession(this, port, { query, headers: req.headers, ...admitted });
    port.session = session;
    this.sessions.set(session.id, session);
    this.admission.claimAddress(session, session.info.remoteAddress);
    return session;
  }

  admitTarget(session: TunnelSession, who: Claimant): GuacError | undefined {
    return this.admission.claimTarget(session, who);
  }

  /** Cross-origin pages allowed to upload over the stream routes: those allowed the HTTP tunnel. */
  allowedOrigin(origin: string): boolean {
    return this.options.allowedOrigins(origin);
  }

  unregister(session: TunnelSession): void {
    this.sessions.delete(session.id);
    this.admission.release(session);
    if (this.sessions.size === 0 && this.drained) {
      const done = this.drained;
      this.drained = undefined;
      done();
    }
  }

  /** Why a session from `req` may not start now, if it may not; else its client's address. Takes one handshake from the address's rate. */
  private admit(req: IncomingMessage): GuacError | { remoteAddress?: string } {
    if (this.closing) return TUNNEL.GUAC_TUNNEL_CLOSING();
    if (this.draining) return TUNNEL.GUAC_TUNNEL_DRAINING();
    const remoteAddress = clientAddress(req.socket.remoteAddress, req.headers, this.options.trustedProxies);
    const refused = this.admission.checkAddress(remoteAddress);
    if (refused) return refused;
    if (this.sessions.size >= this.options.limits.maxSessions) {
      return TUNNEL.GUAC_TUNNEL_FULL();
    }
    return remoteAddress === undefined ? {} : { remoteAddress };
  }
}
