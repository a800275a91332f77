/**
 * The client's DOM: the display viewport, the status overlay (with the login
 * form when guacd asks for credentials) and the clipboard panel. Built with
 * DOM calls (never innerHTML: guacd's messages are shown as text).
 */
import { createCredentialsForm } from './credentials.js';

/** How long a notice stays. */
const NOTICE_MS = 6000;

/** Session states, as exposed on `data-state`. */
export type SessionState = 'connecting' | 'connected' | 'disconnected' | 'error';

/** What the overlay shows for a state. */
export interface StatusView {
  readonly state: SessionState;
  readonly title: string;
  readonly detail?: string | undefined;
  /** Text from the server, shown as is when it reads like a sentence. */
  readonly serverMessage?: string | undefined;
  /** Guacamole status code, for errors. */
  readonly code?: number | undefined;
  /** Whether trying again can help (default true): offers Reconnect. */
  readonly canRetry?: boolean | undefined;
}

/** The elements of one mounted client. */
export interface ClientView {
  readonly root: HTMLDivElement;
  readonly viewport: HTMLDivElement;
  /**
   * The focus target for keyboard input: a transparent text field, so IME
   * composition, dead keys and mobile keyboards deliver text (a focused div
   * receives no `input` events). Guacamole's own `InputSink` does the same
   * but is fixed to the window and steals focus back, unfit for embedding.
   */
  readonly sink: HTMLTextAreaElement;
  readonly clipboardText: HTMLTextAreaElement;
  readonly reconnectButton: HTMLButtonElement;
  /** Shows a state on the overlay and on `data-state`/`data-status-code`. */
  show(status: StatusView): void;
  /**
   * Shows a login form for what guacd asks (`required`) on the overlay, with
   * `data-prompt="credentials"` on the root while it is open; `submit` gets
   * the answers once. The next {@link show} removes it.
   */
  askCredentials(names: readonly string[], submit: (values: Record<string, string>) => void): void;
  /** Shows a short notice (who joined or left) over the display for a few seconds. */
  notify(text: string): void;
  /** Removes the client's elements. */
  remove(): void;
}

