/**
 * What the transports share: the options, the live sessions and admission.
 */
import type { IncomingMessage } from 'node:http';
import { GuacError } from '../protocol/errors.js';
import type { GuacdAddress } from '../guacd/socket.js';
import { Admission, type Claimant } from './admission.js';
import { clientAddress } from './client-address.js';
import type { ResolvedOptions } from './options.js';
import type { SessionHost, TunnelSession } from './session.js';

/** The tunnel as its transports see it. */
export class TunnelHost implements SessionHost {
  readonly sessions = new Map<string, TunnelSession>();
  readonly admission: Admission;
  closing = false;

  constructor(readonly options: ResolvedOptions) {
    this.admission = new Admission(options.limits);
  }

  guacdAddress(): GuacdAddress {
    const g = this.options.guacd;
    return typeof g === 'function' ? g() : g;
  }

  /**
   * Why a new session from `req` may not start now, if it may not; else the
   * client's address (with `trustedProxies` applied) for its request. Takes
   * one handshake from the address's rate limit. Register the session in the
   * same turn, so the per-address count cannot be overtaken.
   */
  admit(req: IncomingMessage): GuacError | { remoteAddress?: string } {
    if (this.closing) return new GuacError('GUAC_TUNNEL_CLOSING', 'SESSION_CLOSED', 'The gateway is shutting down.');
    const remoteAddress = clientAddress(req.socket.remoteAddress, req.headers, this.options.trustedProxies);
    const refused = this.admission.checkAddress(remoteAddress);
    if (refused) return refused;
    if (this.sessions.size >= this.options.limits.maxSessions) {
      return new GuacError('GUAC_TUNNEL_FULL', 'SERVER_BUSY', 'The gateway has too many sessions open.');
    }
    return remoteAddress === undefined ? {} : { remoteAddress };
  }

  register(session: TunnelSession): void {
    this.sessions.set(session.id, session);
    this.admission.claimAddress(session, session.info.remoteAddress);
  }

  admitTarget(session: TunnelSession, who: Claimant): GuacError | undefined {
    return this.admission.claimTarget(session, who);
  }

  unregister(session: TunnelSession): void {
    this.sessions.delete(session.id);
    this.admission.release(session);
  }
}
