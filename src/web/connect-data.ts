/**
 * Where the tunnel is and what the browser tells it when connecting.
 */

/** The two tunnel endpoints tried in order. */
export interface TunnelUrls {
  /** `ws:` or `wss:` URL of the WebSocket tunnel. */
  readonly webSocket: string;
  /** `http:` or `https:` URL of the HTTP tunnel (the fallback). */
  readonly http: string;
  /** Whether the HTTP tunnel is on another origin than the page. */
  readonly crossDomain: boolean;
}

/**
 * Resolves the tunnel URLs.
 * @param tunnel - an explicit URL (`ws:`, `wss:`, `http:`, `https:`, or a path
 *   resolved against `base`); the default is `tunnel` beside `base`.
 * @param base - the URL relative paths resolve against (the gateway's own
 *   address: where embed.js was loaded from).
 * @param pageOrigin - the origin of the page running the client.
 */
export function resolveTunnelUrls(tunnel: string | undefined, base: string, pageOrigin: string): TunnelUrls {
  const url = new URL(tunnel && tunnel.trim() !== '' ? tunnel.trim() : 'tunnel', base);
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
    token,
    width: String(size.width),
    height: String(size.height),
    dpi: String(size.dpi),
  });
  const zone = timezone();
  if (zone) params.set('timezone', zone);
  return params.toString();
}

function timezone(): string | undefined {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
  } catch {
    return undefined;
  }
}
