/**
 * The lifecycle of a tunnel session, in one table. A session resolves the
 * request (the resolver, e.g. a token check), then handshakes with guacd,
 * then relays until it is closed; every phase may end in `closed`, and
 * `closed` is final. Anything else is a bug in the session, not a peer's
 * fault: {@link Lifecycle.to} refuses it and reports it to the session,
 * which logs it and closes with SERVER_ERROR (noVNC's
 * `_updateConnectionState` checks its transitions the same way).
 *
 * Backpressure (the holds on guacd and the browser) is not a phase: it
 * happens while connecting (the browser's pings) and while open alike, so it
 * stays beside this table instead of multiplying its rows.
 */
import type { SessionState } from './types.js';

/** Where a session stands, finer than the public {@link SessionState}. */
export type Phase = 'resolving' | 'handshaking' | 'open' | 'closed';

/** Phase → the phases it may move to. */
export const TRANSITIONS: Readonly<Record<Phase, readonly Phase[]>> = Object.freeze({
  resolving: Object.freeze(['handshaking', 'closed'] as const),
  handshaking: Object.freeze(['open', 'closed'] as const),
  open: Object.freeze(['closed'] as const),
  closed: Object.freeze([] as const),
});

/** What `tunnel.sessions` shows of each phase (resolve and handshake are both "connecting"). */
export const PUBLIC_STATE: Readonly<Record<Phase, SessionState>> = Object.freeze({
  resolving: 'connecting',
  handshaking: 'connecting',
  open: 'open',
  closed: 'closed',
});

/** Whether the table allows `from` → `to`. */
export function mayMove(from: Phase, to: Phase): boolean {
  return (TRANSITIONS[from] as readonly Phase[]).includes(to);
}

/** A session's phase, changed only through the table. */
export class Lifecycle {
  private current: Phase = 'resolving';

  /** @param invalid told of a transition the table refuses (the phase is then unchanged) */
  constructor(private readonly invalid: (from: Phase, to: Phase) => void) {}

  get phase(): Phase {
    return this.current;
  }

  get state(): SessionState {
    return PUBLIC_STATE[this.current];
  }

  /**
   * Moves to `to`.
   * @returns false (after telling the session) when the table does not allow it
   */
  to(to: Phase): boolean {
    const from = this.current;
    if (!mayMove(from, to)) {
      this.invalid(from, to);
      return false;
    }
    this.current = to;
    return true;
  }
}
