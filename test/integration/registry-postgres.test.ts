/** The registry contract on the test environment's PostgreSQL, one fresh schema per run. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openRegistry } from '../../src/registry/open.js';
import { newSecret, postgresFixture, registryContract, rejectsWith } from '../helpers/registry.js';

registryContract('PostgreSQL', postgresFixture);

test('PostgreSQL: an unreachable server is a clear error without the password', async () => {
  await assert.rejects(
    openRegistry('postgres://u:s3cr3t-pw@127.0.0.1:1/db', { dataDir: '/tmp', secretKey: newSecret() }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'GUAC_REGISTRY_UNAVAILABLE');
      assert.doesNotMatch(err.message, /s3cr3t-pw/);
      assert.match(err.message, /127\.0\.0\.1:1/);
      return true;
    },
  );
  await rejectsWith(openRegistry('postgres://u:pw@127.0.0.1:1/db', { dataDir: '/tmp', secretKey: newSecret() }), 'GUAC_REGISTRY_UNAVAILABLE', 0x0200);
});
