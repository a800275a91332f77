/**
 * `node:diagnostics_channel` events of the library, for a host application
 * to observe sessions without a logger (metrics, tracing, audit):
 *
 * ```ts
 * import diagnostics_channel from 'node:diagnostics_channel';
 * import { CHANNELS, type SessionCloseMessage } from 'guacamole-gateway';
 * diagnostics_channel.subscribe(CHANNELS.sessionClose, (m) => count((m as SessionCloseMessage).statusName));
 * ```
 *
 * Per session, in this order: `session:open` (a browser connected), then
 * `handshake:done` (guacd's `ready`) or `handshake:failed` (refused, timed
 * out, or the browser left first), then `session:close`. `guacd:retry` comes
 * whenever guacd did not start a connection and a fresh one is tried.
 * `guacd:health` comes when a guacd of a pool (`GuacdPool`) goes down or
 * comes back; the pool's `status()` gives every guacd's health and session
 * count at any time (what a metrics gauge reads).
 *
 * Messages carry identifiers, statuses and counts, never a secret: no
 * connection parameter values, no token, no password. A message is built only
 * when a channel has subscribers, so unobserved channels cost a property read.
 */
import diagnostics_channel from 'node:diagnostics_channel';

/** The channel names (stable: part of the public API). */
export const CHANNELS = Object.freeze({
  sessionOpen: 'guacamole-gateway:session:open',
  sessionClose: 'guacamole-gateway:session:close',
  handshakeDone: 'guacamole-gateway:handshake:done',
  handshakeFailed: 'guacamole-gateway:handshake:failed',
  guacdRetry: 'guacamole-gateway:guacd:retry',
  guacdHealth: 'guacamole-gateway:guacd:health',
  recordingEnd: 'guacamole-gateway:recording:end',
  transferEnd: 'guacamole-gateway:transfer:end',
} as const);

/** `guacamole-gateway:session:open`: a browser connected; nothing is resolved yet. */
export interface SessionOpenMessage {
  /** The tunnel UUID (what the browser sees, `SessionInfo.id`). */
  session: string;
  transport: 'websocket' | 'http';
  remoteAddress?: string;
}

/** `guacamole-gateway:handshake:done`: guacd is `ready`; relaying starts. */
export interface HandshakeDoneMessage {
  session: string;
  protocol?: string;
  /** guacd's id of the connection joined, when the session joined one. */
  join?: string;
  readOnly: boolean;
  user?: string;
  /** Registry id of the connection, when the resolver named one. */
  connectionId?: string;
  /** guacd's `$…` id of the connection. */
  guacdConnectionId?: string;
  /** The pool's name of the guacd the session runs on, when the tunnel has a `GuacdPool`. */
  guacd?: string;
  /** From the browser connecting to guacd's `ready`. */
  durationMs: number;
}

/** `guacamole-gateway:handshake:failed`: the session ended before guacd's `ready`. */
export interface HandshakeFailedMessage {
  session: string;
  /** The error code (`GUAC_TOKEN_EXPIRED`, `GUAC_GUACD_UNREACHABLE`, …); `GUAC_TUNNEL_CLOSED` when the browser left. */
  code: string;
  /** Guacamole status code and name. */
  status: number;
  statusName: string;
  /** The human reason, as the browser got it (free of secrets). */
  message: string;
  durationMs: number;
}

/** `guacamole-gateway:session:close`: both sides are closed (once per `session:open`). */
export interface SessionCloseMessage {
  session: string;
  transport: 'websocket' | 'http';
  /** The session reached guacd's `ready`. */
  opened: boolean;
  /** The pool's name of the guacd it ran on (see `HandshakeDoneMessage.guacd`). */
  guacd?: string;
  code: string;
  status: number;
  statusName: string;
  message: string;
  durationMs: number;
  bytesFromBrowser: number;
  bytesToBrowser: number;
}

/** `guacamole-gateway:guacd:retry`: guacd did not start a connection; a fresh one is tried. */
export interface GuacdRetryMessage {
  /** Why the attempt failed. */
  code: string;
  /** The attempt that failed (1 = the first). */
  attempt: number;
  /** guacd's address as `host:port` or the socket path. */
  guacd: string;
}

/** `guacamole-gateway:guacd:health`: a guacd of a pool went down or came back (`GuacdHealthChange`). */
export interface GuacdHealthMessage {
  /** The pool's name of it (its address as configured). */
  guacd: string;
  healthy: boolean;
  /** Why it is down (`GUAC_GUACD_UNREACHABLE`, `GUAC_GUACD_TIMEOUT`, `GUAC_GUACD_IO`). */
  error?: string;
  /** Sessions it holds now. */
  sessions: number;
}

/** `guacamole-gateway:recording:end`: a session's recording file was closed. */
export interface RecordingEndMessage {
  session: string;
  /** Bytes on disk. */
  size: number;
  /** Every byte of the session reached the file. */
  complete: boolean;
  /** The fault that stopped it (`GUAC_RECORDING_DISK_FULL`, …), when it is incomplete. */
  fault?: string;
  policy: 'required' | 'best-effort';
  durationMs: number;
  /** Times the session stopped reading guacd for the recording's disk to catch up, and for how long in all. */
  diskWaits: number;
  diskWaitMs: number;
}

/** `guacamole-gateway:transfer:end`: a file transfer finished, failed or was refused (no file name: it may say too much). */
export interface TransferEndMessage {
  session: string;
  direction: 'upload' | 'download';
  /** HTTP stream route, or the tunnel itself. */
  via: 'http' | 'tunnel';
  bytes: number;
  /** Guacamole status code and name (SUCCESS, or why it failed or was refused). */
  status: number;
  statusName: string;
  durationMs: number;
}

interface Messages {
  sessionOpen: SessionOpenMessage;
  sessionClose: SessionCloseMessage;
  handshakeDone: HandshakeDoneMessage;
  handshakeFailed: HandshakeFailedMessage;
  guacdRetry: GuacdRetryMessage;
  guacdHealth: GuacdHealthMessage;
  recordingEnd: RecordingEndMessage;
  transferEnd: TransferEndMessage;
}

const channels = Object.fromEntries(
  Object.entries(CHANNELS).map(([key, name]) => [key, diagnostics_channel.channel(name)]),
) as Record<keyof Messages, diagnostics_channel.Channel>;

/**
 * Publishes on a channel, building the message only if someone listens.
 * @internal for the library's layers
 */
export function publish<K extends keyof Messages>(key: K, message: () => Messages[K]): void {
  const channel = channels[key];
  if (channel.hasSubscribers) channel.publish(message());
}
