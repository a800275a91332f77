/**
 * The metrics module counts what the library's diagnostics events say
 * (published here as the layers would), and the `--workers` /
 * `--metrics-listen` settings check their values.
 */
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { CHANNELS } from '../../src/diagnostics.js';
import type { GuacdMemberStatus } from '../../src/guacd/pool.js';
import { isGuacError } from '../../src/protocol/errors.js';
import { createMetrics } from '../../src/server/metrics.js';
import { readSettings } from '../../src/server/settings.js';
import { parseSamples, sample } from '../helpers/prometheus.js';

const publish = (channel: string, message: object): void => diagnostics_channel.channel(channel).publish(message);

test('sessions, bytes, handshake times, refusals and guacd retries are counted from the events', async () => {
  const metrics = createMetrics();
  try {
    const close = { transport: 'websocket', code: 'GUAC_TUNNEL_CLOSED', status: 0, statusName: 'SUCCESS', message: '', durationMs: 5 };
    publish(CHANNELS.sessionOpen, { session: 'a', transport: 'websocket' });
    publish(CHANNELS.handshakeDone, { session: 'a', protocol: 'ssh', readOnly: false, durationMs: 120 });
    publish(CHANNELS.sessionOpen, { session: 'b', transport: 'http' });
    publish(CHANNELS.handshakeDone, { session: 'b', protocol: 'vnc', readOnly: true, durationMs: 3000 });
    publish(CHANNELS.sessionOpen, { session: 'c', transport: 'websocket' });
    publish(CHANNELS.handshakeFailed, { session: 'c', code: 'GUAC_TOKEN_EXPIRED', status: 0x0301, statusName: 'CLIENT_UNAUTHORIZED', message: 'x', durationMs: 1 });
    publish(CHANNELS.sessionClose, { ...close, session: 'c', opened: false, code: 'GUAC_TOKEN_EXPIRED', statusName: 'CLIENT_UNAUTHORIZED', bytesFromBrowser: 10, bytesToBrowser: 40 });
    publish(CHANNELS.handshakeFailed, { session: 'd', code: 'GUAC_GUACD_UNREACHABLE', status: 0x0208, statusName: 'UPSTREAM_UNAVAILABLE', message: 'x', durationMs: 1 });
    publish(CHANNELS.guacdRetry, { code: 'GUAC_GUACD_BUSY', attempt: 1, guacd: '127.0.0.1:4822' });
    publish(CHANNELS.sessionClose, { ...close, session: 'a', opened: true, bytesFromBrowser: 100, bytesToBrowser: 5000 });

    const m = parseSamples(await metrics.registry.metrics());
    assert.equal(sample(m, 'guacamole_gateway_sessions_active', { protocol: 'ssh' }), 0);
    assert.equal(sample(m, 'guacamole_gateway_sessions_active', { protocol: 'vnc' }), 1);
    assert.equal(sample(m, 'guacamole_gateway_sessions_opened_total', { protocol: 'ssh' }), 1);
    assert.equal(sample(m, 'guacamole_gateway_sessions_ended_total', { protocol: 'ssh', status: 'SUCCESS' }), 1);
    assert.equal(sample(m, 'guacamole_gateway_sessions_ended_total', { protocol: 'none', status: 'CLIENT_UNAUTHORIZED' }), 0, 'a refused session never relayed');
    assert.equal(sample(m, 'guacamole_gateway_bytes_to_browser_total', { protocol: 'ssh' }), 5000);
    assert.equal(sample(m, 'guacamole_gateway_bytes_from_browser_total', { protocol: 'ssh' }), 100);
    assert.equal(sample(m, 'guacamole_gateway_bytes_to_browser_total', { protocol: 'none' }), 40);
    assert.equal(sample(m, 'guacamole_gateway_handshake_seconds_count', { protocol: 'vnc' }), 1);
    assert.equal(sample(m, 'guacamole_gateway_handshake_seconds_bucket', { protocol: 'ssh', le: '0.25' }), 1);
    assert.equal(sample(m, 'guacamole_gateway_handshake_seconds_bucket', { protocol: 'ssh', le: '0.1' }), 0);
    assert.equal(sample(m, 'guacamole_gateway_tokens_refused_total', { reason: 'GUAC_TOKEN_EXPIRED' }), 1);
    assert.equal(sample(m, 'guacamole_gateway_tokens_refused_total', { reason: 'GUAC_GUACD_UNREACHABLE' }), 0, 'guacd down is no token refusal');
    assert.equal(sample(m, 'guacamole_gateway_handshakes_failed_total', { code: 'GUAC_GUACD_UNREACHABLE' }), 1);
    assert.equal(sample(m, 'guacamole_gateway_guacd_retries_total', { code: 'GUAC_GUACD_BUSY' }), 1);
  } finally {
    metrics.close();
  }
  // Closed: later events are not counted.
  publish(CHANNELS.guacdRetry, { code: 'GUAC_GUACD_BUSY', attempt: 1, guacd: 'x' });
  assert.equal(sample(parseSamples(await metrics.registry.metrics()), 'guacamole_gateway_guacd_retries_total', { code: 'GUAC_GUACD_BUSY' }), 1);
});

