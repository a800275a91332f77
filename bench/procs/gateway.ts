/**
 * Child entry: one gateway (ours, guacamole-lite or the pipe ceiling), alone
 * in its process so its CPU and memory are measured by themselves. Answers
 * `mem` (after a full GC, with the kernel's peak RSS) and `close`.
 */
import { readFileSync } from 'node:fs';
import { serveChild, fullGc } from '../lib/proc.js';
import { startGateway, type GatewayKind, type Upstream } from '../lib/gateways.js';

export interface GatewayInit {
  kind: GatewayKind;
  upstream: Upstream;
}

export interface GatewayInfo {
  url: string;
}

export interface MemSample {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** Peak RSS of this process so far (VmHWM), bytes. */
  peakRss: number;
}

function peakRss(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

serveChild<GatewayInit>(async (init) => {
  const gw = await startGateway(init.kind, init.upstream);
  const info: GatewayInfo = { url: gw.url };
  return {
    info,
    handlers: {
      mem: (arg) => {
        if ((arg as { gc?: boolean } | undefined)?.gc) fullGc();
        const m = process.memoryUsage();
        const s: MemSample = { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, peakRss: peakRss() };
        return s;
      },
      urls: (n) => (gw.urls ? gw.urls(n as number) : Array.from({ length: n as number }, () => gw.url)),
      recording: () => gw.recording?.(),
      close: () => gw.close(),
    },
  };
});
