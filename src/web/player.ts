/**
 * The playback page, `/recording.html#token=TOKEN` (a signed link from
 * `recording link` or the admin API). The token stays in the fragment, so
 * it never reaches a log as part of the page's URL; the page sends it to
 * `/recording/info` (facts, integrity) and `/recording/file` (the file).
 *
 * Drawing is guacamole-common-js's `SessionRecording` fed by a
 * `StaticHTTPTunnel`. Its own play() runs at 1x only, so the page keeps its
 * own clock (speed 1x–8x, idle stretches skipped) and moves the recording
 * with seek(), which replays frames forward from where it is and jumps back
 * through its keyframes. The state is mirrored on `document.body.dataset`
 * (`state`, `position`, `duration`, `integrity`) for tests and host pages.
 */
import Guacamole from 'guacamole-common-js';
import { TypedText, type KeyMatch } from './recording-keys.js';

/** What `/recording/info` answers. */
interface Info {
  id: string;
  connectionName: string | null;
  user: string | null;
  startedAt: number;
  durationMs: number | null;
  firstFrame: number | null;
  keys: boolean;
  size: number;
  integrity: 'intact' | 'incomplete' | 'damaged' | 'missing' | 'recording';
  message: string;
}

const SPEEDS = [1, 2, 4, 8] as const;
/**
 * A stretch longer than this without drawing is idle: skipping jumps to just
 * before its end. guacd sends a bare `sync` every second even when nothing
 * changes, so idle is "no frame that draws", not "no frame".
 */
const IDLE_MS = 2000;
const IDLE_LEAD_MS = 300;
const TICK_MS = 50;
const STEP_MS = 5000;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const body = document.body;
const screen = $<HTMLDivElement>('screen');
const playButton = $<HTMLButtonElement>('play');
const seekBar = $<HTMLInputElement>('seek');
const timeText = $<HTMLSpanElement>('time');
const speedSelect = $<HTMLSelectElement>('speed');
const skipIdle = $<HTMLInputElement>('skip-idle');
const notice = $<HTMLDivElement>('notice');
const title = $<HTMLHeadingElement>('title');
const searchBox = $<HTMLInputElement>('key-search');
const searchPanel = $<HTMLDivElement>('keys');
const results = $<HTMLOListElement>('key-results');

const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? '';
const query = `?token=${encodeURIComponent(token)}`;

function setState(state: string): void {
  body.dataset.state = state;
}

function show(message: string, kind: 'error' | 'warning'): void {
  notice.textContent = message;
  notice.dataset.kind = kind;
  notice.hidden = false;
}

function clock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h > 0 ? 2 : 1, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

async function fetchInfo(): Promise<Info> {
  const res = await fetch(`recording/info${query}`, { cache: 'no-store' });
  const answer = await res.json() as Info | { error?: { code?: string; message?: string } };
  if (!res.ok || 'error' in answer) {
    const e = 'error' in answer ? answer.error : undefined;
    const err = new Error(e?.message ?? `The gateway answered ${res.status}.`);
    body.dataset.code = e?.code ?? String(res.status);
    throw err;
  }
  return answer as Info;
}

/** The player once the recording is loaded. */
class Player {
  private position = 0;
  private playing = false;
  private speed: number = 1;
  private last = 0;
  private seeking = false;
  private wanted: number | undefined;
  private timer: number | undefined;

  /** @param drawn times (ms from the start) of the frames that changed the screen */
  constructor(private readonly rec: Guacamole.SessionRecording, readonly duration: number, private readonly drawn: number[]) {
    body.dataset.duration = String(duration);
    seekBar.max = String(duration);
    seekBar.disabled = false;
    playButton.disabled = false;
    this.render();
  }

  toggle(): void {
    if (this.playing) this.pause();
    else this.play();
  }

  play(): void {
    if (this.playing) return;
    if (this.position >= this.duration) this.moveTo(0);
    this.playing = true;
    this.last = performance.now();
    this.timer = window.setInterval(() => this.tick(), TICK_MS);
    this.render();
  }

  pause(): void {
    this.playing = false;
    window.clearInterval(this.timer);
    this.render();
  }

  setSpeed(speed: number): void {
    this.speed = speed;
    speedSelect.value = String(speed);
  }

  faster(step: 1 | -1): void {
    const i = SPEEDS.indexOf(this.speed as (typeof SPEEDS)[number]);
    this.setSpeed(SPEEDS[Math.min(SPEEDS.length - 1, Math.max(0, i + step))]!);
  }

  /** Jumps to `ms` from the start (clamped). */
  moveTo(ms: number): void {
    this.position = Math.min(this.duration, Math.max(0, ms));
    this.last = performance.now();
    this.follow();
    this.render();
  }

  step(deltaMs: number): void {
    this.moveTo(this.position + deltaMs);
  }

  private tick(): void {
    const now = performance.now();
    this.position += (now - this.last) * this.speed;
    this.last = now;
    if (skipIdle.checked) {
      // Nothing drawn after here: the rest is an idle tail.
      const next = this.drawn.find((t) => t > this.position) ?? this.duration + IDLE_LEAD_MS;
      if (next - this.position > IDLE_MS) this.position = next - IDLE_LEAD_MS;
    }
    if (this.position >= this.duration) {
      this.position = this.duration;
      this.follow();
      this.pause();
      setState('ended');
      return;
    }
    this.follow();
    this.render();
  }

