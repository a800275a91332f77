/**
 * Child entry: one guacd stand-in (see lib/standin.ts), so its work is never
 * billed to the gateway or the client being measured.
 */
import { serveChild } from '../lib/proc.js';
import { StandIn, type StandInMode } from '../lib/standin.js';
import { loadMix, repeatTo } from '../lib/recordings.js';

export interface StandInInit {
  mode: StandInMode;
  recordings?: string[];
  bytesPerSession?: number;
  keepaliveMs?: number;
  frameOnReady?: boolean;
}

export interface StandInInfo {
  port: number;
  /** Size of the replayed unit (one pass over the recordings, at least 1 MB). */
  unitBytes: number;
}

serveChild<StandInInit>(async (init) => {
  const stream = init.recordings?.length ? repeatTo(loadMix(init.recordings), 1 << 20) : undefined;
  const standIn = new StandIn({
    mode: init.mode,
    ...(stream ? { stream } : {}),
    bytesPerSession: init.bytesPerSession ?? 0,
    keepaliveMs: init.keepaliveMs ?? 0,
    frameOnReady: init.frameOnReady ?? false,
  });
  const port = await standIn.listen();
  const info: StandInInfo = { port, unitBytes: stream?.length ?? 0 };
  return {
    info,
    handlers: {
      stats: () => standIn.snapshot(),
      close: () => standIn.close(),
    },
  };
});
