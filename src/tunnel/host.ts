/**
 * What the transports share: the options, the live sessions and admission.
 */
import { GuacError } from '../protocol/errors.js';
import type { GuacdAddress } from '../guacd/socket.js';
import type { ResolvedOptions } from './options.js';
import type { SessionHost, TunnelSession } from './session.js';

/** The tunnel as its transports see it. */
export class TunnelHost implements SessionHost {
  readonly sessions = new Map<string, TunnelSession>();
  closing = false;

  constructor(readonly options: ResolvedOptions) {}

  guacdAddress(): GuacdAddress {
    const g = this.options.guacd;
    return typeof g === 'function' ? g() : g;
  }

  /** Why a new session may not start now, if it may not. */
  admit(): GuacError | undefined {
    if (this.closing) return new GuacError('GUAC_TUNNEL_CLOSING', 'SESSION_CLOSED', 'The gateway is shutting down.');
    if (this.sessions.size >= this.options.limits.maxSessions) {
      return new GuacError('GUAC_TUNNEL_FULL', 'SERVER_BUSY', 'The gateway has too many sessions open.');
    }
    return undefined;
  }

  register(session: TunnelSession): void {
    this.sessions.set(session.id, session);
  }

  unregister(session: TunnelSession): void {
    this.sessions.delete(session.id);
  }
}
