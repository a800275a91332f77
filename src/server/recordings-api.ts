/**
 * The admin API's recording endpoints (mounted by `createAdminApi`'s
 * `routes`): list, show, verify, download, delete, playback links, and
 * retention on demand. Ids are checked as UUIDs before anything else.
 */
import { stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { REGISTRY } from '../registry/errors.js';
import type { RecordingQuery } from '../registry/recordings.js';
import { fields, intParam, RawBody, type Route } from './admin-api.js';
import type { Recordings } from './recordings.js';
import { PAGE_HEADERS } from './static.js';

/** The endpoints under /api/recordings. */
export function recordingRoutes(recordings: Recordings): readonly Route[] {
  return [
    { path: 'recordings', methods: {
      GET: async ({ query }) => [200, { recordings: await recordings.registryList(listQuery(query)) }],
    } },
    { path: 'recordings/retention', methods: {
      POST: async () => [200, { deleted: await recordings.enforceRetention() }],
    } },
    { path: 'recordings/:id', methods: {
      GET: async ({ params }) => [200, (await recordings.pathOf(params.id)).rec],
      DELETE: async ({ params }) => {
        await recordings.delete(params.id);
        return [204, undefined];
      },
    } },
    { path: 'recordings/:id/verify', methods: {
      GET: async ({ params }) => [200, await recordings.verify(params.id)],
    } },
    { path: 'recordings/:id/file', methods: {
      GET: async ({ params }) => {
        const { rec, path } = await recordings.pathOf(params.id);
        const size = await fileSize(path);
        return [200, new RawBody((res, status) => sendFile(res, status, path, size, `${rec.id}.guac`))];
      },
    } },
    { path: 'recordings/:id/link', methods: {
      POST: async (r) => {
        const b = fields<{ ttl?: number }>(await r.body(), ['ttl']);
        return [201, await recordings.link(r.params.id, b.ttl)];
      },
    } },
  ];
}

function listQuery(query: URLSearchParams): RecordingQuery {
  for (const k of query.keys()) {
    if (!['connection', 'user', 'limit', 'offset'].includes(k)) {
      throw REGISTRY.GUAC_REQUEST_INVALID({ message: `Unknown query parameter ${JSON.stringify(k)}.` });
    }
  }
  const q: RecordingQuery = {};
  const conn = query.get('connection');
  if (conn !== null) q.connectionId = conn;
  const user = query.get('user');
  if (user !== null) q.user = user;
  const limit = intParam(query, 'limit');
  if (limit !== undefined) q.limit = limit;
  const offset = intParam(query, 'offset');
  if (offset !== undefined) q.offset = offset;
  return q;
}

/**
 * The size of a recording's file.
 * @throws GuacError `GUAC_RECORDING_NOT_FOUND` when the row is there and the file is not
 */
export async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') throw REGISTRY.GUAC_RECORDING_NOT_FOUND({ message: 'The recording file is missing.' });
    throw err;
  }
}

/** Streams a recording file (never cached: a link's expiry must hold). */
export function sendFile(res: ServerResponse, status: number, path: string, size: number, name?: string): void {
  res.writeHead(status, {
    ...PAGE_HEADERS,
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(size),
    'Cache-Control': 'no-store',
    ...(name === undefined ? {} : { 'Content-Disposition': `attachment; filename="${name}"` }),
  });
  const stream = createReadStream(path, { start: 0, end: Math.max(0, size - 1) });
  stream.on('error', () => res.destroy());
  if (size === 0) res.end();
  else stream.pipe(res);
}
