/**
 * Options of `createTunnel` and the session records it reports.
 */
import type { GuacdPool } from '../guacd/pool.js';
import type { GuacdAddress } from '../guacd/socket.js';
import type { Logger } from '../logger.js';
import type { ParserLimits } from '../protocol/constants.js';
import type { StatusInfo } from '../protocol/status.js';
import type { Resolver } from './resolver.js';
import type { RecorderFactory } from './recording/start.js';
import type { TransferRecord } from './streams/interceptor.js';

/** Size and memory limits; every one has a default. */
export interface TunnelLimits {
  /** Sessions open at once (any state); more are refused with SERVER_BUSY. Default 1000. */
  maxSessions?: number;
  /** Parser limits for both directions. Default guacd's own (`GUACD_LIMITS`). */
  parser?: Partial<ParserLimits>;
  /** Largest WebSocket message accepted from a browser. Default 1 MiB. */
  maxMessageBytes?: number;
  /** Largest HTTP `?connect` body. Default 64 KiB. */
  maxConnectBodyBytes?: number;
  /** Browser input held while guacd is being connected; more is CLIENT_OVERRUN. Default 256 KiB. */
  maxPendingInputBytes?: number;
  /**
   * Bytes waiting for the browser above which neither guacd nor the browser
   * (whose pings and input make output too) is read. Default 1 MiB.
   */
  highWaterBytes?: number;
  /** Bytes waiting for the browser at or below which both are read again. Default 256 KiB. */
  lowWaterBytes?: number;
  /**
   * Live sessions opened with one token (the resolver's `Target.tokenId`);
   * more are refused with CLIENT_TOO_MANY (`GUAC_TUNNEL_TOO_MANY`). Default 4; 0 = no cap.
   */
  maxSessionsPerToken?: number;
  /** Live sessions of one user (`Target.user`), across tokens. Default 10; 0 = no cap. */
  maxSessionsPerUser?: number;
  /**
   * Live sessions from one client address (an IPv6 client's /64 counts as
   * one; see `trustedProxies` behind a proxy), checked before the resolver
   * runs. Default 32; 0 = no cap.
   */
  maxSessionsPerAddress?: number;
  /**
   * Handshakes (WebSocket upgrades, HTTP `?connect`) one address may start
   * per `handshakeWindowMs`, refused or not; more are refused with
   * CLIENT_TOO_MANY (`GUAC_TUNNEL_RATE_LIMITED`) before the resolver runs.
   * A bucket of this many, refilled evenly over the window. Default 30; 0 = no limit.
   */
  handshakesPerAddress?: number;
  /** See `handshakesPerAddress`. Default 60 000 ms. */
  handshakeWindowMs?: number;
}

