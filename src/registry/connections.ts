/**
 * Connections: validation through the guacd parameter catalogue, secret
 * parameters sealed into their own column, and the rows ↔ records mapping.
 * Secret values only ever leave this file through {@link ConnectionStore.resolve}.
 */
import { randomUUID } from 'node:crypto';
import { GuacError } from '../protocol/errors.js';
import { GUACD } from '../guacd/errors.js';
import { REGISTRY } from './errors.js';
import type { Logger } from '../logger.js';
import { canonicalParamName, isKnownProtocol, isSecret, normalize, protocolNames } from './catalogue.js';
import { num, type Db, type Executor, type Row } from './db.js';
import type { SecretBox } from './secret-box.js';
import {
  SECRET_PLACEHOLDER,
  type Connection,
  type ConnectionInput,
  type ConnectionPatch,
  type ParamInput,
  type ResolvedConnection,
} from './types.js';
import { checkConnectionName, isUuid } from './validate.js';
import { checkRecordSpec } from './recordings.js';
import type { RecordSpec } from '../tunnel/recording/recorder.js';
import { checkRules, rulesFromRow, rulesParams, RULE_COLUMNS, type FileRules } from './file-rules.js';

const COLUMNS = `id, name, protocol, params, secrets, created_at, updated_at, recording, ${RULE_COLUMNS}`;

/** True when a driver error is a UNIQUE/PRIMARY KEY violation. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** The error for an id or name that matches nothing. */
export function notFound(idOrName: string): GuacError {
  return REGISTRY.GUAC_CONNECTION_NOT_FOUND({ message: `No connection is named or numbered ${JSON.stringify(idOrName)}.` });
}

function nameTaken(name: string, cause: unknown): GuacError {
  return REGISTRY.GUAC_CONNECTION_EXISTS({ message: `A connection named ${JSON.stringify(name)} already exists.`, cause });
}

function checkProtocol(value: unknown): string {
  if (typeof value !== 'string' || !isKnownProtocol(value)) {
    const shown = typeof value === 'string' ? JSON.stringify(value) : `a ${typeof value}`;
    throw GUACD.GUAC_PROTOCOL_UNKNOWN({ message: `Unknown protocol ${shown}; expected one of ${protocolNames().join(', ')}.` });
  }
  return value;
}

function checkParamsObject(value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw GUACD.GUAC_PARAM_INVALID({ message: 'Connection parameters must be an object of names to values.' });
  }
  // JSON can nest; a parameter is one scalar (null or undefined: unset), never "[object Object]".
  for (const [k, v] of Object.entries(value)) {
    if (v !== null && v !== undefined && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw GUACD.GUAC_PARAM_INVALID({ message: `Parameter ${JSON.stringify(k)} must be a string, number or boolean.` });
    }
  }
  return value as Record<string, unknown>;
}

/** The stored row split into what may be shown and the sealed rest. */
interface StoredRow {
  id: string;
  name: string;
  protocol: string;
  params: Record<string, string>;
  secrets: string | null;
  createdAt: number;
  updatedAt: number;
  /** Sessions of this connection are recorded so (null: not recorded). */
  record: RecordSpec | null;
  files: FileRules;
}

function fromRow(r: Row): StoredRow {
  return {
    id: String(r.id),
    name: String(r.name),
    protocol: String(r.protocol),
    params: JSON.parse(String(r.params)) as Record<string, string>,
    secrets: r.secrets === null || r.secrets === undefined ? null : String(r.secrets),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    record: r.recording === null || r.recording === undefined ? null : (JSON.parse(String(r.recording)) as RecordSpec),
    files: rulesFromRow(r),
  };
}

