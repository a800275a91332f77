/**
 * Static files of the client page (dist/web/): GET and HEAD only, known
 * content types, no directory traversal, no listing.
 */
import { createReadStream, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The client page's Content-Security-Policy. The page runs only its own
 * module scripts (no inline script, no eval) and its own stylesheets, and
 * talks only to its own origin (`'self'` also covers ws:/wss: to the same
 * host and port), so an injected script or a tampered tunnel address cannot
 * send the session elsewhere. guacamole-common-js draws images and the
 * remote cursor from `data:` and `blob:` URLs. There is deliberately no
 * `frame-ancestors`: other sites framing the page is a feature.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/**
 * Headers on every page answer. The page URL carries the token: no referrer may leak it. The policy is sent
 * with every file (a browser applies it to documents only, e.g. an SVG opened on its own).
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
};

/**
 * Maps a URL path to a file under `root`, or undefined when it would leave
 * it (`..`, encoded slashes, NUL) or is malformed.
 */
export function resolveStaticPath(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\') || !decoded.startsWith('/')) return undefined;
  const segments = decoded.split('/');
  if (segments.some((s) => s === '..' || s === '.')) return undefined;
  if (decoded.endsWith('/')) decoded += 'index.html';
  const base = resolve(root);
  const file = resolve(join(base, decoded));
  if (file !== base && !file.startsWith(base + sep)) return undefined;
  return file;
}

/**
 * Serves `root`'s files.
 * @returns a handler resolving to false when no file matches (the caller answers)
 */
export function staticFiles(root: string): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = (req.url ?? '/').split('?')[0];
    const file = resolveStaticPath(root, path);
    if (!file) return false;
    const type = TYPES[extname(file).toLowerCase()];
    if (!type) return false;
    let info: Stats;
    try {
      info = await stat(file);
    } catch {
      return false;
    }
    if (!info.isFile()) return false;
    res.writeHead(200, {
      ...PAGE_HEADERS,
      'Content-Type': type,
      'Content-Length': String(info.size),
      'Cache-Control': file.endsWith('.html') ? 'no-cache' : 'public, max-age=300',
      // Host pages on other origins load embed.js (a module script) and client.css.
      ...(file.endsWith('.html') ? {} : { 'Access-Control-Allow-Origin': '*' }),
      'Last-Modified': info.mtime.toUTCString(),
    });
    if (req.method === 'HEAD') {
      res.end();
      return true;
    }
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
    return true;
  };
}