function el<K extends keyof HTMLElementTagNameMap>(
  doc: Document,
  tag: K,
  className: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = doc.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Builds the client's elements inside `container`.
 * @param container - the host element; its content is left alone.
 */
export function createView(container: HTMLElement): ClientView {
  const doc = container.ownerDocument;
  const root = el(doc, 'div', 'gg-client');
  root.tabIndex = -1;
  root.setAttribute('role', 'application');
  root.setAttribute('aria-label', 'Remote session');

  const viewport = el(doc, 'div', 'gg-viewport');

  const sink = el(doc, 'textarea', 'gg-sink');
  sink.setAttribute('aria-label', 'Keyboard input for the remote session');
  sink.setAttribute('autocapitalize', 'off');
  sink.setAttribute('autocomplete', 'off');
  sink.setAttribute('autocorrect', 'off');
  sink.spellcheck = false;
  const clearSink = (): void => {
    sink.value = '';
  };
  sink.addEventListener('keypress', clearSink);
  sink.addEventListener('compositionend', (e) => {
    if (e.data) clearSink();
  });
  sink.addEventListener('input', (e) => {
    if ((e as InputEvent).data && !(e as InputEvent).isComposing) clearSink();
  });
  root.addEventListener('focus', () => sink.focus({ preventScroll: true }));

  const overlay = el(doc, 'div', 'gg-overlay');
  overlay.setAttribute('role', 'status');
  overlay.setAttribute('aria-live', 'polite');
  const card = el(doc, 'div', 'gg-card');
  const spinner = el(doc, 'div', 'gg-spinner');
  const title = el(doc, 'h1', 'gg-title');
  const detail = el(doc, 'p', 'gg-detail');
  const serverMessage = el(doc, 'p', 'gg-server-message');
  const code = el(doc, 'p', 'gg-code');
  const reconnectButton = el(doc, 'button', 'gg-reconnect', 'Reconnect');
  reconnectButton.type = 'button';
  card.append(spinner, title, detail, serverMessage, code, reconnectButton);
  overlay.append(card);

  const clipboardToggle = el(doc, 'button', 'gg-clipboard-toggle', 'Clipboard');
  clipboardToggle.type = 'button';
  clipboardToggle.title = 'Show the clipboard shared with the remote session';
  clipboardToggle.setAttribute('aria-expanded', 'false');
  const panel = el(doc, 'div', 'gg-clipboard-panel');
  panel.hidden = true;
  const label = el(doc, 'label', 'gg-clipboard-label', 'Text copied in the session appears here; text typed here is sent to it.');
  const clipboardText = el(doc, 'textarea', 'gg-clipboard-text');
  clipboardText.spellcheck = false;
  clipboardText.rows = 6;
  label.append(clipboardText);
  panel.append(label);
  clipboardToggle.addEventListener('click', () => {
    panel.hidden = !panel.hidden;
    clipboardToggle.setAttribute('aria-expanded', String(!panel.hidden));
    if (!panel.hidden) clipboardText.focus();
    else sink.focus({ preventScroll: true });
  });

  // Notices (who joined or left): a polite live region, each line gone after a few seconds.
  const notices = el(doc, 'div', 'gg-notices');
  notices.setAttribute('role', 'log');
  notices.setAttribute('aria-live', 'polite');

  root.append(sink, viewport, overlay, notices, clipboardToggle, panel);
  container.append(root);

  let login: HTMLFormElement | undefined;
  const closeLogin = (): void => {
    login?.remove();
    login = undefined;
    delete root.dataset.prompt;
  };

  return {
    root,
    viewport,
    sink,
    clipboardText,
    reconnectButton,
    askCredentials(names: readonly string[], submit: (values: Record<string, string>) => void): void {
      closeLogin();
      root.dataset.prompt = 'credentials';
      overlay.hidden = false;
      spinner.hidden = true;
      reconnectButton.hidden = true;
      title.textContent = 'Log in';
      detail.textContent = 'The remote desktop asks for your credentials.';
      detail.hidden = false;
      serverMessage.hidden = true;
      code.hidden = true;
      login = createCredentialsForm(doc, names, (values) => {
        closeLogin();
        spinner.hidden = false;
        title.textContent = 'Logging in…';
        detail.textContent = 'Sending your credentials to the remote desktop.';
        submit(values);
        // A prompt during a live session (not before the first frame): back to the display.
        if (root.dataset.state === 'connected') {
          overlay.hidden = true;
          sink.focus({ preventScroll: true });
        }
      });
      card.append(login);
      login.querySelector('input')?.focus();
    },
    notify(text: string): void {
      const line = el(doc, 'p', 'gg-notice', text);
      notices.append(line);
      while (notices.childElementCount > 4) notices.firstElementChild?.remove();
      setTimeout(() => line.remove(), NOTICE_MS);
    },
    show(status: StatusView): void {
      closeLogin();
      root.dataset.state = status.state;
      if (status.code !== undefined) root.dataset.statusCode = formatCode(status.code);
      else delete root.dataset.statusCode;
      overlay.hidden = status.state === 'connected';
      spinner.hidden = status.state !== 'connecting';
      reconnectButton.hidden =
        status.state === 'connecting' || status.state === 'connected' || status.canRetry === false;
      title.textContent = status.title;
      detail.textContent = status.detail ?? '';
      detail.hidden = !status.detail;
      serverMessage.textContent = status.serverMessage ? `Server said: ${status.serverMessage}` : '';
      serverMessage.hidden = !status.serverMessage;
      code.textContent = status.code !== undefined ? `Status ${formatCode(status.code)}` : '';
      code.hidden = status.code === undefined;
    },
    remove(): void {
      root.remove();
    },
  };
}

/**
 * Formats a status code as Guacamole writes it, e.g. `0x0301`.
 * @param code - the numeric code.
 */
export function formatCode(code: number): string {
  return `0x${code.toString(16).toUpperCase().padStart(4, '0')}`;
}
