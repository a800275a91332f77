/**
 * The file transfer flags the CLI shares between `connection add`,
 * `connection update` and `token`: `--no-upload`, `--no-download`,
 * `--max-upload-size SIZE` (bytes, or with K, M, G, T: powers of 1024;
 * 0 = no limit), and on update `--allow-upload`, `--allow-download`.
 */
import type { FileRules } from '../registry/file-rules.js';
import { str, UsageError, type FlagValues } from './cli-command.js';

/** Options of commands that set rules. */
export const FILE_FLAGS = {
  'no-upload': { type: 'boolean' },
  'no-download': { type: 'boolean' },
  'max-upload-size': { type: 'string' },
} as const;

/** {@link FILE_FLAGS} and the flags that lift a restriction (`connection update`). */
export const FILE_UPDATE_FLAGS = {
  ...FILE_FLAGS,
  'allow-upload': { type: 'boolean' },
  'allow-download': { type: 'boolean' },
} as const;

/** The usage text of {@link FILE_FLAGS}. */
export const FILE_USAGE = '[--no-upload] [--no-download] [--max-upload-size SIZE]';

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/**
 * A size: digits, optionally K, M, G or T (1024-based, an `i`/`iB`/`B` after it allowed).
 * @throws UsageError for anything else
 */
export function parseSize(value: string, flag: string): number {
  const m = /^(\d{1,15})\s*([KMGT]?)(?:i?B)?$/i.exec(value.trim());
  const n = m ? Number(m[1]) * UNITS[m[2]!.toUpperCase()]! : NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${flag} must be a size such as 500M, 2G or 1048576 (0: no limit)`);
  return n;
}

/** The rules the flags set (only those given). */
export function fileRulesFromFlags(flags: FlagValues): Partial<FileRules> {
  const out: Partial<FileRules> = {};
  if (flags['no-upload'] === true && flags['allow-upload'] === true) throw new UsageError('--no-upload and --allow-upload contradict each other');
  if (flags['no-download'] === true && flags['allow-download'] === true) throw new UsageError('--no-download and --allow-download contradict each other');
  if (flags['no-upload'] === true) out.noUpload = true;
  if (flags['allow-upload'] === true) out.noUpload = false;
  if (flags['no-download'] === true) out.noDownload = true;
  if (flags['allow-download'] === true) out.noDownload = false;
  const size = str(flags, 'max-upload-size');
  if (size !== undefined) out.maxUploadBytes = parseSize(size, 'max-upload-size');
  return out;
}
