/**
 * The file transfer view: files dropped on the display are uploaded; the
 * Files panel browses the remote filesystem (open folders, go up, upload
 * into the open folder, download with one click); every transfer gets a
 * row with a progress bar, a cancel button while it runs, and its result in
 * words. Built with DOM calls only (names come from the remote side).
 */
import type Guacamole from 'guacamole-common-js';
import { FileTransfers, listFolder, parentFolder, type TransferRow } from './files.js';

/** How long a finished row stays. */
const DONE_ROW_MS = 15_000;

/** The mounted view. */
export interface FilePanel {
  /** The session's transfers (undefined: none yet, or the session ended). */
  attach(transfers: FileTransfers | undefined): void;
  /** guacd exposed a filesystem (SFTP, an RDP drive). */
  setFilesystem(object: Guacamole.Object, name: string): void;
  /** A row in the transfer list. */
  addRow(direction: 'upload' | 'download', name: string): TransferRow;
}

/**
 * Builds the view inside `root`; drops on `viewport` upload.
 */
export function createFilePanel(root: HTMLElement, viewport: HTMLElement): FilePanel {
  const doc = root.ownerDocument;
  const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, text?: string): HTMLElementTagNameMap[K] => {
    const e = doc.createElement(tag);
    e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const button = (cls: string, text: string, title: string): HTMLButtonElement => {
    const b = el('button', cls, text);
    b.type = 'button';
    b.title = title;
    return b;
  };

  const list = el('div', 'gg-transfers');
  list.setAttribute('role', 'log');
  list.setAttribute('aria-live', 'polite');
  list.setAttribute('aria-label', 'File transfers');

  const toggle = button('gg-files-toggle', 'Files', 'Browse the remote files: download, or upload into a folder');
  toggle.hidden = true;
  toggle.setAttribute('aria-expanded', 'false');
  const panel = el('div', 'gg-files-panel');
  panel.hidden = true;
  const title = el('p', 'gg-files-title');
  const bar = el('div', 'gg-files-bar');
  const up = button('gg-files-up', 'Up', 'Go to the folder above');
  const upload = button('gg-files-upload', 'Upload here…', 'Upload files into this folder');
  const input = el('input', 'gg-files-input');
  input.type = 'file';
  input.multiple = true;
  input.hidden = true;
  const path = el('span', 'gg-files-path');
  bar.append(up, upload, path, input);
  const entries = el('ul', 'gg-files-list');
  const note = el('p', 'gg-files-note');
  panel.append(title, bar, entries, note);
  root.append(list, toggle, panel);

  let transfers: FileTransfers | undefined;
  let fs: Guacamole.Object | undefined;
  let folder = '/';

  const show = (target: string): void => {
    if (!fs) return;
    const object = fs;
    note.textContent = 'Loading…';
    listFolder(object, target).then((items) => {
      if (object !== fs) return;
      folder = target;
      path.textContent = target;
      up.disabled = target === '/';
      entries.replaceChildren(...items.map((item) => {
        const li = el('li', 'gg-files-item');
        const b = button('gg-files-entry', item.folder ? `${item.name}/` : item.name, item.folder ? `Open ${item.name}` : `Download ${item.name}`);
        b.dataset.kind = item.folder ? 'folder' : 'file';
        b.dataset.path = item.path;
        b.disabled = !item.folder && transfers?.grant.download !== true;
        b.addEventListener('click', () => {
          if (item.folder) show(item.path);
          else transfers?.fetchFile(object, item.path);
        });
        li.append(b);
        return li;
      }));
      note.textContent = items.length === 0 ? 'This folder is empty.' : '';
    }, (err: unknown) => {
      note.textContent = err instanceof Error ? err.message : 'The folder could not be read.';
    });
  };

  toggle.addEventListener('click', () => {
    panel.hidden = !panel.hidden;
    toggle.setAttribute('aria-expanded', String(!panel.hidden));
    if (!panel.hidden) show(folder);
  });
  up.addEventListener('click', () => show(parentFolder(folder)));
  upload.addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    const files = [...(input.files ?? [])];
    input.value = '';
    if (!transfers || !fs) return;
    const object = fs;
    const into = folder;
    for (const f of files) transfers.upload(f, { object, folder: into });
    // The listing shows the new files once they are there; a refresh after a short while is enough.
    setTimeout(() => { if (fs === object && folder === into && !panel.hidden) show(into); }, 1500);
  });

  // Drops anywhere on the display upload with guacd's own `file` streams.
  viewport.addEventListener('dragover', (e) => {
    if (!e.dataTransfer?.types.includes('Files')) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = transfers?.grant.upload ? 'copy' : 'none';
    root.dataset.drop = 'over';
  });
  viewport.addEventListener('dragleave', () => delete root.dataset.drop);
  viewport.addEventListener('drop', (e) => {
    delete root.dataset.drop;
    const files = [...(e.dataTransfer?.files ?? [])];
    if (files.length === 0) return;
    e.preventDefault();
    if (!transfers) return;
    for (const f of files) transfers.upload(f);
  });

  const addRow = (direction: 'upload' | 'download', name: string): TransferRow => {
    const row = el('div', 'gg-transfer');
    row.dataset.direction = direction;
    row.dataset.state = 'running';
    const label = el('span', 'gg-transfer-name', `${direction === 'upload' ? '↑' : '↓'} ${name}`);
    const progress = el('progress', 'gg-transfer-progress');
    progress.max = 1;
    const status = el('span', 'gg-transfer-status', direction === 'upload' ? 'Starting…' : 'Downloading…');
    const cancel = button('gg-transfer-cancel', 'Cancel', `Stop sending ${name}`);
    cancel.hidden = true;
    row.append(label, progress, status, cancel);
    list.append(row);
    const end = (state: 'done' | 'failed', text: string): void => {
      if (row.dataset.state !== 'running') return;
      row.dataset.state = state;
      status.textContent = text;
      cancel.hidden = true;
      if (state === 'done') progress.value = 1;
      else progress.remove();
      setTimeout(() => row.remove(), state === 'done' ? DONE_ROW_MS : DONE_ROW_MS * 4);
    };
    return {
      progress(done, total) {
        if (row.dataset.state !== 'running' || total <= 0) return;
        progress.value = done / total;
        status.textContent = `${Math.floor((100 * done) / total)} %`;
      },
      succeed: (text) => end('done', text),
      fail: (text) => end('failed', text),
      cancellable(fn) {
        cancel.hidden = false;
        cancel.addEventListener('click', fn, { once: true });
      },
    };
  };

  return {
    attach(t) {
      transfers = t;
      if (!t) {
        fs = undefined;
        toggle.hidden = true;
        panel.hidden = true;
        return;
      }
      upload.disabled = !t.grant.upload;
      root.dataset.files = [t.grant.upload ? 'upload' : '', t.grant.download ? 'download' : ''].filter(Boolean).join(' ') || 'none';
    },
    setFilesystem(object, name) {
      fs = object;
      folder = '/';
      title.textContent = name;
      toggle.hidden = false;
    },
    addRow,
  };
}
