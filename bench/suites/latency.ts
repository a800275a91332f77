/**
 * Added latency: the client sends `key`, the stand-in answers `sync` at once;
 * round trips one after another, through a gateway or straight over TCP to the
 * stand-in (`tcp`, the floor). p50/p99 over N after a warm-up.
 */
import { connect, type Socket } from 'node:net';
import type WebSocket from 'ws';
import { startStack, startStandIn } from '../lib/stack.js';
import { openWs, nextMessage, takeEarly } from '../lib/client.js';
import { InstrReader, instr } from '../lib/wire.js';
import { nowMs, quantile, mean, round, sleep } from '../lib/stats.js';
import type { GatewayKind } from '../lib/gateways.js';

export type LatencyKind = GatewayKind | 'tcp';

export interface LatencyParams {
  kind: LatencyKind;
  quick?: boolean;
}

export interface LatencyResult {
  kind: LatencyKind;
  n: number;
  p50: number;
  p99: number;
  mean: number;
  max: number;
}

const KEY = '3.key,5.65307,1.1;';

/** One round trip per call of `rtt`; `send` must resolve when the sync came back. */
async function loop(n: number, warm: number, roundTrip: () => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < warm + n; i++) {
    const t0 = nowMs();
    await roundTrip();
    if (i >= warm) out.push(nowMs() - t0);
  }
  return out;
}

function wsRoundTrip(ws: WebSocket): () => Promise<void> {
  takeEarly(ws);
  let waiter: (() => void) | undefined;
  ws.on('message', () => {
    const w = waiter;
    waiter = undefined;
    w?.();
  });
  return () => new Promise<void>((resolve) => {
    waiter = resolve;
    ws.send(KEY);
  });
}

async function tcpSession(port: number): Promise<{ sock: Socket; roundTrip: () => Promise<void> }> {
  const sock = connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  let waiter: (() => void) | undefined;
  let ready: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const reader = new InstrReader((opcode) => {
    if (opcode === 'ready') ready();
    if (opcode === 'sync') {
      const w = waiter;
      waiter = undefined;
      w?.();
    }
  });
  sock.on('data', (d: Buffer) => reader.push(d));
  sock.write(instr('select', 'ssh') + instr('size', 1024, 768, 96) + instr('audio') + instr('video') + instr('image') +
    instr('connect', 'VERSION_1_3_0', '127.0.0.1', '22', '', ''));
  await isReady;
  return {
    sock,
    roundTrip: () => new Promise<void>((resolve) => {
      waiter = resolve;
      sock.write(KEY);
    }),
  };
}

export async function measureLatency(p: LatencyParams): Promise<LatencyResult> {
  const n = p.quick ? 1000 : 5000;
  const warm = p.quick ? 500 : 2000; // the JIT settles late on the relay paths (p99 halves between 500 and 2000)
  let times: number[];
  if (p.kind === 'tcp') {
    const standIn = await startStandIn({ mode: 'echo' });
    try {
      const { sock, roundTrip } = await tcpSession(standIn.info.port);
      times = await loop(n, warm, roundTrip);
      sock.destroy();
    } finally {
      await standIn.stop();
    }
  } else {
    const stack = await startStack(p.kind, { mode: 'echo' });
    try {
      const ws = await openWs(stack.url);
      await nextMessage(ws); // tunnel id (or, for the pipe, the handshake bytes)
      await sleep(200); // let anything else of the handshake arrive before timing
      times = await loop(n, warm, wsRoundTrip(ws));
      ws.terminate();
    } finally {
      await stack.stop();
    }
  }
  return {
    kind: p.kind,
    n,
    p50: round(quantile(times, 0.5), 4),
    p99: round(quantile(times, 0.99), 4),
    mean: round(mean(times), 4),
    max: round(Math.max(...times), 3),
  };
}
