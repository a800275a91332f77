/**
 * guacamole-gateway's browser client as an ES module for host pages:
 *
 * ```js
 * import { mount } from 'https://gateway.example/embed.js';
 * const session = mount(document.getElementById('terminal'), { token });
 * session.disconnect();
 * ```
 *
 * The standalone page (`/?token=…`) is this same module mounted on its body.
 * @module
 */
import { resolveTunnelUrls } from './connect-data.js';
import { createClipboardSync } from './clipboard.js';
import { attachKeyboard, type TouchMode } from './input.js';
import { openSession, type Session } from './session.js';
import { createShareControl } from './share.js';
import type Guacamole from 'guacamole-common-js';
import { FileTransfers, readGrant } from './files.js';
import { createFilePanel } from './file-panel.js';
import { createView, type SessionState, type StatusView } from './view.js';

export type { SessionState, StatusView } from './view.js';
export type { TouchMode } from './input.js';
export { describeStatus } from './status-messages.js';
export { formatCode } from './view.js';

/** Options of {@link mount}. */
export interface MountOptions {
  /** The signed access token the gateway issued for this session. */
  token: string;
  /**
   * Tunnel URL (`wss://…/tunnel`, `https://…/tunnel` or a path, resolved
   * against embed.js's URL). Defaults to the element's `data-tunnel`
   * attribute, else `tunnel` next to embed.js. The host page decides where its
   * users' keystrokes go: never fill this from a value a link can set.
   */
  tunnelUrl?: string;
  /** Try the HTTP tunnel when WebSockets fail (default true). */
  httpFallback?: boolean;
  /** Touch model (default `touchscreen`). */
  touch?: TouchMode;
  /** Load the client's stylesheet next to embed.js unless the page has it (default true). */
  injectStylesheet?: boolean;
  /** Called on every state change. */
  onStateChange?: (state: SessionState, status: StatusView) => void;
}

/** A mounted client. */
export interface MountHandle {
  /** The element holding the client (inside the element given to `mount`). */
  readonly element: HTMLElement;
  /** The current state. */
  readonly state: SessionState;
  /** Ends the session; the overlay offers to reconnect. */
  disconnect(): void;
  /** Ends any session and opens a new one with the same token. */
  reconnect(): void;
  /** Gives the display keyboard focus. */
  focus(): void;
  /** Ends the session and removes the client from the page. */
  destroy(): void;
}

const STYLESHEET = 'client.css';

/**
 * Mounts a remote session into `container` and connects at once.
 * @param container - the element to fill (give it a size; the client takes 100% of it).
 * @param options - see {@link MountOptions}.
 * @returns a handle to control the session.
 * @throws TypeError if `container` is not an element, or the tunnel address
 *   is not a ws:, wss:, http: or https: URL (or a path).
 */