  /** Brings the display to the clock: one seek at a time, the newest target wins. */
  private follow(): void {
    if (this.seeking) {
      this.wanted = this.position;
      return;
    }
    this.seeking = true;
    const target = this.position;
    this.rec.seek(target, () => {
      this.seeking = false;
      body.dataset.shown = String(this.rec.getPosition());
      const again = this.wanted;
      this.wanted = undefined;
      if (again !== undefined && again !== target) {
        this.position = again;
        this.follow();
      }
    });
  }

  private render(): void {
    body.dataset.position = String(Math.round(this.position));
    setState(this.playing ? 'playing' : 'paused');
    playButton.textContent = this.playing ? 'Pause' : 'Play';
    playButton.setAttribute('aria-pressed', String(this.playing));
    seekBar.value = String(Math.round(this.position));
    timeText.textContent = `${clock(this.position)} / ${clock(this.duration)}`;
  }
}

function fit(display: Guacamole.Display): void {
  const w = display.getWidth();
  const h = display.getHeight();
  if (w <= 0 || h <= 0) return;
  display.scale(Math.min(screen.clientWidth / w, screen.clientHeight / h, 1));
}

function listMatches(player: Player, matches: KeyMatch[]): void {
  results.replaceChildren(...matches.map((m) => {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.at = String(m.at);
    b.textContent = `${clock(m.at)}  ${m.context}`;
    b.addEventListener('click', () => player.moveTo(m.at));
    li.append(b);
    return li;
  }));
  body.dataset.matches = String(matches.length);
}

function bind(player: Player, typed: TypedText | undefined): void {
  playButton.addEventListener('click', () => player.toggle());
  seekBar.addEventListener('input', () => player.moveTo(Number(seekBar.value)));
  speedSelect.addEventListener('change', () => player.setSpeed(Number(speedSelect.value)));
  if (typed) {
    searchPanel.hidden = false;
    searchBox.addEventListener('input', () => listMatches(player, typed.search(searchBox.value)));
  }
  document.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLInputElement && e.target.type !== 'range' && e.target.type !== 'checkbox') return;
    if (e.target instanceof HTMLSelectElement || e.ctrlKey || e.metaKey || e.altKey) return;
    const act: Record<string, () => void> = {
      ' ': () => player.toggle(), k: () => player.toggle(),
      ArrowLeft: () => player.step(-STEP_MS), ArrowRight: () => player.step(STEP_MS),
      j: () => player.step(-2 * STEP_MS), l: () => player.step(2 * STEP_MS),
      Home: () => player.moveTo(0), End: () => player.moveTo(player.duration),
      '+': () => player.faster(1), '=': () => player.faster(1), '-': () => player.faster(-1),
      i: () => { skipIdle.checked = !skipIdle.checked; },
      '/': () => { if (typed) searchBox.focus(); },
    };
    const f = act[e.key];
    if (!f) return;
    e.preventDefault();
    f();
  });
}

async function start(): Promise<void> {
  setState('loading');
  if (token === '') throw new Error('This link has no recording token.');
  const info = await fetchInfo();
  body.dataset.integrity = info.integrity;
  title.textContent = `${info.connectionName ?? 'Session'}${info.user ? ` · ${info.user}` : ''} · ${new Date(info.startedAt).toLocaleString()}`;
  if (info.integrity === 'missing' || info.integrity === 'recording') {
    show(info.message, 'error');
    setState('unplayable');
    return;
  }
  if (info.integrity !== 'intact') show(`${info.message} What is there can still be played.`, info.integrity === 'damaged' ? 'error' : 'warning');

  const tunnel = new Guacamole.StaticHTTPTunnel(`recording/file${query}`);
  const rec = new Guacamole.SessionRecording(tunnel);
  const display = rec.getDisplay();
  screen.append(display.getElement());
  display.onresize = () => fit(display);
  window.addEventListener('resize', () => fit(display));

  // The recording reads the tunnel; the page reads the same instructions for the frames that draw, and keys.
  const drawn: number[] = [];
  let drawing = false;
  let origin: number | undefined;
  const typed = info.keys ? new TypedText() : undefined;
  const inner = tunnel.oninstruction;
  tunnel.oninstruction = (opcode, args) => {
    if (opcode === 'sync') {
      const t = Number(args[0]);
      origin ??= t;
      if (drawing) drawn.push(t - origin);
      drawing = false;
    } else if (opcode === 'key') {
      if (typed) {
      // A key before the first frame (none is expected) counts as typed at 0.
        typed.add(args, origin ?? Number(args[2]));
      }
    } else if (opcode !== 'nop') {
      drawing = true;
    }
    inner?.(opcode, args);
  };
  rec.onprogress = (duration) => { timeText.textContent = `loading… ${clock(duration)}`; };
  rec.onerror = (message) => {
    show(`The recording could not be read: ${message}`, 'error');
    setState('error');
  };
  await new Promise<void>((resolve) => {
    rec.onload = resolve;
    rec.connect();
  });
  const player = new Player(rec, rec.getDuration(), drawn);
  bind(player, typed);
  player.moveTo(0);
  setState('ready');
}

start().catch((err: unknown) => {
  show(err instanceof Error ? err.message : String(err), 'error');
  setState('error');
});
