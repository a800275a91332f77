/**
 * Open/close cycles for the leak test and the soak run: sessions through an
 * in-process gateway to the real guacd, ended every way a session can end
 * (a clean close, an abrupt drop, a drop while connecting, a protocol error,
 * the browser's own `disconnect`, an HTTP tunnel read abandoned), and what
 * the process holds before and after.
 */
import { STATUS } from '../../src/protocol/status.js';
import { waitFor } from './env.js';
import { memoryAfterGc, openFds, socketsTo, type MemorySample } from './procfs.js';
import { Cleanups, GuacdGaveUp, guacdHandshakeFailed, guacdRetries, openSession } from './security.js';
import { TunnelClient, type TestGateway } from './ws-client.js';

/** How a cycle ends its session. */
export const CYCLE_MODES = ['close', 'terminate', 'drop-connecting', 'protocol-error', 'disconnect', 'http-abandon'] as const;
export type CycleMode = (typeof CYCLE_MODES)[number];

/** Runs one cycle; resolves once the browser side is gone (the gateway may still be finishing). */
export async function runCycle(g: TestGateway, mode: CycleMode): Promise<void> {
  if (mode === 'http-abandon') {
    let res = await fetch(`${g.httpUrl}?connect`, { method: 'POST', body: 'x=1' });
    for (let retry = 0; guacdHandshakeFailed(Number(res.headers.get('Guacamole-Status-Code'))) && retry < 2; retry++) {
      guacdRetries.note(`${res.headers.get('Guacamole-Status-Code') ?? '?'} ${res.headers.get('Guacamole-Error-Message') ?? ''} (HTTP tunnel)`);
      await res.arrayBuffer();
      res = await fetch(`${g.httpUrl}?connect`, { method: 'POST', body: 'x=1' });
    }
    const uuid = await res.text();
    const token = res.headers.get('Guacamole-Tunnel-Token');
    if (res.status !== 200 || !token) {
      const message = `HTTP connect: ${res.status} ${uuid.slice(0, 80)}`;
      throw guacdHandshakeFailed(Number(res.headers.get('Guacamole-Status-Code'))) ? new GuacdGaveUp(message) : new Error(message);
    }
    const abort = new AbortController();
    const read = await fetch(`${g.httpUrl}?read:${uuid}:0`, { headers: { 'Guacamole-Tunnel-Token': token }, signal: abort.signal });
    const reader = read.body?.getReader();
    await reader?.read();
    abort.abort();
    await reader?.cancel().catch(() => undefined);
    return;
  }
  const cleanups = new Cleanups();
  try {
    if (mode === 'drop-connecting' || mode === 'protocol-error') {
      const c = await TunnelClient.connect(g.wsUrl, { timeoutMs: 15_000 });
      cleanups.add(() => c.terminate());
      await c.waitFor(() => true, 10_000, 'the UUID');
      if (mode === 'drop-connecting') c.terminate();
      else {
        c.sendRaw('4.key,100000.');
        await c.waitClosed(10_000);
      }
      return;
    }
    const c = await openSession(cleanups, g);
    if (mode === 'close') {
      c.close();
      await c.waitClosed(10_000);
    } else if (mode === 'terminate') {
      c.terminate();
    } else {
      c.send('disconnect');
      const closed = await c.waitClosed(15_000);
      if (closed.reason !== String(STATUS.SUCCESS.guac)) throw new Error(`disconnect ended with ${closed.reason}`);
    }
  } finally {
    await cleanups.run();
  }
}

/** What the process holds. */
export interface Holdings {
  fds: number;
  guacdSockets: number;
  memory: MemorySample;
}

/** Samples fds, sockets to guacd and memory (after a full GC). */
export async function holdings(guacdPort: number): Promise<Holdings> {
  return { fds: openFds(), guacdSockets: socketsTo(guacdPort), memory: await memoryAfterGc() };
}

/** What a run of cycles could not do. */
export interface CycleFailures {
  /** Cycles that failed for the gateway's part (a test failure). */
  failures: string[];
  /** Cycles whose session guacd or its target ended before a frame, three times in a row (see openSession). */
  gaveUp: string[];
}

/** Runs `total` cycles, `concurrency` at a time, the modes in rotation. */
export async function runCycles(g: TestGateway, total: number, concurrency: number): Promise<CycleFailures> {
  const out: CycleFailures = { failures: [], gaveUp: [] };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const mode = CYCLE_MODES[next++ % CYCLE_MODES.length];
      try {
        await runCycle(g, mode);
      } catch (err) {
        (err instanceof GuacdGaveUp ? out.gaveUp : out.failures).push(`${mode}: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

/** Waits until the gateway holds no session and no socket to guacd beyond `baseline`. */
export async function settled(g: TestGateway, guacdPort: number, baseline: Holdings, timeoutMs = 30_000): Promise<void> {
  await waitFor(() => g.tunnel.sessions.size === 0, { timeoutMs, what: 'every session to end' });
  await waitFor(() => socketsTo(guacdPort) <= baseline.guacdSockets, { timeoutMs, what: 'guacd sockets back to the baseline' });
}
