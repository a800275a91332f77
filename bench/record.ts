/**
 * Records what a real guacd sends a client, for the bench to replay: does the
 * handshake by hand, answers every `sync` at once (as a browser that keeps up
 * does, so guacd keeps sending frames), drives the session (keystrokes for
 * SSH; the VNC desktop is animated from outside), and keeps the bytes after
 * `ready`, cut on an instruction boundary, gzipped.
 *
 *   node dist/bench/record.js --name ssh-seq --protocol ssh --param hostname=… --type 'seq 1 200000\n'
 *
 * scripts/record-streams.sh runs it against the test environment.
 */
import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import { writeFileSync, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { InstrReader, instr } from './lib/wire.js';
import { RECORDINGS_DIR } from './lib/recordings.js';
import { sleep } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    guacd: { type: 'string', default: '127.0.0.1:4822' },
    protocol: { type: 'string', default: 'ssh' },
    param: { type: 'string', multiple: true, default: [] },
    /** Text to type once the session shows its first frame; `\n` is Enter. */
    type: { type: 'string' },
    /** Typing starts once the first picture came and nothing but `sync` arrived for this long (the shell is up). */
    'type-after-ms': { type: 'string', default: '1500' },
    'max-bytes': { type: 'string', default: String(4 << 20) },
    'max-ms': { type: 'string', default: '30000' },
    /** Stop after this long without data once typing is done. */
    'quiet-ms': { type: 'string', default: '3000' },
    verbose: { type: 'boolean', default: false },
  },
});

const KEYSYM_ENTER = 0xff0d;

function keysym(ch: string): number {
  if (ch === '\n') return KEYSYM_ENTER;
  const cp = ch.codePointAt(0)!;
  return cp < 0x100 ? cp : 0x1000000 + cp;
}

async function main(): Promise<void> {
  if (!values.name) throw new Error('--name is required');
  const [host, port] = values.guacd!.split(':');
  const params = new Map(values.param!.map((kv) => {
    const i = kv.indexOf('=');
    return [kv.slice(0, i), kv.slice(i + 1)] as const;
  }));
  const maxBytes = Number(values['max-bytes']);
  const sock = connect(Number(port), host);
  sock.setNoDelay(true);
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let ready = false;
  let lastData = Date.now();
  let lastDraw = Date.now();
  let sawImg = false;
  let done = false;
  const counts = new Map<string, number>();
  let resolveReady!: () => void;
  const isReady = new Promise<void>((r) => (resolveReady = r));
  const reader = new InstrReader((opcode, args, raw) => {
    if (!ready) {
      if (opcode === 'args') {
        const version = args[0]?.startsWith('VERSION_') ? args[0] : undefined;
        const names = version ? args.slice(1) : args;
        sock.write(instr('size', 1024, 768, 96) + instr('audio') + instr('video') +
          instr('image', 'image/png', 'image/jpeg', 'image/webp') + instr('timezone', 'UTC') + instr('name', 'bench'));
        sock.write(instr('connect', ...(version ? [version] : []), ...names.map((n) => params.get(n) ?? '')));
      } else if (opcode === 'ready') {
        ready = true;
        resolveReady();
      } else if (opcode === 'error') {
        process.stderr.write(`guacd refused the connection: ${args.join(' ')}\n`);
        process.exit(1);
      }
      return;
    }
    if (opcode === 'sync') sock.write(instr('sync', args[0] ?? '0'));
    else lastDraw = Date.now();
    if (opcode === 'img') sawImg = true;
    if (done || keptBytes + raw.length > maxBytes) {
      done = true;
      return;
    }
    kept.push(Buffer.from(raw));
    keptBytes += raw.length;
    counts.set(opcode, (counts.get(opcode) ?? 0) + 1);
  });
  sock.on('data', (d: Buffer) => {
    lastData = Date.now();
    reader.push(d);
  });
  sock.on('error', (e) => {
    process.stderr.write(`socket: ${e.message}\n`);
    done = true;
  });
  sock.on('close', () => (done = true));
  sock.write(instr('select', values.protocol!));
  await isReady;
  const t0 = Date.now();
  if (values.type) {
    const settle = Number(values['type-after-ms']);
    while (!done && !(sawImg && Date.now() - lastDraw >= settle)) await sleep(50);
    for (const ch of values.type.replace(/\\n/g, '\n')) {
      const k = keysym(ch);
      sock.write(instr('key', k, 1) + instr('key', k, 0));
      await sleep(15);
    }
  }
  const quietMs = Number(values['quiet-ms']);
  let lastReport = Date.now();
  let reportedBytes = 0;
  while (!done && Date.now() - t0 < Number(values['max-ms']) && Date.now() - lastData < quietMs) {
    await sleep(100);
    if (values.verbose && Date.now() - lastReport >= 1000) {
      process.stderr.write(`${((Date.now() - t0) / 1000).toFixed(0)} s: +${keptBytes - reportedBytes} bytes, syncs ${counts.get('sync') ?? 0}\n`);
      lastReport = Date.now();
      reportedBytes = keptBytes;
    }
  }
  sock.end(instr('disconnect'));
  sock.destroy();
  const data = Buffer.concat(kept);
  mkdirSync(RECORDINGS_DIR, { recursive: true });
  const gz = gzipSync(data, { level: 9 });
  const file = join(RECORDINGS_DIR, `${values.name}.guac.gz`);
  writeFileSync(file, gz);
  const top = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => `${k}:${v}`).join(' ');
  process.stdout.write(`${file}: ${data.length} bytes (${gz.length} gzipped), ${[...counts.values()].reduce((a, b) => a + b, 0)} instructions in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${top}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
