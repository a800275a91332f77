/**
 * Several guacd behind one gateway: where each listens, whether it is up,
 * and how many sessions each holds, so that a new session goes to the
 * healthy guacd with the fewest and never to one that is down.
 *
 * The health check is a connect probe: a TCP (or Unix socket) connection,
 * with the TLS handshake for a `tls` member, closed at once (for TLS after a
 * short wait for a refused client certificate: see `TLS_SETTLE_MS`). It costs guacd
 * one accepted connection whose thread sees EOF where it waits for `select`;
 * nothing is forked and nothing is logged at guacd's default level. A
 * Guacamole handshake would be more thorough but each `select` makes guacd
 * fork a connection process: far too dear to run every few seconds on every
 * guacd. What the probe cannot see (a guacd whose kernel still accepts but
 * whose daemon hangs) shows as a session's connect timeout.
 *
 * The pool also learns from the sessions: a member that refused a session's
 * connection is marked down at once, without waiting for the next probe.
 * Members are named by their address as the operator spells it
 * (`10.0.0.5:4822`, `tls://guacd-2:4822`, `unix:/run/guacd.sock`): the name is
 * what a gateway records for each session, and what another gateway that
 * lists the same guacd looks it up by (a share link joined elsewhere).
 *
 * No timers keep the process alive; nothing is logged: changes are events
 * (`health`) and `guacamole-gateway:guacd:health` diagnostics messages.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { publish } from '../diagnostics.js';
import { isGuacError } from '../protocol/errors.js';
import { describeAddress, openSocket, type GuacdAddress } from './socket.js';

/** One guacd of a pool. */
export interface PoolMemberOptions {
  /** How sessions and `/healthz` name it; unique in the pool. Default: its address (`describeAddress`). */
  name?: string;
  /** Where it listens, or a function asked at each connect (a supervised guacd may move). */
  address: GuacdAddress | (() => GuacdAddress);
}

/** Options of {@link GuacdPool}. */
export interface GuacdPoolOptions {
  /** How often each guacd is probed once `start()` ran. Default 5000 ms; 0 = only on demand (`check()`). */
  checkIntervalMs?: number;
  /** Limit of one probe (connect and TLS). Default 2000 ms. */
  checkTimeoutMs?: number;
  /** `check()` reuses a probe's answer this long. Default 2000 ms. */
  cacheMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

/** A member as `status()` reports it. */
export interface GuacdMemberStatus {
  name: string;
  /** The last probe (or session connect) reached it; true until the first probe says otherwise. */
  healthy: boolean;
  /** Sessions whose connection to it is open. */
  sessions: number;
  /** When it was last probed (ms since the epoch); undefined before the first probe. */
  checkedAt?: number;
  /** Why it is down (a GuacError code such as `GUAC_GUACD_UNREACHABLE`). */
  error?: string;
}

/** `health` event and `guacamole-gateway:guacd:health` message: a member went up or down. */
export interface GuacdHealthChange {
  guacd: string;
  healthy: boolean;
  /** Why it is down. */
  error?: string;
  /** Sessions it holds now. */
  sessions: number;
}

/**
 * With TLS 1.3 a client's handshake completes before the server has checked
 * the client's certificate (or its absence); a server that refuses it says so
 * right after. A TLS probe waits this long for that refusal (guacd itself
 * sends nothing before `select`, so silence is the good answer).
 */
const TLS_SETTLE_MS = 300;

function isTls(address: GuacdAddress): boolean {
  return address.tls !== undefined && address.tls !== false;
}

/** Waits up to `ms` for the peer to end the connection after the handshake; resolves why, or undefined. */
function refusedAfterHandshake(socket: Duplex, ms: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const done = (why: string | undefined): void => {
      clearTimeout(timer);
      resolve(why);
    };
    const timer = setTimeout(() => done(undefined), ms);
    socket.once('error', () => done('GUAC_GUACD_IO'));
    socket.once('close', () => done('GUAC_GUACD_IO'));
    socket.resume();
  });
}

class Member {
  healthy = true;
  sessions = 0;
  checkedAt: number | undefined;
  /** The address the last probe was about (a moved address is probed at once). */
  checkedWhere: string | undefined;
  error: string | undefined;
  running: Promise<boolean> | undefined;

  constructor(readonly name: string, readonly address: () => GuacdAddress) {}

  status(): GuacdMemberStatus {
    return {
      name: this.name, healthy: this.healthy, sessions: this.sessions,
      ...(this.checkedAt === undefined ? {} : { checkedAt: this.checkedAt }),
      ...(this.error === undefined ? {} : { error: this.error }),
    };
  }
}

/** The pool. Emits `health` ({@link GuacdHealthChange}) when a member goes up or down. */
export class GuacdPool extends EventEmitter {
  private readonly members: Member[];
  private readonly byName = new Map<string, Member>();
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  /** Rotates among members tied for fewest sessions, so that an idle pool still spreads. */
  private turn = 0;

