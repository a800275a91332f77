/**
 * The registry schema as numbered migrations, one text for both SQLite and
 * PostgreSQL (only portable types: TEXT, INTEGER, BIGINT; times are
 * milliseconds since the epoch, booleans 0/1). Applied at open inside one
 * transaction that holds the migration lock, so concurrent gateways never race
 * and a half-applied step never persists. Never edit a shipped migration: add one.
 */
import { REGISTRY } from './errors.js';
import { num, type Db } from './db.js';

/** One schema step. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Every migration, in order. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'connections, grants, tokens, sessions',
    sql: `
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE connections (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  protocol TEXT NOT NULL,
  params TEXT NOT NULL,
  secrets TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE grants (
  connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  user_name TEXT NOT NULL,
  read_only INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (connection_id, user_name)
);
CREATE TABLE used_tokens (
  jti TEXT PRIMARY KEY,
  used_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE TABLE revoked_tokens (
  jti TEXT PRIMARY KEY,
  revoked_at BIGINT NOT NULL,
  expires_at BIGINT
);
CREATE TABLE revocations (
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  before_ms BIGINT NOT NULL,
  PRIMARY KEY (kind, subject)
);
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  user_name TEXT,
  connection_id TEXT,
  connection_name TEXT,
  protocol TEXT,
  guacd_id TEXT,
  remote_address TEXT,
  gateway TEXT,
  started_at BIGINT NOT NULL,
  ended_at BIGINT,
  bytes_from_browser BIGINT NOT NULL DEFAULT 0,
  bytes_to_browser BIGINT NOT NULL DEFAULT 0,
  status INTEGER
);
CREATE INDEX sessions_started ON sessions (started_at);
CREATE INDEX sessions_active ON sessions (ended_at);
CREATE INDEX grants_user ON grants (user_name);
`,
  },
  {
    version: 2,
    name: 'gateway heartbeats',
    // A gateway that dies without ending its sessions (SIGKILL, power loss)
    // leaves them open in history; live gateways beat here, so the others can
    // tell such sessions from live ones and close them.
    sql: `
CREATE TABLE gateways (
  id TEXT PRIMARY KEY,
  started_at BIGINT NOT NULL,
  last_seen BIGINT NOT NULL
);
`,
  },
  {
    version: 3,
    name: 'session end requests',
    // PostgreSQL carries requests to end a session with NOTIFY; a SQLite file
    // has no such channel between processes (the CLI and its one gateway), so
    // the request is a row the gateway polls for and deletes once read.
    sql: `
CREATE TABLE session_end_requests (
  session_id TEXT PRIMARY KEY,
  status INTEGER NOT NULL,
  requested_at BIGINT NOT NULL
);
`,
  },
  {
    version: 4,
    name: 'session end request messages',
    // A session ended because access was revoked tells its browser so, not
    // the bare status text; the SQLite request row carries that message too.
    sql: `
ALTER TABLE session_end_requests ADD COLUMN message TEXT;
`,
  },
  {
    version: 5,
    name: 'session token ids',
    // Which token opened each session (its jti), so revoking a leaked token
    // by its jti also ends the sessions it opened.
    sql: `
ALTER TABLE sessions ADD COLUMN token_id TEXT;
`,
  },
  {
    version: 6,
    name: 'share links',
    // A share link joins one live session (guacd's `$id`); its row is what
    // makes the signed token count: revoked here, it is refused everywhere.
    // A session's row says whether it was read-only (a share never gives more)
    // and, for a join, which share let it in and which session it joined.
    sql: `
CREATE TABLE shares (
  id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  creator TEXT,
  read_only INTEGER NOT NULL,
  once INTEGER NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX shares_session ON shares (session_id);
ALTER TABLE sessions ADD COLUMN read_only INTEGER;
ALTER TABLE sessions ADD COLUMN share_id TEXT;
ALTER TABLE sessions ADD COLUMN joined_session TEXT;
CREATE INDEX sessions_joined ON sessions (joined_session);
`,
  },
  {
    version: 7,
    name: 'session guacd',
    // Which guacd of a gateway's pool holds each session's connection (its
    // name, the address as configured). The open rows are then a live-session
    // directory: a share link joined through any gateway of the registry is
    // opened on the guacd that holds the connection.
    sql: `
ALTER TABLE sessions ADD COLUMN guacd TEXT;
`,
  },
  {
    version: 8,
    name: 'recordings',
    // The gateway records sessions itself (src/tunnel/recording/): one row per
    // file, written when it starts (complete NULL: still being written) and
    // completed when it ends. A connection's `recording` says how its
    // sessions are recorded (JSON: keys, policy), NULL for not at all.
    sql: `
CREATE TABLE recordings (
  id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  connection_id TEXT,
  connection_name TEXT,
  user_name TEXT,
  gateway TEXT,
  file TEXT NOT NULL,
  keys INTEGER NOT NULL,
  policy TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  ended_at BIGINT,
  duration_ms BIGINT,
  first_frame BIGINT,
  size BIGINT NOT NULL DEFAULT 0,
  sha256 TEXT,
  complete INTEGER,
  error TEXT
);
CREATE INDEX recordings_started ON recordings (started_at);
CREATE INDEX recordings_session ON recordings (session_id);
ALTER TABLE connections ADD COLUMN recording TEXT;
`,
  },
  {
    version: 9,
    name: 'session end message',
    // Why a session ended, in words (the message its browser got): a status
    // alone does not tell "the recording could not be written" from any other
    // server error.
    sql: `
ALTER TABLE sessions ADD COLUMN message TEXT;
`,
  },
  {
    version: 10,
    name: 'file transfer rules and history',
    // Per connection: uploads and downloads allowed or not, and the largest
    // upload (0: none). Each transfer of a session is a row of its own: a
    // session may move many files, each with its own result.
    sql: `
ALTER TABLE connections ADD COLUMN no_upload INTEGER NOT NULL DEFAULT 0;
ALTER TABLE connections ADD COLUMN no_download INTEGER NOT NULL DEFAULT 0;
ALTER TABLE connections ADD COLUMN max_upload_bytes BIGINT NOT NULL DEFAULT 0;
CREATE TABLE transfers (
  id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  direction TEXT NOT NULL,
  name TEXT NOT NULL,
  bytes BIGINT NOT NULL,
  via TEXT NOT NULL,
  status INTEGER NOT NULL,
  message TEXT,
  started_at BIGINT NOT NULL,
  ended_at BIGINT NOT NULL
);
CREATE INDEX transfers_session ON transfers (session_id);
CREATE INDEX transfers_started ON transfers (started_at);
`,
  },
];

/**
 * Brings the schema up to date; idempotent.
 * @returns the versions applied by this call
 * @throws GuacError `GUAC_REGISTRY_TOO_NEW` when the database was migrated by a newer gateway
 */
export async function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  return db.transaction(
    async (tx) => {
      await tx.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
      const done = new Set((await tx.all('SELECT version FROM schema_migrations')).map((r) => num(r.version)));
      const known = Math.max(0, ...migrations.map((m) => m.version));
      const newest = Math.max(0, ...done);
      if (newest > known) {
        throw REGISTRY.GUAC_REGISTRY_TOO_NEW({ message: `The registry schema is at version ${newest}, newer than this gateway knows (${known}); upgrade the gateway.` });
      }
      const applied: number[] = [];
      for (const m of migrations) {
        if (done.has(m.version)) continue;
        await tx.exec(m.sql);
        await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, Date.now()]);
        applied.push(m.version);
      }
      return applied;
    },
    { migrationLock: true },
  );
}
