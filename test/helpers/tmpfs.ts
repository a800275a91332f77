/**
 * Real small or read-only file systems for recording fault tests: a tmpfs
 * mount (the tests run as root, which ignores permission bits, so a
 * read-only mount is the honest "may not write", and a 16 KiB tmpfs a real
 * full disk). Where mounting is not allowed, `mountTmpfs` answers undefined
 * and the caller skips, saying so.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Mounts a tmpfs with `options` (e.g. `size=16k`, `size=64k,ro`); undefined when this machine does not let us. */
export function mountTmpfs(options: string): string | undefined {
  const at = mkdtempSync(join(tmpdir(), 'rec-mnt-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', at], { stdio: 'ignore' });
    return at;
  } catch {
    rmSync(at, { recursive: true, force: true });
    return undefined;
  }
}

/** Unmounts and removes what {@link mountTmpfs} made. */
export function unmountTmpfs(at: string | undefined): void {
  if (at === undefined) return;
  try { execFileSync('umount', [at], { stdio: 'ignore' }); } catch { /* already gone */ }
  rmSync(at, { recursive: true, force: true });
}