/** Options of `createTunnel`. */
export interface TunnelOptions {
  /**
   * Where guacd listens, or a function asked at each connect (a supervised
   * guacd may move), or a {@link GuacdPool} of several: each new session goes
   * to the healthy one with the fewest sessions, a join (`Target.guacd`) to the
   * one named. The caller starts and stops the pool.
   */
  guacd: GuacdAddress | (() => GuacdAddress) | GuacdPool;
  /** Decides what each connect request opens. Awaited before guacd is contacted. */
  resolve: Resolver;
  /** No user input (see `isActivity`) for this long ends the session with SESSION_TIMEOUT. 0 = never (default). */
  idleTimeoutMs?: number;
  /** Sessions end with SESSION_CLOSED after this long. 0 = never (default). */
  maxSessionMs?: number;
  /** Resolve + guacd connect + handshake must finish within this (a resolver still pending then: SERVER_ERROR; guacd: UPSTREAM_TIMEOUT). Default 15 000 ms. */
  handshakeTimeoutMs?: number;
  /**
   * After guacd's `ready`, its first frame (`sync`: the remote desktop
   * answered, the state in which guacamole-common-js reports CONNECTED) must
   * arrive within this, else UPSTREAM_TIMEOUT. guacd 1.3.0 itself waits
   * forever on a target that accepts and never answers. Not applied once
   * guacd asks for credentials (`required`). Default 15 000 ms; 0 = never.
   */
  firstFrameTimeoutMs?: number;
  /**
   * A browser that sends nothing (WebSocket: not even a pong to our pings;
   * HTTP: no request) for this long is gone: CLIENT_TIMEOUT. Pongs and
   * requests count only once the browser has sent an instruction, which
   * every Guacamole client does at once (a ping, a `nop`): a peer that opens
   * a session and only answers pings is cut the same way. A browser with
   * more than `limits.highWaterBytes` waiting for it is alive only while it
   * takes some of them: one that takes none for this long ends with
   * CLIENT_TIMEOUT (`GUAC_TUNNEL_BROWSER_STALLED`), whatever it sends.
   * Default 15 000 ms (the Java HTTP tunnel's expiry and
   * guacamole-common-js's own receive timeout); 0 = never.
   */
  browserTimeoutMs?: number;
  limits?: TunnelLimits;
  /**
   * Origins allowed to use the HTTP tunnel cross-origin (CORS with
   * credentials, as `Guacamole.HTTPTunnel(url, true)` needs). Default none:
   * same origin only. The WebSocket tunnel is not origin-checked: the token is
   * the credential.
   */
  allowedOrigins?: readonly string[] | ((origin: string) => boolean);
  /**
   * Addresses of reverse proxies in front of the gateway whose
   * `X-Forwarded-For` is believed: the client's address (history, the
   * per-address limits) is then the last one they forwarded for. Default
   * none: the socket's peer. Behind a proxy, without this every browser
   * shares the proxy's address and its per-address limits.
   */
  trustedProxies?: readonly string[];
  /**
   * Starts every HTTP tunnel session's `Guacamole-Tunnel-Token` (then 33
   * random bytes, as always): a process among several sharing a port names
   * itself there, so a read or write reaching another process can be passed
   * to it. Up to 32 of `A-Z a-z 0-9 . _ -`. Default none.
   */
  httpTokenPrefix?: string;
  /**
   * Where the tunnel reports (a pino logger fits; see `Logger`). Each session
   * logs through `logger.child({ session: id })`. Default: nowhere. The same
   * events, without a logger, are on the `CHANNELS` diagnostics channels.
   */
  logger?: Logger;
  /** Called once a session reached guacd's `ready`. Errors (and rejections) are logged, never thrown. */
  onSessionStart?: (info: SessionInfo) => unknown;
  /**
   * Called exactly once per session whose request was resolved (whether guacd
   * was then reached or not), after both sides are closed.
   */
  onSessionEnd?: (record: SessionRecord) => unknown;
  /**
   * Makes the recorder of a session whose target asks to be recorded
   * (`Target.record`; see src/tunnel/recording/). Without it such targets
   * are not recorded, and a `required` one is refused.
   */
  recorder?: RecorderFactory;
  /**
   * Called once per file transfer (upload or download, over the HTTP stream
   * routes or the tunnel), finished, failed or refused by policy. Errors
   * (and rejections) are logged, never thrown.
   */
  onTransfer?: (record: TransferRecord, session: SessionInfo) => unknown;
}

/** A session as it starts. */
export interface SessionInfo {
  /** The tunnel UUID (also what the browser sees). */
  id: string;
  transport: 'websocket' | 'http';
  user?: string;
  /** Registry id of the connection, if the resolver named one. */
  connectionId?: string;
  /** The resolver's `Target.tokenId` (a token's jti), if any. */
  tokenId?: string;
  protocol?: string;
  /** Set when the session joined a live connection. */
  join?: string;
  readOnly: boolean;
  remoteAddress?: string;
  /** When the browser connected. */
  start: Date;
  /** guacd's `$…` id of the connection, once `ready`. */
  guacdConnectionId?: string;
  /** The protocol version guacd's handshake settled on (`VERSION_1_3_0`, …), once `ready`. */
  guacdProtocol?: string;
  /** Which guacd of the tunnel's `GuacdPool` it runs on (the member's name), once `ready`. */
  guacd?: string;
}

/** A finished session, for history. */
export interface SessionRecord extends SessionInfo {
  end: Date;
  /** Bytes of Guacamole protocol received from the browser (internal instructions included). */
  bytesFromBrowser: number;
  /** Bytes sent to the browser (internal instructions included). */
  bytesToBrowser: number;
  /** How it ended: SUCCESS for a normal end, guacd's status for guacd's `error`, ours otherwise. */
  status: StatusInfo;
  /** Human reason, free of secrets. */
  message: string;
}

/** Live counters of a session. */
export interface SessionStats {
  bytesFromBrowser: number;
  bytesToBrowser: number;
  /** Times guacd (and the browser's input with it) was paused because the browser was not keeping up. */
  guacdPauses: number;
  /** Times the browser was paused because guacd was not keeping up. */
  browserPauses: number;
  /** Bytes currently waiting for the browser (ours and the socket's). */
  browserBuffered: number;
  /** Highest `browserBuffered` seen. */
  maxBrowserBuffered: number;
  /** guacd is paused right now, the browser not keeping up (its input is not read either). */
  guacdPaused: boolean;
}

/** A live session, as `tunnel.sessions` lists it. */
export interface SessionHandle {
  readonly info: Readonly<SessionInfo>;
  readonly state: SessionState;
  readonly stats: Readonly<SessionStats>;
  /** Ends the session (default SESSION_CLOSED). */
  close(status?: StatusInfo, message?: string): void;
  /** Sends one whole instruction (encoded) to the browser; nothing once closed. */
  sendInternal(instruction: string): void;
}

/** connecting (resolve, guacd handshake) → open (relaying) → closed. */
export type SessionState = 'connecting' | 'open' | 'closed';
