/**
 * What a session may transfer, decided by the resolver (connection and
 * token) and enforced by the gateway itself, whatever guacd does.
 */

/** File transfer rights of one session. */
export interface FilePolicy {
  /** The browser may open `file`/`put` streams toward guacd. */
  upload: boolean;
  /** guacd's `file` streams and file `body` replies may reach the browser. */
  download: boolean;
  /** Largest upload in bytes; 0 = no limit. With a limit, uploads go over the HTTP route only. */
  maxUploadBytes: number;
}

/** What a resolver may say about transfers (every field optional; absent = allowed). */
export interface FilePolicyInput {
  noUpload?: boolean | undefined;
  noDownload?: boolean | undefined;
  maxUploadBytes?: number | undefined;
}

/**
 * The policy in force: a read-only session transfers nothing; each
 * restriction of any source (connection, token) applies; the smallest
 * positive maximum wins.
 */
export function filePolicy(readOnly: boolean, ...inputs: (FilePolicyInput | undefined)[]): FilePolicy {
  let upload = !readOnly;
  let download = !readOnly;
  let max = 0;
  for (const i of inputs) {
    if (!i) continue;
    if (i.noUpload === true) upload = false;
    if (i.noDownload === true) download = false;
    const m = i.maxUploadBytes;
    if (typeof m === 'number' && Number.isSafeInteger(m) && m > 0) max = max === 0 ? m : Math.min(max, m);
  }
  return { upload, download, maxUploadBytes: max };
}

/** Connection parameters that make guacd offer file transfer (SFTP for ssh and vnc, the RDP drive). */
const ENABLING = ['enable-sftp', 'enableSftp', 'enable-drive', 'enableDrive'];

/**
 * Whether the page needs to hear of the stream routes: the connection turns
 * file transfer on, or the session joins one (whose parameters it cannot
 * see). Sessions without it get no `gateway-streams` instruction; the
 * policy is enforced on them all the same.
 */
export function offersFiles(target: { join?: string | undefined; params?: Record<string, string | number | boolean> }): boolean {
  if (target.join !== undefined) return true;
  return ENABLING.some((k) => {
    const v = target.params?.[k];
    return v === true || v === 'true';
  });
}
