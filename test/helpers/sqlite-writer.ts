/**
 * A child process writing session history into a shared SQLite registry, as
 * one `serve --workers` worker does: `node sqlite-writer.js DATA_DIR SECRET
 * GATEWAY_ID N` records N sessions at once (start, then end), beating and
 * sweeping for orphans meanwhile, and prints `{"written":N}` or the error.
 */
import { openRegistry } from '../../src/registry/open.js';
import { STATUS } from '../../src/protocol/status.js';

const [dataDir, secret, gatewayId, count] = process.argv.slice(2) as [string, string, string, string];
const n = Number(count);
try {
  const registry = await openRegistry(undefined, { dataDir, secretKey: secret, gatewayId });
  await registry.startHeartbeat();
  const ids = Array.from({ length: n }, (_, i) => `${gatewayId}-${i}`);
  await Promise.all(ids.map(async (id, i) => {
    await registry.sessionStarted({ id, user: `u${i % 7}`, protocol: 'ssh', remoteAddress: '127.0.0.1' });
    if (i % 50 === 0) await registry.endOrphanedSessions(); // both processes beat: it must end nothing of the other's
    await registry.sessionEnded({ id, user: `u${i % 7}`, protocol: 'ssh', status: STATUS.SUCCESS, bytesFromBrowser: i, bytesToBrowser: 2 * i });
  }));
  await registry.close();
  process.stdout.write(JSON.stringify({ written: n }));
} catch (err) {
  process.stdout.write(JSON.stringify({ error: String(err), code: (err as { code?: string }).code }));
  process.exitCode = 1;
}
