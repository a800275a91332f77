/**
 * The registry's public shapes: the `Registry` interface both backends
 * implement, and the records it hands out. Secret parameter values never
 * appear in these records; {@link Registry.resolveParams} is the one way to
 * get them back, for the tunnel only.
 */
import type { Logger } from '../logger.js';
import { STATUS, type StatusInfo } from '../protocol/status.js';
import type { RecordSpec } from '../tunnel/recording/recorder.js';
import type { RecordingStore } from './recordings.js';
import type { FileRules } from './file-rules.js';
import type { TransferEntry, TransferInput, TransferQuery } from './transfers.js';
export type { TransferEntry, TransferInput, TransferQuery } from './transfers.js';
export type { FileRules } from './file-rules.js';

/** How sessions whose access was taken away end: the browser and history both get it. */
export const ACCESS_REVOKED = Object.freeze({ status: STATUS.CLIENT_FORBIDDEN, message: 'Access was revoked.' });

/** What an API answer shows in place of a secret parameter's value. */
export const SECRET_PLACEHOLDER = '[set]';

/** A value as accepted from callers (CLI strings, JSON scalars). */
export type ParamInput = string | number | boolean;

/** A stored connection as shown to administrators. */
export interface Connection {
  /** UUID, stable across renames. */
  id: string;
  /** Unique human name. */
  name: string;
  /** guacd protocol (`ssh`, `vnc`, `rdp`, `telnet`, `kubernetes`). */
  protocol: string;
  /** guacd parameter names → values; secret parameters read {@link SECRET_PLACEHOLDER}. */
  params: Record<string, string>;
  /** File transfer rules (the tunnel enforces them; a token may only add to them). */
  files: FileRules;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** Milliseconds since the epoch. */
  updatedAt: number;
  /** Its sessions are recorded so; absent: not recorded. */
  record?: RecordSpec;
}

/** Input of {@link Registry.createConnection}. */
export interface ConnectionInput {
  name: string;
  protocol: string;
  /** camelCase or guacd names, validated with `normalizeParams`. */
  params: Record<string, ParamInput>;
  /** Record its sessions (`true`: best-effort, no keys); absent, null or false: not recorded. */
  record?: RecordSpec | boolean | null;
  /** File transfer rules; absent fields allow. */
  files?: Partial<FileRules>;
}

/**
 * Input of {@link Registry.updateConnection}. `params` is merged into the
 * stored ones: a `null` value removes a parameter, the placeholder `"[set]"`
 * keeps a secret unchanged (so an answer can be edited and sent back).
 */
export interface ConnectionPatch {
  name?: string;
  protocol?: string;
  params?: Record<string, ParamInput | null>;
  /** Replace all parameters instead of merging (placeholders still keep secrets). */
  replaceParams?: boolean;
  /** Record its sessions so; null or false: no more; absent: unchanged. */
  record?: RecordSpec | boolean | null;
  /** File transfer rules to change; absent fields keep theirs. */
  files?: Partial<FileRules>;
}

/** Permission of one user to open one connection. */
export interface Grant {
  connectionId: string;
  /** User name, or `*` for every token holder. */
  user: string;
  /** The user may only watch: guacd's `read-only` is forced on. */
  readOnly: boolean;
  createdAt: number;
}

/** Input of {@link Registry.mintToken}. */
export interface MintOptions {
  /** Connection id or name. */
  connection: string;
  /** The user the token is for; must hold a grant (or `*` must). */
  user: string;
  readOnly?: boolean;
  /** Lifetime in seconds (default 300, at most 7 days). */
  ttlSeconds?: number;
  /** The token opens one session only. */
  once?: boolean;
  /** Its holder may share the sessions it opens from the page (the page's Share control). */
  share?: boolean;
  /** No uploads in its sessions (added to the connection's rules). */
  noUpload?: boolean;
  /** No downloads in its sessions. */
  noDownload?: boolean;
  /** Largest upload in its sessions (the smaller of this and the connection's applies). */
  maxUploadBytes?: number;
}

