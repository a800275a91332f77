/**
 * The Share control: shown only when the gateway says this page's token may
 * share this session (`POST share` with `check`), it makes a link (watch, or
 * full control when ticked) and copies it. The page proves it holds the
 * session with its own token, sent in the body (never in a URL); the
 * tunnel's UUID only names which of the token's sessions is meant.
 */

/** What the control needs from the page. */
export interface ShareControlOptions {
  /** The gateway's share endpoint (beside the tunnel). */
  endpoint: string;
  token: string;
  /** Where the control goes. */
  root: HTMLElement;
}

/** A mounted control: `offer(uuid)` once connected, `hide()` when the session ends. */
export interface ShareControl {
  offer(sessionUuid: string): void;
  hide(): void;
}

async function post(endpoint: string, body: Record<string, unknown>): Promise<{ ok: boolean; json: Record<string, unknown> }> {
  const res = await fetch(endpoint, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), credentials: 'omit' });
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  return { ok: res.ok, json };
}

/** Builds the (hidden) control. */
export function createShareControl(opts: ShareControlOptions): ShareControl {
  const doc = opts.root.ownerDocument;
  const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, text?: string): HTMLElementTagNameMap[K] => {
    const e = doc.createElement(tag);
    e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const toggle = el('button', 'gg-share-toggle', 'Share');
  toggle.type = 'button';
  toggle.title = 'Make a link that lets someone else watch or join this session';
  toggle.hidden = true;
  const panel = el('div', 'gg-share-panel');
  panel.hidden = true;
  const controlLabel = el('label', 'gg-share-label');
  const control = el('input', 'gg-share-control');
  control.type = 'checkbox';
  controlLabel.append(control, doc.createTextNode(' Let them type (full control)'));
  const make = el('button', 'gg-share-make', 'Create and copy link');
  make.type = 'button';
  const link = el('input', 'gg-share-link');
  link.readOnly = true;
  link.hidden = true;
  const note = el('p', 'gg-share-note');
  panel.append(controlLabel, make, link, note);
  opts.root.append(toggle, panel);

  let uuid: string | undefined;
  toggle.addEventListener('click', () => {
    panel.hidden = !panel.hidden;
    toggle.setAttribute('aria-expanded', String(!panel.hidden));
  });
  make.addEventListener('click', () => {
    if (!uuid) return;
    make.disabled = true;
    note.textContent = 'Creating…';
    post(opts.endpoint, { token: opts.token, session: uuid, readOnly: !control.checked }).then(async ({ ok, json }) => {
      if (!ok) {
        const err = json.error as { message?: unknown } | undefined;
        note.textContent = typeof err?.message === 'string' ? err.message : 'The link could not be made.';
        return;
      }
      link.value = new URL(String(json.url), location.href).href;
      link.hidden = false;
      link.select();
      const copied = await navigator.clipboard?.writeText(link.value).then(() => true, () => false);
      note.textContent = `${json.readOnly === true ? 'Watch-only' : 'Full-control'} link ${copied ? 'copied' : 'ready: copy it'}; it works until ${new Date(Number(json.expiresAt)).toLocaleTimeString()}.`;
    }, () => {
      note.textContent = 'The gateway could not be reached.';
    }).finally(() => {
      make.disabled = false;
    });
  });

  return {
    offer(sessionUuid) {
      uuid = sessionUuid;
      post(opts.endpoint, { token: opts.token, session: sessionUuid, check: true }).then(({ ok }) => {
        if (ok && uuid === sessionUuid) toggle.hidden = false;
      }, () => undefined);
    },
    hide() {
      uuid = undefined;
      toggle.hidden = true;
      panel.hidden = true;
    },
  };
}