export function mount(container: HTMLElement, options: MountOptions): MountHandle {
  if (!container?.ownerDocument || container.nodeType !== 1) {
    throw new TypeError('mount() needs an element to fill');
  }
  const doc = container.ownerDocument;
  // Before any DOM change, so a refused address leaves the page as it was.
  const tunnels = resolveTunnelUrls(options.tunnelUrl ?? container.dataset.tunnel, import.meta.url, location.origin);
  const view = createView(container);
  if (options.injectStylesheet !== false) ensureStylesheet(doc, view.root);

  let session: Session | undefined;
  let state: SessionState = 'connecting';

  // Bumped per connection: callbacks of a replaced session are ignored.
  let generation = 0;

  const isActive = (): boolean =>
    state === 'connected' && doc.activeElement === view.sink && (doc.hasFocus?.() ?? true);
  const keyboard = attachKeyboard(doc, isActive, (pressed, keysym) => session?.sendKey(pressed, keysym));
  const clipboard = createClipboardSync(view.clipboardText, (text) => session?.sendClipboard(text) ?? false);

  // The share endpoint sits beside the tunnel (same origin as its HTTP form).
  const share = createShareControl({ endpoint: new URL('share', tunnels.http).href, token: options.token, root: view.root });
  // File stream routes sit under the tunnel's HTTP address.
  const streamsUrl = `${tunnels.http.replace(/\/+$/, '')}/streams/`;
  const files = createFilePanel(view.root, view.viewport);

  const show = (status: StatusView): void => {
    state = status.state;
    view.show(status);
    if (status.state === 'connected' && session?.uuid) share.offer(session.uuid);
    else if (status.state !== 'connected') share.hide();
    if (status.state !== 'connected') keyboard.releaseAll();
    options.onStateChange?.(status.state, status);
  };

  const connect = (): void => {
    keyboard.releaseAll();
    const current = ++generation;
    const live = <A extends unknown[]>(fn: (...args: A) => void) => (...args: A): void => {
      if (current === generation) fn(...args);
    };
    if (session) {
      session.disconnect();
      session.dispose();
    }
    files.attach(undefined);
    let transfers: FileTransfers | undefined;
    if (!options.token) {
      show({
        state: 'error',
        title: 'No access token',
        detail: 'This link has no access token. Ask for a new link.',
        code: 0x0301,
        canRetry: false,
      });
      return;
    }
    session = openSession({
      viewport: view.viewport,
      tunnels,
      httpFallback: options.httpFallback !== false,
      token: options.token,
      touch: options.touch ?? 'touchscreen',
      onStatus: live(show),
      onUnstable: live((unstable: boolean) => {
        if (unstable) view.root.dataset.unstable = 'true';
        else delete view.root.dataset.unstable;
      }),
      onClipboard: live((text: string) => clipboard.fromRemote(text)),
      onStreams: live((args: string[]) => {
        const grant = readGrant(args);
        if (!grant || !session) return;
        transfers = new FileTransfers(session.client, streamsUrl, grant, files.addRow);
        files.attach(transfers);
      }),
      onFile: live((stream: Guacamole.InputStream, _mimetype: string, filename: string) => {
        // Without the gateway's stream routes there is no way to save it.
        if (transfers) transfers.download(stream, filename);
        else stream.sendAck('File transfer is not supported here.', 0x0100);
      }),
      onFilesystem: live((object: Guacamole.Object, name: string) => files.setFilesystem(object, name)),
      onNotice: live((text: string) => view.notify(text)),
      onRequired: live((names: string[], answer: (values: Record<string, string>) => void) => {
        keyboard.releaseAll();
        view.askCredentials(names, answer);
      }),
      onConnected: live(() => {
        clipboard.resend();
        if (doc.activeElement === view.sink) clipboard.pullLocal();
      }),
    });
  };

  // Focus decides where keys go; gaining it is also when the local clipboard may have changed.
  view.viewport.addEventListener('mousedown', () => view.sink.focus({ preventScroll: true }));
  view.viewport.addEventListener('touchstart', () => view.sink.focus({ preventScroll: true }), { passive: true });
  view.sink.addEventListener('focus', () => clipboard.pullLocal());
  view.sink.addEventListener('blur', () => keyboard.releaseAll());
  const onPaste = (event: ClipboardEvent): void => {
    if (doc.activeElement !== view.sink) return;
    const text = event.clipboardData?.getData('text/plain');
    if (text) {
      event.preventDefault();
      clipboard.fromLocal(text);
    }
  };
  doc.addEventListener('paste', onPaste);
  const onWindowFocus = (): void => {
    if (doc.activeElement === view.sink) clipboard.pullLocal();
  };
  doc.defaultView?.addEventListener('focus', onWindowFocus);
  // Tell guacd the user left rather than letting the socket drop.
  const onPageHide = (): void => session?.disconnect();
  doc.defaultView?.addEventListener('pagehide', onPageHide);
  view.reconnectButton.addEventListener('click', () => {
    connect();
    view.sink.focus({ preventScroll: true });
  });

  connect();

  return {
    element: view.root,
    get state(): SessionState {
      return state;
    },
    disconnect(): void {
      keyboard.releaseAll();
      session?.disconnect();
    },
    reconnect: connect,
    focus(): void {
      view.sink.focus({ preventScroll: true });
    },
    destroy(): void {
      keyboard.detach();
      session?.disconnect();
      session?.dispose();
      session = undefined;
      doc.removeEventListener('paste', onPaste);
      doc.defaultView?.removeEventListener('focus', onWindowFocus);
      doc.defaultView?.removeEventListener('pagehide', onPageHide);
      view.remove();
    },
  };
}

/** Adds client.css (next to this module) unless a stylesheet already styles the client. */
function ensureStylesheet(doc: Document, root: HTMLElement): void {
  const view = doc.defaultView;
  if (!view || view.getComputedStyle(root).getPropertyValue('--gg-styled').trim() !== '') return;
  const href = new URL(STYLESHEET, import.meta.url).href;
  if (doc.querySelector(`link[rel="stylesheet"][href="${CSS.escape(href)}"]`)) return;
  const link = doc.createElement('link');
  link.rel = 'stylesheet';
  link.href = href;
  doc.head.append(link);
}