/** Result of {@link Registry.mintToken}. */
export interface MintedToken {
  token: string;
  jti: string;
  connectionId: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/** Input of {@link Registry.createShare}. */
export interface ShareOptions {
  /** The live session to share (its id in history). */
  session: string;
  /** Who hands it out (history and listings); the admin API leaves it unset. */
  creator?: string;
  /** Watch only (default false: full control, refused for a read-only session). */
  readOnly?: boolean;
  /** Lifetime in seconds (default and bounds as tokens'). */
  ttlSeconds?: number;
  /** Good for one join only. */
  once?: boolean;
}

/** A share link as stored (the token itself is never stored). */
export interface Share {
  /** Random id; the token's `jti`. */
  id: string;
  /** The session it joins: the owner's, even when a participant created it. */
  sessionId: string;
  creator: string | null;
  readOnly: boolean;
  once: boolean;
  /** Milliseconds since the epoch. */
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

/** What {@link Registry.createShare} returns: the record and its token, shown once. */
export interface CreatedShare extends Share {
  token: string;
}

/** What a revocation applies to. */
export type RevokeTarget = { jti: string; expiresAt?: number } | { user: string } | { connection: string };

/** A session as recorded in history. */
export interface HistoryEntry {
  /** The tunnel's session id (its UUID). */
  id: string;
  user: string | null;
  connectionId: string | null;
  /** Name of the connection when the session started (history outlives renames and removals). */
  connectionName: string | null;
  protocol: string | null;
  /** guacd's `$…` connection id, once known. */
  guacdId: string | null;
  /**
   * Which guacd holds the connection: its name in the gateway's pool (the
   * address as configured, `--guacd`), once known. With `guacdId` and
   * `endedAt` null, this is the live-session directory a join through any
   * gateway is routed by.
   */
  guacd: string | null;
  /** The id of the token that opened it (its jti), when the resolver named one: `token revoke --jti` ends it. */
  tokenId: string | null;
  remoteAddress: string | null;
  /** Id of the gateway process hosting the session. */
  gateway: string | null;
  startedAt: number;
  endedAt: number | null;
  bytesFromBrowser: number;
  bytesToBrowser: number;
  /** Guacamole status code the session ended with. */
  status: number | null;
  /** Why it ended, in words (null: still open, or recorded before this was kept). */
  message: string | null;
  /** The session could only watch (null: recorded before this was kept). */
  readOnly: boolean | null;
  /** The share link it joined through, if any. */
  shareId: string | null;
  /** The session it joined (the owner's), if it came in through a share link. */
  joinedSession: string | null;
}

/** Input of {@link Registry.sessionStarted}. */
export interface SessionStart {
  id: string;
  user?: string | undefined;
  connectionId?: string | undefined;
  protocol?: string | undefined;
  guacdId?: string | undefined;
  /** The guacd (pool member name) holding the connection (`SessionInfo.guacd`). */
  guacd?: string | undefined;
  /** The id of the token that opened it (`Target.tokenId`). */
  tokenId?: string | undefined;
  remoteAddress?: string | undefined;
  /** Milliseconds since the epoch or a Date (default now). */
  startedAt?: number | Date | undefined;
  /** The session could only watch. */
  readOnly?: boolean | undefined;
  /** The share link it joined through (its joined session is the share's). */
  shareId?: string | undefined;
}

/** Input of {@link Registry.sessionEnded}; creates the record if the start was never seen. */
export interface SessionEnd extends SessionStart {
  endedAt?: number | Date | undefined;
  bytesFromBrowser?: number | undefined;
  bytesToBrowser?: number | undefined;
  /** Guacamole status code (number) or status row. */
  status?: number | StatusInfo | undefined;
  /** Why it ended, in words (what the browser was told). */
  message?: string | undefined;
}

/** Filter of {@link Registry.listSessions}. */
export interface SessionQuery {
  /** Only sessions not ended yet. */
  active?: boolean;
  user?: string;
  /** Connection id. */
  connectionId?: string;
  /** Only the sessions that joined this one through share links. */
  joinedSession?: string;
  /** Newest first; default 100, at most 1000. */
  limit?: number;
  offset?: number;
}

/** A resolved connection, secrets decrypted: for the tunnel, never for answers or logs. */
export interface ResolvedConnection {
  id: string;
  name: string;
  protocol: string;
  params: Record<string, string>;
  record?: RecordSpec;
  files: FileRules;
}

/**
 * Closes live sessions; the server wires the tunnel in. `close` answers
 * false when the session is not live in this process.
 */
export interface SessionControl {
  close(sessionId: string, status: StatusInfo): boolean | Promise<boolean>;
}

/** The registry: connections, grants, tokens, history. Every method may reject with a `GuacError`. */
export interface Registry {
  /** `sqlite` or `postgres`. */
  readonly kind: 'sqlite' | 'postgres';
  /** Random id of this process's registry handle, stored with the sessions it records. */
  readonly gatewayId: string;
  /** Where the registry reports (`openRegistry`'s `logger`); its resolvers and history hooks use it too. */
  readonly logger?: Logger;
  /** Metadata of session recordings (src/registry/recordings.ts). */
  readonly recordings: RecordingStore;

  createConnection(input: ConnectionInput): Promise<Connection>;
  listConnections(): Promise<Connection[]>;
  /** By id or name; undefined when absent. */
  getConnection(idOrName: string): Promise<Connection | undefined>;
  updateConnection(idOrName: string, patch: ConnectionPatch): Promise<Connection>;
  /** Removes the connection and its grants, and ends its live sessions (CLIENT_FORBIDDEN); history is kept. */
  removeConnection(idOrName: string): Promise<void>;
  /** Decrypts a connection's parameters for a tunnel. */
  resolveParams(idOrName: string): Promise<ResolvedConnection>;

