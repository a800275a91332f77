import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVersions, negotiateVersion, supports } from '../../src/guacd/index.js';
import { parseVersion } from '../../src/guacd/versions.js';

test('versions compare numerically, not as text', () => {
  assert.ok(compareVersions('VERSION_1_10_0', 'VERSION_1_9_0') > 0);
  assert.ok(compareVersions('VERSION_1_3_0', 'VERSION_1_5_0') < 0);
  assert.equal(compareVersions('VERSION_1_5_0', 'VERSION_1_5_0'), 0);
  assert.deepEqual(parseVersion('VERSION_2_0_11'), [2, 0, 11]);
  assert.equal(parseVersion('VERSION_1_5'), undefined);
  assert.equal(parseVersion('hostname'), undefined);
  assert.throws(() => compareVersions('VERSION_1_0_0', 'nope'), TypeError);
});

test('negotiation picks the highest version both sides know', () => {
  assert.equal(negotiateVersion('VERSION_1_5_0'), 'VERSION_1_5_0');
  assert.equal(negotiateVersion('VERSION_1_3_0'), 'VERSION_1_3_0');
  assert.equal(negotiateVersion('VERSION_1_1_0'), 'VERSION_1_1_0');
  assert.equal(negotiateVersion('VERSION_1_2_0'), 'VERSION_1_1_0', 'between two of ours: the lower');
  assert.equal(negotiateVersion('VERSION_1_6_0'), 'VERSION_1_5_0');
  assert.equal(negotiateVersion('VERSION_9_9_9'), 'VERSION_1_5_0', 'a future guacd gets our newest');
  assert.equal(negotiateVersion('VERSION_0_9_0'), undefined);
  assert.equal(negotiateVersion('VERSION_x'), undefined);
});

test('capabilities by version', () => {
  assert.equal(supports('VERSION_1_0_0', 'TIMEZONE_HANDSHAKE'), false);
  assert.equal(supports('VERSION_1_1_0', 'TIMEZONE_HANDSHAKE'), true);
  assert.equal(supports('VERSION_1_1_0', 'REQUIRED_ARGS'), false);
  assert.equal(supports('VERSION_1_3_0', 'REQUIRED_ARGS'), true);
  assert.equal(supports('VERSION_1_3_0', 'NAME_HANDSHAKE'), false);
  assert.equal(supports('VERSION_1_5_0', 'NAME_HANDSHAKE'), true);
});
