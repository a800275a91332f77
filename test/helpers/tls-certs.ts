/**
 * A throwaway CA with a server certificate for 127.0.0.1 (`guacd.pem`,
 * `guacd.key`) and a client certificate (`client.pem`, `client.key`), made
 * with openssl in a fresh folder, for guacd started with `-C`/`-K`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Makes the certificates; returns their folder (the caller removes it). */
export function makeGuacdCertificates(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gg-guacd-tls-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=test guacd CA');
  // The gateway connects to 127.0.0.1: the server certificate names that address.
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, ext] of [['guacd', 'server.ext'], ['client', 'client.ext']]) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', ext!);
  }
  return dir;
}
