/**
 * A connection's file transfer rules (upload, download, maximum upload
 * size): validation of what callers send and the row ↔ record mapping.
 * The tunnel enforces them (src/tunnel/streams/).
 */
import { REGISTRY } from './errors.js';
import { num, type Row } from './db.js';

/** File transfer rules of a connection. */
export interface FileRules {
  /** Uploads refused. */
  noUpload: boolean;
  /** Downloads refused. */
  noDownload: boolean;
  /** Largest upload in bytes; 0 = no limit. */
  maxUploadBytes: number;
}

/** The columns, in the order {@link rulesParams} gives their values. */
export const RULE_COLUMNS = 'no_upload, no_download, max_upload_bytes';

export const NO_RULES: Readonly<FileRules> = Object.freeze({ noUpload: false, noDownload: false, maxUploadBytes: 0 });

/** The largest maximum accepted: 1 TiB (anything bigger is a mistake, not a limit). */
const MAX_LIMIT = 2 ** 40;

/**
 * Checks rules sent by a caller and lays them over `base`.
 * @throws GuacError `GUAC_REQUEST_INVALID` for a field of the wrong type or an unknown one
 */
export function checkRules(value: unknown, base: Readonly<FileRules> = NO_RULES): FileRules {
  if (value === undefined) return { ...base };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw REGISTRY.GUAC_REQUEST_INVALID({ message: '"files" must be an object: {noUpload, noDownload, maxUploadBytes}.' });
  }
  const out = { ...base };
  for (const [k, v] of Object.entries(value)) {
    if (k === 'noUpload' || k === 'noDownload') {
      if (typeof v !== 'boolean') throw REGISTRY.GUAC_REQUEST_INVALID({ message: `"files.${k}" must be true or false.` });
      out[k] = v;
    } else if (k === 'maxUploadBytes') {
      if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) > MAX_LIMIT) {
        throw REGISTRY.GUAC_REQUEST_INVALID({ message: '"files.maxUploadBytes" must be a whole number of bytes from 0 (no limit) to 1 TiB.' });
      }
      out.maxUploadBytes = v as number;
    } else {
      throw REGISTRY.GUAC_REQUEST_INVALID({ message: `Unknown field "files.${k}".` });
    }
  }
  return out;
}

export function rulesFromRow(r: Row): FileRules {
  return { noUpload: num(r.no_upload) !== 0, noDownload: num(r.no_download) !== 0, maxUploadBytes: num(r.max_upload_bytes ?? 0) };
}

export function rulesParams(f: FileRules): number[] {
  return [f.noUpload ? 1 : 0, f.noDownload ? 1 : 0, f.maxUploadBytes];
}

/** The token claims that carry restrictions (only those set). */
export function tokenRules(f: FileRules): { noUpload?: true; noDownload?: true; maxUploadBytes?: number } {
  return {
    ...(f.noUpload ? { noUpload: true as const } : {}),
    ...(f.noDownload ? { noDownload: true as const } : {}),
    ...(f.maxUploadBytes > 0 ? { maxUploadBytes: f.maxUploadBytes } : {}),
  };
}
