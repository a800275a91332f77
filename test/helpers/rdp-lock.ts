/**
 * The test environment's RDP server (freerdp-shadow) serves one client at a
 * time, and `npm test` runs two test files at once: an RDP session of one
 * file then waits on, or is refused by, the server while the other's holds it
 * (seen once: a drive session whose `filesystem` never came). Tests that open
 * RDP sessions run inside {@link withRdp}, which takes a lock shared by the
 * test processes of this checkout: a directory made atomically, naming its
 * holder's pid, taken over when that process is gone.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive, repoRoot } from './env.js';

const LOCK = join(repoRoot(), '.test-env', 'rdp.lock');

function tryLock(): boolean {
  try {
    mkdirSync(LOCK);
  } catch {
    const holder = Number(readFileSync(join(LOCK, 'pid'), { encoding: 'utf8', flag: 'r' }).trim() || NaN);
    // A holder that died without letting go (or had not written its pid yet: then wait).
    if (Number.isSafeInteger(holder) && !processAlive(holder)) rmSync(LOCK, { recursive: true, force: true });
    return false;
  }
  writeFileSync(join(LOCK, 'pid'), String(process.pid));
  return true;
}

/** Runs `fn` while no other test process of this checkout talks to the RDP server. */
export async function withRdp<T>(fn: () => Promise<T>, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let taken = false;
    try {
      taken = tryLock();
    } catch {
      // The pid file vanished between the two reads: the holder let go; try again.
    }
    if (taken) break;
    if (Date.now() > deadline) throw new Error(`the RDP server stayed taken by another test for ${timeoutMs} ms (${LOCK})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}
