/**
 * A scratch folder in the test user's home for SFTP transfers (the tests run
 * as root; the sshd logs in as the test user, who must own it), and the SSH
 * connection parameters that point guacd's SFTP at it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, rmSync, statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestEnv } from './env.js';

export interface SftpDir {
  /** Absolute path on the machine. */
  path: string;
  /** ssh parameters with SFTP on and rooted at `path`. */
  params: Record<string, string>;
  remove(): void;
}

/** Creates a scratch folder owned by the test user. */
export function sftpDir(env: TestEnv, label: string): SftpDir {
  const path = join(env.user.home, `files-${label}-${randomBytes(4).toString('hex')}`);
  mkdirSync(path, { recursive: true });
  const { uid, gid } = statSync(env.user.home);
  chownSync(path, uid, gid);
  return {
    path,
    params: { ...env.ssh.params, 'enable-sftp': 'true', 'sftp-root-directory': path },
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}

/** sha256 (hex) of a buffer or a file. */
export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(typeof data === 'string' ? readFileSync(data) : data).digest('hex');
}