test('--workers: auto is one per core, 1 to 256 otherwise; --metrics-listen: HOST:PORT or main', () => {
  const read = (flags: Record<string, string>, env: NodeJS.ProcessEnv = {}) => readSettings(['workers', 'metricsListen'], flags, env);
  assert.deepEqual(read({}), { workers: undefined, metricsListen: undefined });
  assert.equal(read({ workers: 'auto' }).workers, availableParallelism());
  assert.equal(read({}, { GATEWAY_WORKERS: '3' }).workers, 3);
  assert.deepEqual(read({ 'metrics-listen': '127.0.0.1:9464' }).metricsListen, { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(read({ 'metrics-listen': '[::1]:0' }).metricsListen, { host: '::1', port: 0 });
  assert.equal(read({}, { GATEWAY_METRICS_LISTEN: 'main' }).metricsListen, 'main');
  const bad: [Record<string, string>, NodeJS.ProcessEnv, string][] = [
    [{ workers: '0' }, {}, '--workers must be auto or a number of workers from 1 to 256, not "0".'],
    [{ workers: '257' }, {}, '--workers must be auto or a number of workers from 1 to 256, not "257".'],
    [{}, { GATEWAY_WORKERS: 'many' }, '--workers (GATEWAY_WORKERS) must be auto or a number of workers from 1 to 256, not "many".'],
    [{ 'metrics-listen': 'admin' }, {}, '--metrics-listen must be HOST:PORT (e.g. 127.0.0.1:4822), not "admin".'],
    [{ 'metrics-listen': '127.0.0.1:70000' }, {}, '--metrics-listen port must be a port number from 0 to 65535, not "70000".'],
  ];
  for (const [flags, env, message] of bad) {
    assert.throws(() => read(flags, env), (e: unknown) => isGuacError(e, 'GUAC_CONFIG_INVALID') && e.message === message, message);
  }
});

test('the guacd pool: up and sessions per guacd read at each scrape; summed over workers, up is the lowest', async () => {
  const { AggregatorRegistry } = await import('prom-client');
  let state: GuacdMemberStatus[] = [{ name: 'g1:4822', healthy: true, sessions: 3 }, { name: 'g2:4822', healthy: false, sessions: 0, error: 'GUAC_GUACD_UNREACHABLE' }];
  const w1 = createMetrics({ guacd: () => state });
  const w2 = createMetrics({ guacd: () => [{ name: 'g1:4822', healthy: true, sessions: 2 }, { name: 'g2:4822', healthy: true, sessions: 1 }] });
  try {
    let text = await w1.registry.metrics();
    assert.equal(sample(parseSamples(text), 'guacamole_gateway_guacd_up', { guacd: 'g1:4822' }), 1);
    assert.equal(sample(parseSamples(text), 'guacamole_gateway_guacd_up', { guacd: 'g2:4822' }), 0);
    assert.equal(sample(parseSamples(text), 'guacamole_gateway_guacd_sessions', { guacd: 'g1:4822' }), 3);
    state = [{ name: 'g1:4822', healthy: false, sessions: 0 }, { name: 'g2:4822', healthy: true, sessions: 5 }];
    text = await w1.registry.metrics();
    assert.equal(sample(parseSamples(text), 'guacamole_gateway_guacd_up', { guacd: 'g1:4822' }), 0, 'read at scrape time');
    assert.equal(sample(parseSamples(text), 'guacamole_gateway_guacd_sessions', { guacd: 'g2:4822' }), 5);
    const sum = await AggregatorRegistry.aggregate([await w1.registry.getMetricsAsJSON(), await w2.registry.getMetricsAsJSON()] as never).metrics();
    assert.equal(sample(parseSamples(sum), 'guacamole_gateway_guacd_up', { guacd: 'g1:4822' }), 0, 'down for one worker is down');
    assert.equal(sample(parseSamples(sum), 'guacamole_gateway_guacd_up', { guacd: 'g2:4822' }), 1);
    assert.equal(sample(parseSamples(sum), 'guacamole_gateway_guacd_sessions', { guacd: 'g2:4822' }), 6);
  } finally {
    w1.close();
    w2.close();
  }
});

test('bytes of a relaying session show at each scrape as they flow; at its close they move to the ended sum, never counted twice nor going back', async () => {
  const live = new Map<string, { info: { id: string }; state: string; stats: { bytesFromBrowser: number; bytesToBrowser: number } }>();
  const metrics = createMetrics({ sessions: () => live.values() as never });
  const bytes = async (): Promise<[number, number]> => {
    const m = parseSamples(await metrics.registry.metrics());
    return [sample(m, 'guacamole_gateway_bytes_from_browser_total', { protocol: 'ssh' }) ?? 0, sample(m, 'guacamole_gateway_bytes_to_browser_total', { protocol: 'ssh' }) ?? 0];
  };
  try {
    const a = { info: { id: 'a' }, state: 'connecting', stats: { bytesFromBrowser: 7, bytesToBrowser: 0 } };
    live.set('a', a);
    publish(CHANNELS.sessionOpen, { session: 'a', transport: 'websocket' });
    // Not relaying yet (protocol unknown): not counted, so nothing moves between labels later.
    assert.deepEqual(await bytes(), [0, 0]);
    publish(CHANNELS.handshakeDone, { session: 'a', protocol: 'ssh', readOnly: false, durationMs: 10 });
    a.state = 'open';
    a.stats.bytesToBrowser = 1000;
    assert.deepEqual(await bytes(), [7, 1000]);
    a.stats.bytesFromBrowser = 50;
    a.stats.bytesToBrowser = 250_000;
    assert.deepEqual(await bytes(), [50, 250_000], 'a long session shows its traffic before it ends');
    // The close: out of the table and into the ended sum in one turn.
    a.state = 'closed';
    live.delete('a');
    publish(CHANNELS.sessionClose, {
      session: 'a', transport: 'websocket', code: 'GUAC_TUNNEL_CLOSED', status: 0, statusName: 'SUCCESS', message: '', durationMs: 5, opened: true,
      bytesFromBrowser: 50, bytesToBrowser: 250_000,
    });
    assert.deepEqual(await bytes(), [50, 250_000]);
    // A second session adds to it; a closed one still in the table is not counted twice.
    const b = { info: { id: 'b' }, state: 'open', stats: { bytesFromBrowser: 1, bytesToBrowser: 2 } };
    live.set('b', b);
    publish(CHANNELS.handshakeDone, { session: 'b', protocol: 'ssh', readOnly: false, durationMs: 10 });
    assert.deepEqual(await bytes(), [51, 250_002]);
    b.state = 'closed';
    publish(CHANNELS.sessionClose, {
      session: 'b', transport: 'websocket', code: 'GUAC_TUNNEL_CLOSED', status: 0, statusName: 'SUCCESS', message: '', durationMs: 5, opened: true,
      bytesFromBrowser: 1, bytesToBrowser: 2,
    });
    assert.deepEqual(await bytes(), [51, 250_002]);
  } finally {
    metrics.close();
  }
});
