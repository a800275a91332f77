/**
 * One connection attempt: tunnel, client, display and pointer, with a single
 * way to end (`connecting → connected → disconnected | error`, each end
 * reached once, as noVNC's `_updateConnectionState` and `_fail()` do).
 */
import Guacamole from 'guacamole-common-js';
import { buildConnectData, measureDisplay, type TunnelUrls } from './connect-data.js';
import { attachDisplay } from './display.js';
import { attachPointer, type TouchMode } from './input.js';
import { receiveClipboard, sendClipboardText } from './clipboard.js';
import { sendCredentials } from './credentials.js';
import { describeNotice, describeStatus, isHumanMessage } from './status-messages.js';
import type { SessionState, StatusView } from './view.js';
import { STREAMS_OPCODE } from './files.js';

/** How often a `nop` goes to guacd while its credential prompt is open (guacd's limit: 15 s of silence). */
const PROMPT_KEEPALIVE_MS = 5000;

/** What a session needs. */
export interface SessionOptions {
  readonly viewport: HTMLElement;
  readonly tunnels: TunnelUrls;
  /** Fall back to the HTTP tunnel when the WebSocket one cannot open. */
  readonly httpFallback: boolean;
  readonly token: string;
  readonly touch: TouchMode;
  /** Called on every state change, and once more when the tunnel's stability changes. */
  readonly onStatus: (status: StatusView) => void;
  readonly onUnstable: (unstable: boolean) => void;
  /** Text the remote side copied. */
  readonly onClipboard: (text: string) => void;
  /** The session became usable (send pending clipboard text now). */
  readonly onConnected: () => void;
  /** A notice for the user: someone joined or left this connection (guacd 1.5+ `msg`, sent to the owner). */
  readonly onNotice: (text: string) => void;
  /** The gateway's `gateway-streams` instruction (where this session's file streams go). */
  readonly onStreams: (args: string[]) => void;
  /** guacd offers a file download. */
  readonly onFile: (stream: Guacamole.InputStream, mimetype: string, filename: string) => void;
  /** guacd exposes a filesystem. */
  readonly onFilesystem: (object: Guacamole.Object, name: string) => void;
  /** guacd asks for `names` (`required`): call `answer` once with the user's values. */
  readonly onRequired: (names: string[], answer: (values: Record<string, string>) => void) => void;
}

/** A running connection attempt. */
export interface Session {
  readonly client: Guacamole.Client;
  /** The tunnel's UUID once it is open (names the session to the share endpoint). */
  readonly uuid: string | null;
  /** The current state. */
  readonly state: SessionState;
  /** Key event for the remote side (dropped unless connected). */
  sendKey(pressed: boolean, keysym: number): void;
  /** Clipboard text for the remote side; false unless connected. */
  sendClipboard(text: string): boolean;
  /** Ends the session as the user's choice. */
  disconnect(): void;
  /** Removes the display from the viewport; the session must have ended. */
  dispose(): void;
}

/**
 * Opens a session: connects at once.
 * @param options - see {@link SessionOptions}.
 */