  /** Creates or replaces a grant. */
  grant(connection: string, user: string, opts?: { readOnly?: boolean }): Promise<Grant>;
  /**
   * Removes a grant; false when there was none. The live sessions it let in
   * (its user's on that connection, or for `*` everyone's) end with
   * CLIENT_FORBIDDEN "Access was revoked.", unless another grant still covers them.
   */
  ungrant(connection: string, user: string): Promise<boolean>;
  listGrants(connection?: string): Promise<Grant[]>;
  /** The grant that lets `user` open the connection (`user`'s own first, else `*`). */
  findGrant(connectionId: string, user: string | undefined): Promise<Grant | undefined>;

  mintToken(opts: MintOptions): Promise<MintedToken>;
  /** Marks a single-use token used; false when it already was (atomic across gateways). */
  consumeToken(jti: string, expiresAt: number): Promise<boolean>;
  /**
   * Revokes a token (by jti), or every token of a user or connection issued
   * before now (see src/registry/README.md), and ends the live sessions they
   * opened on every gateway with CLIENT_FORBIDDEN "Access was revoked."
   * (sessions are found in history).
   */
  revoke(target: RevokeTarget): Promise<void>;
  /** True when the token was revoked by jti, by user or by connection. `issuedAt` in ms. */
  isRevoked(token: { jti: string; issuedAt: number; user?: string | undefined; connection?: string | undefined }): Promise<boolean>;
  /**
   * True when access a session was let in with has since been taken away: its
   * token, user or connection revoked at or after `startedAt` (ms), or its registry
   * connection no longer granted to its user. Checked once the session's
   * history row exists, for changes that raced its connect.
   */
  accessWithdrawn(session: { user?: string | undefined; connectionId?: string | undefined; tokenId?: string | undefined; startedAt: number }): Promise<boolean>;
  /** Deletes used/revoked jti rows whose token has expired. Returns how many. */
  pruneTokens(now?: number): Promise<number>;

  /**
   * Creates a share link for a live session.
   * @throws GuacError `GUAC_SESSION_NOT_FOUND`, `GUAC_SESSION_ENDED`, `GUAC_SHARE_NOT_READY` (no guacd id yet),
   *   `GUAC_SHARE_FORBIDDEN` (full control asked of a read-only session), `GUAC_TTL_INVALID`, `GUAC_REQUEST_INVALID`
   */
  createShare(opts: ShareOptions): Promise<CreatedShare>;
  /** By id; undefined when absent. */
  getShare(id: string): Promise<Share | undefined>;
  /** The shares of a session (the owner's id, or a participant's: the same list), newest first. */
  listShares(session: string): Promise<Share[]>;
  /**
   * Revokes a share: refused from now on, on every gateway, and the sessions
   * opened through it end with CLIENT_FORBIDDEN "The share link was revoked.".
   * False when there is no such share.
   */
  revokeShare(id: string): Promise<boolean>;

  sessionStarted(s: SessionStart): Promise<void>;
  sessionEnded(s: SessionEnd): Promise<void>;
  listSessions(q?: SessionQuery): Promise<HistoryEntry[]>;
  getSession(id: string): Promise<HistoryEntry | undefined>;
  /** Records one file transfer of a session (the tunnel's `onTransfer`, see `registrySessionHooks`). */
  transferRecorded(t: TransferInput): Promise<TransferEntry>;
  /** Recorded transfers, newest first. */
  listTransfers(q?: TransferQuery): Promise<TransferEntry[]>;
  /**
   * Asks whichever gateway hosts the session to close it: delivered to every
   * {@link onSessionEndRequest} handler of every gateway sharing the database
   * (PostgreSQL NOTIFY; in process for SQLite).
   */
  requestSessionEnd(sessionId: string, status: StatusInfo, message?: string): Promise<void>;
  /**
   * Says, now and every 30 s, that this gateway is alive, so no other
   * gateway takes its open sessions for orphans. Started by the first
   * `sessionStarted`; idempotent.
   */
  startHeartbeat(): Promise<void>;
  /**
   * Ends (status SERVER_ERROR, ended now) the open sessions of gateways that
   * stopped beating `staleMs` ago (default 90 s): gateways that died without
   * ending them. Never this gateway's own. With `gateway`: the open sessions
   * of that gateway, now (a worker process known to have died).
   * @returns how many were ended
   */
  endOrphanedSessions(opts?: { staleMs?: number; now?: number; gateway?: string }): Promise<number>;
  /** Registers a handler for {@link requestSessionEnd}; returns an unsubscribe function. */
  onSessionEndRequest(handler: (sessionId: string, status: StatusInfo, message?: string) => void): Promise<() => void>;

  close(): Promise<void>;
}
