/**
 * A guacd stand-in on loopback: does guacd's side of the handshake (answers
 * `select` with `args`, waits for `connect`, sends `ready`), then, per mode,
 * replays a recorded stream as fast as the socket takes it, answers every
 * `key` with a `sync` at once, or sits idle (with a `nop` now and then, as a
 * live guacd would, so peers with inactivity timers keep the session).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { InstrReader, instr } from './wire.js';

export type StandInMode = 'replay' | 'echo' | 'idle';

export interface StandInOptions {
  mode: StandInMode;
  /** replay: the unit written again and again (must end on an instruction boundary). */
  stream?: Buffer;
  /** replay: bytes per session, rounded up to whole units; 0 = until the peer goes away. */
  bytesPerSession?: number;
  /** idle: send `nop` this often (0 = never). */
  keepaliveMs?: number;
  /** Right after `ready`, a first frame (`size` of the default layer, then `sync`), as guacd sends once the remote desktop answers. */
  frameOnReady?: boolean;
}

export interface StandInStats {
  sessions: number;
  open: number;
  /** Bytes the kernel accepted, summed over sessions. */
  flushed: number;
  /** Largest per-session number of bytes flushed. */
  maxSessionFlushed: number;
}

const ARGS = instr('args', 'VERSION_1_3_0', 'hostname', 'port', 'username', 'password');

export class StandIn {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly stats: StandInStats = { sessions: 0, open: 0, flushed: 0, maxSessionFlushed: 0 };

  constructor(private readonly opts: StandInOptions) {
    this.server = createServer((s) => this.accept(s));
  }

  /** Listens on 127.0.0.1 and resolves the port. */
  listen(): Promise<number> {
    return new Promise((resolve) => {
      this.server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
        resolve((this.server.address() as { port: number }).port);
      });
    });
  }

  snapshot(): StandInStats {
    return { ...this.stats, open: this.sockets.size };
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }

  private accept(sock: Socket): void {
    sock.setNoDelay(true);
    this.sockets.add(sock);
    this.stats.sessions++;
    let connected = false;
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      this.sockets.delete(sock);
      if (timer) clearInterval(timer);
    };
    sock.on('close', done);
    sock.on('error', () => sock.destroy());
    const reader = new InstrReader((opcode) => {
      if (!connected) {
        if (opcode === 'select') sock.write(ARGS);
        else if (opcode === 'connect') {
          connected = true;
          sock.write(instr('ready', `$${randomUUID()}`));
          if (this.opts.frameOnReady) sock.write(instr('size', 0, 1024, 768) + instr('sync', Date.now(), 0));
          this.start(sock, (t) => (timer = t));
        }
        return;
      }
      if (this.opts.mode === 'echo' && opcode === 'key') sock.write(instr('sync', Date.now()));
    });
    sock.on('data', (d: Buffer) => {
      // Replay peers send little (sync answers); only the handshake and echo need reading.
      if (connected && this.opts.mode !== 'echo') return;
      try {
        reader.push(d);
      } catch {
        sock.destroy();
      }
    });
  }

  private start(sock: Socket, setTimer: (t: NodeJS.Timeout) => void): void {
    const { mode } = this.opts;
    if (mode === 'idle' && this.opts.keepaliveMs) {
      setTimer(setInterval(() => sock.write('3.nop;'), this.opts.keepaliveMs));
    }
    if (mode !== 'replay') return;
    const unit = this.opts.stream!;
    const total = this.opts.bytesPerSession ? Math.ceil(this.opts.bytesPerSession / unit.length) * unit.length : Infinity;
    let queued = 0;
    let flushed = 0;
    const onFlushed = (err?: Error | null): void => {
      if (err) return;
      flushed += unit.length;
      this.stats.flushed += unit.length;
      if (flushed > this.stats.maxSessionFlushed) this.stats.maxSessionFlushed = flushed;
    };
    const pump = (): void => {
      while (!sock.destroyed && queued < total) {
        queued += unit.length;
        if (!sock.write(unit, onFlushed)) {
          sock.once('drain', pump);
          return;
        }
      }
    };
    pump();
  }
}