export function openSession(options: SessionOptions): Session {
  const { tunnels } = options;
  const webSocket = new Guacamole.WebSocketTunnel(tunnels.webSocket);
  const tunnel = options.httpFallback
    ? new Guacamole.ChainedTunnel(webSocket, new Guacamole.HTTPTunnel(tunnels.http, tunnels.crossDomain))
    : webSocket;
  const client = new Guacamole.Client(tunnel);
  const size = measureDisplay(options.viewport);
  let state: SessionState = 'connecting';

  const fitted = attachDisplay(options.viewport, client, {
    initialSize: size,
    isConnected: () => state === 'connected',
  });
  const pointer = attachPointer(client, options.touch);

  const enter = (next: SessionState, status: StatusView): boolean => {
    if (state === 'disconnected' || state === 'error') return false;
    if (next === state && next !== 'connecting') return false;
    state = next;
    if (next === 'disconnected' || next === 'error') {
      pointer.detach();
      stopKeepAlive();
    }
    options.onStatus(status);
    return true;
  };

  const fail = (status: Guacamole.Status): void => {
    const text = describeStatus(status.code);
    const entered = enter('error', {
      state: 'error',
      title: text.title,
      detail: text.detail,
      serverMessage: isHumanMessage(status.message) ? status.message.trim() : undefined,
      code: status.code,
      canRetry: text.canRetry,
    });
    if (entered) client.disconnect();
  };

  const end = (title: string, detail: string): void => {
    enter('disconnected', { state: 'disconnected', title, detail });
  };

  client.onstatechange = (clientState) => {
    if (clientState === Guacamole.Client.State.CONNECTED) {
      if (!enter('connected', { state: 'connected', title: 'Connected' })) return;
      fitted.fit();
      fitted.syncSize();
      options.onConnected();
    } else if (clientState === Guacamole.Client.State.DISCONNECTED) {
      end('Disconnected', 'The session has ended.');
    }
  };
  client.onerror = fail;
  tunnel.onerror = fail;
  tunnel.onstatechange = (tunnelState) => {
    if (tunnelState === Guacamole.Tunnel.State.CLOSED) {
      options.onUnstable(false);
      end('Disconnected', 'The session has ended.');
    } else {
      options.onUnstable(tunnelState === Guacamole.Tunnel.State.UNSTABLE);
    }
  };
  client.onclipboard = (stream, mimetype) => receiveClipboard(stream, mimetype, options.onClipboard);
  client.onfile = options.onFile;
  client.onfilesystem = options.onFilesystem;
  // The gateway's own instruction, which Client ignores: read it on the way in.
  const clientHandler = tunnel.oninstruction;
  tunnel.oninstruction = (opcode, args) => {
    if (opcode === STREAMS_OPCODE) options.onStreams([...args]);
    clientHandler?.(opcode, args);
  };
  client.onmsg = (id, args) => {
    const notice = describeNotice(id, args);
    if (notice) options.onNotice(notice);
    // guacamole-common-js's own onjoin/onleave are unused: one notice, ours.
    return false;
  };

  // While the user types credentials nothing else goes to guacd, which drops
  // a user silent for 15 s ("User is not responding"); guacamole-common-js
  // 1.5's WebSocket tunnel pings only the tunnel. A `nop` keeps guacd's side alive.
  let keepAlive: ReturnType<typeof setInterval> | undefined;
  const stopKeepAlive = (): void => {
    clearInterval(keepAlive);
    keepAlive = undefined;
  };
  client.onrequired = (parameters) => {
    // A copy: the tunnel reuses (and empties) the array once the handler returns.
    const names = [...parameters];
    let answered = false;
    stopKeepAlive();
    keepAlive = setInterval(() => tunnel.sendMessage('nop'), PROMPT_KEEPALIVE_MS);
    options.onRequired(names, (values) => {
      if (answered || state === 'disconnected' || state === 'error') return;
      answered = true;
      stopKeepAlive();
      sendCredentials(client, names, values);
    });
  };

  options.onStatus({ state: 'connecting', title: 'Connecting…', detail: 'Opening the remote session.' });
  try {
    client.connect(buildConnectData(options.token, size));
  } catch (err) {
    fail(err instanceof Guacamole.Status ? err : new Guacamole.Status(0x0200, String(err)));
  }

  return {
    client,
    get uuid(): string | null {
      return tunnel.uuid;
    },
    get state(): SessionState {
      return state;
    },
    sendKey(pressed: boolean, keysym: number): void {
      if (state === 'connected') client.sendKeyEvent(pressed ? 1 : 0, keysym);
    },
    sendClipboard(text: string): boolean {
      if (state !== 'connected') return false;
      sendClipboardText(client, text);
      return true;
    },
    disconnect(): void {
      const wasLive = state === 'connecting' || state === 'connected';
      end('Disconnected', 'You closed the session.');
      if (wasLive) client.disconnect();
    },
    dispose(): void {
      fitted.detach();
      pointer.detach();
    },
  };
}