function sorted(m: Map<string, string>): Record<string, string> {
  return Object.fromEntries([...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** CRUD on the `connections` table. */
export class ConnectionStore {
  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
    private readonly log: Logger,
  ) {}

  private async find(ex: Executor, idOrName: string): Promise<StoredRow | undefined> {
    const row = isUuid(idOrName)
      ? await ex.get(`SELECT ${COLUMNS} FROM connections WHERE id = ?`, [idOrName.toLowerCase()])
      : await ex.get(`SELECT ${COLUMNS} FROM connections WHERE name = ?`, [idOrName]);
    return row ? fromRow(row) : undefined;
  }

  /** The stored row or a `GUAC_CONNECTION_NOT_FOUND` error. */
  async require(idOrName: string, ex: Executor = this.db): Promise<StoredRow> {
    const row = await this.find(ex, idOrName);
    if (!row) throw notFound(idOrName);
    return row;
  }

  private secretsOf(row: StoredRow): Record<string, string> {
    return row.secrets === null ? {} : (JSON.parse(this.box.open(row.secrets, row.id)) as Record<string, string>);
  }

  private view(row: StoredRow): Connection {
    const params = { ...row.params };
    if (row.secrets !== null) {
      // Names of secrets are not secret; show that they are set, never their value.
      for (const name of Object.keys(this.secretsOf(row))) params[name] = SECRET_PLACEHOLDER;
    }
    const view: Connection = {
      id: row.id, name: row.name, protocol: row.protocol, params: sorted(new Map(Object.entries(params))), files: { ...row.files },
      createdAt: row.createdAt, updatedAt: row.updatedAt,
    };
    if (row.record !== null) view.record = { ...row.record };
    return view;
  }

  /** Splits validated parameters into shown and sealed halves. */
  private split(id: string, protocol: string, all: Map<string, string>): { params: string; secrets: string | null } {
    const shown = new Map<string, string>();
    const hidden = new Map<string, string>();
    for (const [k, v] of all) (isSecret(protocol, k) ? hidden : shown).set(k, v);
    return {
      params: JSON.stringify(sorted(shown)),
      secrets: hidden.size ? this.box.seal(JSON.stringify(sorted(hidden)), id) : null,
    };
  }

  async create(input: ConnectionInput): Promise<Connection> {
    const raw = (input ?? {}) as unknown as Record<string, unknown>;
    const name = checkConnectionName(raw.name);
    const protocol = checkProtocol(raw.protocol);
    const given = checkParamsObject(raw.params);
    for (const [k, v] of Object.entries(given)) {
      if (v === SECRET_PLACEHOLDER && isSecret(protocol, canonicalParamName(protocol, k))) {
        throw GUACD.GUAC_PARAM_INVALID({ message: `Parameter "${k}": "${SECRET_PLACEHOLDER}" stands for a stored value and cannot be a new one.` });
      }
    }
    const all = normalize(protocol, given as Record<string, ParamInput>);
    const record = checkRecordSpec(raw.record) ?? null;
    const files = checkRules(raw.files);
    const id = randomUUID();
    const now = Date.now();
    const { params, secrets } = this.split(id, protocol, all);
    try {
      await this.db.run(`INSERT INTO connections (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [id, name, protocol, params, secrets, now, now, record === null ? null : JSON.stringify(record), ...rulesParams(files)]);
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken(name, err);
      throw err;
    }
    this.log.info({ id, name, protocol }, 'registry: connection created');
    return this.view({ id, name, protocol, params: JSON.parse(params) as Record<string, string>, secrets, createdAt: now, updatedAt: now, record, files });
  }

  async list(): Promise<Connection[]> {
    const rows = await this.db.all(`SELECT ${COLUMNS} FROM connections ORDER BY name`);
    return rows.map((r) => this.view(fromRow(r)));
  }

  async get(idOrName: string): Promise<Connection | undefined> {
    const row = await this.find(this.db, idOrName);
    return row ? this.view(row) : undefined;
  }

  async update(idOrName: string, patch: ConnectionPatch): Promise<Connection> {
    const p = (patch ?? {}) as unknown as Record<string, unknown>;
    const name = p.name === undefined ? undefined : checkConnectionName(p.name);
    const protocolIn = p.protocol === undefined ? undefined : checkProtocol(p.protocol);
    const given = checkParamsObject(p.params);
    const recordIn = checkRecordSpec(p.record);
    if (p.replaceParams !== undefined && typeof p.replaceParams !== 'boolean') {
      throw REGISTRY.GUAC_REQUEST_INVALID({ message: '"replaceParams" must be true or false.' });
    }
    const updated = await this.db.transaction(async (tx) => {
      const row = await this.require(idOrName, tx);
      const protocol = protocolIn ?? row.protocol;
      const oldSecrets = this.secretsOf(row);
      const merged: Record<string, ParamInput> = p.replaceParams === true ? {} : { ...row.params, ...oldSecrets };
      for (const [k, v] of Object.entries(given)) {
        const key = canonicalParamName(protocol, k);
        if (v === null) {
          delete merged[key];
        } else if (v === SECRET_PLACEHOLDER && isSecret(protocol, key)) {
          const kept = oldSecrets[key];
          if (kept === undefined) {
            throw GUACD.GUAC_PARAM_INVALID({ message: `Parameter "${k}" has no stored value for "${SECRET_PLACEHOLDER}" to keep.` });
          }
          merged[key] = kept;
        } else {
          merged[key] = v as ParamInput;
        }
      }
      const all = normalize(protocol, merged);
      const files = checkRules(p.files, row.files);
      const now = Math.max(Date.now(), row.updatedAt + 1);
      const { params, secrets } = this.split(row.id, protocol, all);
      const newName = name ?? row.name;
      const record = recordIn === undefined ? row.record : recordIn;
      try {
        await tx.run('UPDATE connections SET name = ?, protocol = ?, params = ?, secrets = ?, updated_at = ?, recording = ?, no_upload = ?, no_download = ?, max_upload_bytes = ? WHERE id = ?',
          [newName, protocol, params, secrets, now, record === null ? null : JSON.stringify(record), ...rulesParams(files), row.id]);
      } catch (err) {
        if (isUniqueViolation(err)) throw nameTaken(newName, err);
        throw err;
      }
      return { ...row, name: newName, protocol, params: JSON.parse(params) as Record<string, string>, secrets, updatedAt: now, record, files };
    });
    this.log.info({ id: updated.id, name: updated.name, protocol: updated.protocol }, 'registry: connection updated');
    return this.view(updated);
  }

  /** Removes the connection; returns its id. */
  async remove(idOrName: string): Promise<string> {
    const row = await this.require(idOrName);
    // Grants go with the connection (ON DELETE CASCADE); history keeps its copy of the name.
    await this.db.run('DELETE FROM connections WHERE id = ?', [row.id]);
    this.log.info({ id: row.id, name: row.name }, 'registry: connection removed');
    return row.id;
  }

  async resolve(idOrName: string): Promise<ResolvedConnection> {
    const row = await this.require(idOrName);
    const resolved: ResolvedConnection = { id: row.id, name: row.name, protocol: row.protocol, params: { ...row.params, ...this.secretsOf(row) }, files: { ...row.files } };
    if (row.record !== null) resolved.record = { ...row.record };
    return resolved;
  }
}

