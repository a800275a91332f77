/**
 * File transfer from the page: uploads stream a File as the body of an HTTP
 * request into a stream opened over the tunnel (the browser reads the file
 * from disk as it sends, so nothing is held in page memory); downloads are
 * ordinary navigations to the gateway's stream route, saved by the
 * browser's download manager. The gateway tells the page where its streams
 * are and what it may do (`gateway-streams`); it enforces the same rules
 * itself, so the page only spares the user a doomed attempt.
 */
import Guacamole from 'guacamole-common-js';

/** The gateway's instruction naming this session's stream routes and rights. */
export const STREAMS_OPCODE = 'gateway-streams';

/** What the gateway granted this session. */
export interface StreamGrant {
  /** `<session>/<secret>`: the path under `<tunnel>/streams/`. */
  readonly base: string;
  readonly upload: boolean;
  readonly download: boolean;
  /** 0: no limit. */
  readonly maxUploadBytes: number;
}

/** Reads `gateway-streams` arguments; undefined when malformed. */
export function readGrant(args: readonly string[]): StreamGrant | undefined {
  const [base, up, down, max] = args;
  if (!base || !/^[0-9a-f-]{36}\/[A-Za-z0-9_-]{43}$/.test(base)) return undefined;
  const limit = Number(max);
  return { base, upload: up === '1', download: down === '1', maxUploadBytes: Number.isSafeInteger(limit) && limit > 0 ? limit : 0 };
}

/** One row of the transfer list, as the view offers it. */
export interface TransferRow {
  progress(done: number, total: number): void;
  succeed(text: string): void;
  fail(text: string): void;
  /** Shows a cancel button calling `cancel` until the row ends. */
  cancellable(cancel: () => void): void;
}

/** Where a file may be put: the filesystem object and the folder path. */
export interface UploadTarget {
  object: Guacamole.Object;
  folder: string;
}

/** An entry of a folder listing. */
export interface FolderEntry {
  /** The full path (the listing's key). */
  path: string;
  /** The last part of the path. */
  name: string;
  folder: boolean;
}

/** Human size, 1024-based. */
export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** The last part of a path (guacd uses `/`; an RDP drive may show `\`). */
export function baseName(path: string): string {
  return path.split(/[\\/]/).filter((p) => p !== '').pop() ?? path;
}

/** Transfers of one session. */
export class FileTransfers {
  /**
   * @param client the session's client
   * @param streamsUrl `<tunnel http url>/streams/`
   * @param grant what the gateway allows
   * @param addRow makes a row in the transfer list
   */
  constructor(
    private readonly client: Guacamole.Client,
    private readonly streamsUrl: string,
    readonly grant: StreamGrant,
    private readonly addRow: (direction: 'upload' | 'download', name: string) => TransferRow,
  ) {}

  private url(index: number, name: string): string {
    return `${this.streamsUrl}${this.grant.base}/${index}/${encodeURIComponent(baseName(name) || 'file')}`;
  }

  /** Uploads `file`: into `target`'s folder (`put`), else where guacd puts dropped files (`file`). */
  upload(file: File, target?: UploadTarget): void {
    const row = this.addRow('upload', file.name);
    const max = this.grant.maxUploadBytes;
    if (max > 0 && file.size > max) {
      row.fail(`The file is larger than the maximum upload size of ${formatBytes(max)}.`);
      return;
    }
    const mimetype = file.type || 'application/octet-stream';
    const stream = target
      ? target.object.createOutputStream(mimetype, `${target.folder.replace(/\/+$/, '')}/${file.name}`)
      : this.client.createFileStream(mimetype, file.name);
    if (!this.grant.upload) {
      // Asked all the same: the gateway refuses (its `ack` says why, in words) and records the attempt.
      stream.onack = (status) => row.fail(status.message || 'Uploading files is not allowed on this connection.');
      return;
    }
    const xhr = new XMLHttpRequest();
    let over = false;
    const finish = (ok: boolean, text: string): void => {
      if (over) return;
      over = true;
      if (ok) row.succeed(text);
      else row.fail(text);
    };
    // The gateway answers a refused or failed stream with an error `ack` too; whichever comes first tells.
    stream.onack = (status) => {
      if (status.isError()) {
        finish(false, status.message || 'The remote side refused the file.');
        xhr.abort();
      }
    };
    xhr.open('POST', this.url(stream.index, file.name));
    xhr.upload.onprogress = (e) => row.progress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      if (xhr.status === 200) {
        // The gateway already ended the stream at guacd; this frees the index on our side.
        stream.sendEnd();
        finish(true, `Uploaded (${formatBytes(file.size)}).`);
      } else {
        finish(false, xhr.getResponseHeader('Guacamole-Error-Message') || xhr.responseText.trim() || `The upload failed (HTTP ${xhr.status}).`);
      }
    };
    xhr.onerror = () => finish(false, 'The upload failed: the gateway could not be reached.');
    row.cancellable(() => {
      finish(false, 'Cancelled.');
      xhr.abort();
    });
    xhr.send(file);
  }

  /**
   * A stream guacd offers (its own `file`, or the body of a file asked for):
   * the browser fetches it from the stream route and saves it.
   */
  download(stream: Guacamole.InputStream, name: string): void {
    const row = this.addRow('download', baseName(name));
    if (!this.grant.download) {
      stream.sendAck('Downloads are not allowed.', 0x0303);
      row.fail('Downloading files is not allowed on this connection.');
      return;
    }
    stream.onend = () => row.succeed('Downloaded: see your browser\'s downloads.');
    const doc = document;
    const link = doc.createElement('a');
    link.href = this.url(stream.index, name);
    link.download = baseName(name);
    link.hidden = true;
    doc.body.append(link);
    link.click();
    link.remove();
  }

  /** Downloads the file at `path` of a filesystem. */
  fetchFile(object: Guacamole.Object, path: string): void {
    object.requestInputStream(path, (stream) => this.download(stream, path));
  }
}

/**
 * Lists a folder of a filesystem object (guacd answers a folder `get` with
 * a JSON index of path → mimetype).
 */
export function listFolder(object: Guacamole.Object, path: string): Promise<FolderEntry[]> {
  return new Promise((resolve, reject) => {
    object.requestInputStream(path, (stream, mimetype) => {
      if (mimetype !== Guacamole.Object.STREAM_INDEX_MIMETYPE) {
        stream.sendAck('Not a folder.', 0x0100);
        reject(new Error(`${path} is not a folder.`));
        return;
      }
      stream.sendAck('OK', 0);
      const reader = new Guacamole.JSONReader(stream);
      reader.onend = () => {
        const index = reader.getJSON() as Record<string, string>;
        const entries = Object.entries(index).map(([p, type]) => ({ path: p, name: baseName(p), folder: type === Guacamole.Object.STREAM_INDEX_MIMETYPE }));
        entries.sort((a, b) => (a.folder === b.folder ? a.name.localeCompare(b.name) : a.folder ? -1 : 1));
        resolve(entries);
      };
    });
  });
}

/** The folder above `path` (`/` stays `/`). */
export function parentFolder(path: string): string {
  const parts = path.split('/').filter((p) => p !== '');
  parts.pop();
  return `/${parts.join('/')}`;
}
