/**
 * What the playback page (`/recording.html#token=…`) asks of the gateway,
 * with the signed link's token (audience `recording`) in the query:
 * `GET /recording/info?token=` → the recording's facts and whether its file
 * is intact; `GET /recording/file?token=` → the file. A token that is
 * forged, expired or made for anything else (a tunnel token, a share link)
 * is refused with `{"error": {code, message, status}}`, as is an id that
 * names nothing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isGuacError } from '../protocol/errors.js';
import { REGISTRY } from '../registry/errors.js';
import { SERVER } from './errors.js';
import { sendJson } from './json-http.js';
import { fileSize, sendFile } from './recordings-api.js';
import type { Recordings } from './recordings.js';

/** The page's endpoints. */
export const PLAYBACK_PATHS = Object.freeze({ info: '/recording/info', file: '/recording/file' });

/** Builds the handler; it answers false for paths that are not its own. */
export function playbackHandler(recordings: Recordings): (req: IncomingMessage, res: ServerResponse, path: string) => boolean {
  return (req, res, path) => {
    if (path !== PLAYBACK_PATHS.info && path !== PLAYBACK_PATHS.file) return false;
    void answer(recordings, req, res, path === PLAYBACK_PATHS.file).catch((err: unknown) => {
      const e = isGuacError(err) ? err : REGISTRY.GUAC_REGISTRY_UNAVAILABLE({ message: 'The connection registry is unavailable; try again later.', cause: err });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const status = (e as { http?: number }).http ?? e.status.http;
      sendJson(res, status, { error: { code: e.code, message: e.message, status } });
    });
    return true;
  };
}

async function answer(recordings: Recordings, req: IncomingMessage, res: ServerResponse, file: boolean): Promise<void> {
  if (req.method !== 'GET') {
    res.setHeader('Allow', 'GET');
    throw Object.assign(SERVER.GUAC_METHOD_NOT_ALLOWED({ message: 'Method not allowed here; use GET.' }), { http: 405 });
  }
  const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token');
  const { rec, path } = await recordings.open(token);
  if (file) {
    sendFile(res, 200, path, await fileSize(path));
    return;
  }
  const check = await recordings.verify(rec.id);
  res.setHeader('Cache-Control', 'no-store');
  sendJson(res, 200, {
    id: rec.id, connectionName: rec.connectionName, user: rec.user, startedAt: rec.startedAt, endedAt: rec.endedAt,
    durationMs: rec.durationMs, firstFrame: rec.firstFrame, keys: rec.keys, size: rec.size,
    integrity: check.state, message: check.message,
  });
}