  /**
   * @param members at least one guacd
   * @throws TypeError for an empty pool or two members of one name (a programming error)
   */
  constructor(members: readonly PoolMemberOptions[], opts: GuacdPoolOptions = {}) {
    super();
    if (members.length === 0) throw new TypeError('A guacd pool needs at least one guacd.');
    this.members = members.map((m) => {
      const address = typeof m.address === 'function' ? m.address : ((a) => () => a)(m.address);
      return new Member(m.name ?? describeAddress(address()), address);
    });
    for (const m of this.members) {
      if (this.byName.has(m.name)) throw new TypeError(`Two guacd of the pool are named ${JSON.stringify(m.name)}.`);
      this.byName.set(m.name, m);
    }
    this.intervalMs = opts.checkIntervalMs ?? 5000;
    this.timeoutMs = opts.checkTimeoutMs ?? 2000;
    this.cacheMs = opts.cacheMs ?? 2000;
    this.now = opts.now ?? Date.now;
  }

  /** Member names, in the order given. */
  get names(): string[] {
    return this.members.map((m) => m.name);
  }

  /** Probes every member now, then every `checkIntervalMs` (the timer does not keep the process alive). */
  start(): void {
    if (this.timer !== undefined) return;
    void this.probeAll();
    if (this.intervalMs > 0) {
      this.timer = setInterval(() => void this.probeAll(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Stops the periodic probes. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Every member's state, without probing (the accessor metrics read). */
  status(): GuacdMemberStatus[] {
    return this.members.map((m) => m.status());
  }

  /**
   * Every member's state, probing those whose answer is older than
   * `cacheMs` or whose address moved. One probe per member runs at a time:
   * callers arriving meanwhile share it (`/healthz` is unauthenticated and
   * must not turn into connections to guacd).
   */
  async check(): Promise<GuacdMemberStatus[]> {
    await Promise.all(this.members.map((m) => {
      const fresh = m.checkedAt !== undefined && m.checkedWhere === describeAddress(m.address())
        && this.now() - m.checkedAt < this.cacheMs;
      return fresh ? undefined : this.probe(m);
    }));
    return this.status();
  }

  /** The address of member `name`, or undefined when the pool has none of that name. */
  address(name: string): GuacdAddress | undefined {
    return this.byName.get(name)?.address();
  }

  /**
   * Where a new session goes: the healthy member with the fewest sessions,
   * skipping `exclude` (members this session already failed on); ties rotate.
   * @returns its name, or undefined when every member is down or excluded
   */
  pick(exclude: ReadonlySet<string> = new Set()): string | undefined {
    let best: Member | undefined;
    const n = this.members.length;
    for (let i = 0; i < n; i++) {
      const m = this.members[(this.turn + i) % n]!;
      if (!m.healthy || exclude.has(m.name)) continue;
      if (best === undefined || m.sessions < best.sessions) best = m;
    }
    if (best !== undefined) this.turn = (this.members.indexOf(best) + 1) % n;
    return best?.name;
  }

  /** A session could not reach member `name` (`code` says why): it is down until a probe reaches it. */
  markDown(name: string, code: string): void {
    const m = this.byName.get(name);
    if (m) this.setHealth(m, false, code);
  }

  /**
   * Counts a session on member `name` until `socket` (its connection to that
   * guacd) closes.
   */
  attach(name: string, socket: Duplex): void {
    const m = this.byName.get(name);
    if (!m) return;
    m.sessions++;
    let counted = true;
    const release = (): void => {
      if (!counted) return;
      counted = false;
      m.sessions--;
    };
    socket.once('close', release);
    if (socket.destroyed) release();
  }

  private probeAll(): Promise<unknown> {
    return Promise.all(this.members.map((m) => this.probe(m)));
  }

  private probe(m: Member): Promise<boolean> {
    if (m.running) return m.running;
    const address = m.address();
    const where = describeAddress(address);
    const running = openSocket(address, { timeoutMs: this.timeoutMs }).then(async (socket) => {
      const refused = isTls(address) ? await refusedAfterHandshake(socket, Math.min(TLS_SETTLE_MS, this.timeoutMs)) : undefined;
      socket.destroy();
      return refused;
    }, (err: unknown) => (isGuacError(err) ? err.code : 'GUAC_GUACD_IO')).then((error) => {
      m.running = undefined;
      m.checkedAt = this.now();
      m.checkedWhere = where;
      this.setHealth(m, error === undefined, error);
      return error === undefined;
    });
    m.running = running;
    return running;
  }

  private setHealth(m: Member, healthy: boolean, error: string | undefined): void {
    m.error = healthy ? undefined : error;
    if (m.healthy === healthy) return;
    m.healthy = healthy;
    const change: GuacdHealthChange = { guacd: m.name, healthy, sessions: m.sessions, ...(m.error === undefined ? {} : { error: m.error }) };
    publish('guacdHealth', () => change);
    this.emit('health', change);
  }
}
