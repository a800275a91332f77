/**
 * Where the tunnel is and what the browser tells it when connecting.
 */
import { CONNECT_DATA } from '../protocol/constants.js';

/** The two tunnel endpoints tried in order. */
export interface TunnelUrls {
  /** `ws:` or `wss:` URL of the WebSocket tunnel. */
  readonly webSocket: string;
  /** `http:` or `https:` URL of the HTTP tunnel (the fallback). */
  readonly http: string;
  /** Whether the HTTP tunnel is on another origin than the page. */
  readonly crossDomain: boolean;
}

/** Schemes a tunnel URL may have; anything else (`javascript:`, `data:`, `file:`, …) is refused. */
const TUNNEL_SCHEMES: ReadonlySet<string> = new Set(['ws:', 'wss:', 'http:', 'https:']);

/**
 * What the URL parser strips from both ends of its input (C0 controls and
 * space), and so what counts as an empty tunnel setting. Deliberately not
 * `String.prototype.trim()`: that also strips U+00A0, U+FEFF, U+3000, U+2028,
 * which the parser keeps, so a trimmed string can mean another URL than the
 * one that was checked (a path `\u00a0//host` becomes `//host`).
 */
const URL_BLANK = /^[\u0000-\u0020]*$/;

/**
 * Resolves the tunnel URLs. The value is parsed exactly once, into a URL
 * object, and both endpoints are derived from that object: nothing re-reads
 * or re-trims the string, so what a caller checks is what the client
 * connects to.
 * @param tunnel - an explicit URL (`ws:`, `wss:`, `http:`, `https:`, or a path
 *   resolved against `base`); the default (also for a blank value) is
 *   `tunnel` beside `base`.
 * @param base - the URL relative paths resolve against (the gateway's own
 *   address: where embed.js was loaded from).
 * @param pageOrigin - the origin of the page running the client.
 * @throws TypeError if the value is not a URL or has another scheme.
 */
export function resolveTunnelUrls(tunnel: string | undefined, base: string, pageOrigin: string): TunnelUrls {
  let url: URL;
  try {
    url = new URL(tunnel === undefined || URL_BLANK.test(tunnel) ? 'tunnel' : tunnel, base);
  } catch {
    throw new TypeError('The tunnel address is not a URL.');
  }
  if (!TUNNEL_SCHEMES.has(url.protocol)) {
    throw new TypeError(`The tunnel address must be a ws:, wss:, http: or https: URL, not ${url.protocol}.`);
  }
  // guacamole-common-js appends `?connect data` to the URL: a fragment would swallow the token.
  url.hash = '';
  const secure = url.protocol === 'https:' || url.protocol === 'wss:';
  const ws = new URL(url.href);
  ws.protocol = secure ? 'wss:' : 'ws:';
  const http = new URL(url.href);
  http.protocol = secure ? 'https:' : 'http:';
  return { webSocket: ws.href, http: http.href, crossDomain: http.origin !== pageOrigin };
}

/** The display the remote side should create, in remote pixels. */
export interface DisplaySize {
  readonly width: number;
  readonly height: number;
  readonly dpi: number;
}

/**
 * Measures an element as a remote display size: CSS pixels times the device
 * pixel ratio (so a HiDPI screen gets a sharp remote desktop), at 96 dpi per
 * CSS pixel density, as the Guacamole web application does.
 * @param element - the element the display fills.
 */
export function measureDisplay(element: Element): DisplaySize {
  const view = element.ownerDocument.defaultView;
  const ratio = view?.devicePixelRatio || 1;
  const rect = element.getBoundingClientRect();
  const cssWidth = rect.width >= 1 ? rect.width : view?.innerWidth || 1024;
  const cssHeight = rect.height >= 1 ? rect.height : view?.innerHeight || 768;
  return {
    width: Math.max(1, Math.floor(cssWidth * ratio)),
    height: Math.max(1, Math.floor(cssHeight * ratio)),
    dpi: Math.round(96 * ratio),
  };
}

/**
 * Builds the connect data guacamole-common-js appends to the tunnel URL
 * (`URL?DATA`): `token=…&width=…&height=…&dpi=…&timezone=…`. The gateway
 * uses the size for guacd's `size` handshake and the zone for `timezone`.
 * @param token - the signed access token.
 * @param size - the initial display size.
 */
export function buildConnectData(token: string, size: DisplaySize): string {
  const params = new URLSearchParams({
    [CONNECT_DATA.token]: token,
    [CONNECT_DATA.width]: String(size.width),
    [CONNECT_DATA.height]: String(size.height),
    [CONNECT_DATA.dpi]: String(size.dpi),
  });
  const zone = timezone();
  if (zone) params.set(CONNECT_DATA.timezone, zone);
  return params.toString();
}

function timezone(): string | undefined {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
  } catch {
    return undefined;
  }
}
