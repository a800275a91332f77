/**
 * The text typed in a recording, from its `key` instructions
 * (`key,<keysym>,<pressed>,<time>`, time on guacd's clock like the frames'
 * `sync`), for the player's key search: each character keeps the moment it
 * was typed. Only presses count; Return is a line break and BackSpace takes
 * the last character back, so what is searched is what the user meant.
 */

/** A character typed, at `at` ms from the recording's first frame. */
export interface TypedChar {
  ch: string;
  at: number;
}

/** A place where the searched text was typed. */
export interface KeyMatch {
  /** ms from the first frame: when its first character was typed. */
  at: number;
  /** The line it was typed on, for the list. */
  context: string;
}

const RETURN = 0xff0d;
const KP_ENTER = 0xff8d;
const BACKSPACE = 0xff08;
const TAB = 0xff09;

/** The character a keysym types, or undefined (modifiers, function keys). */
export function keysymChar(keysym: number): string | undefined {
  if (keysym >= 0x20 && keysym <= 0x7e) return String.fromCharCode(keysym);
  if (keysym >= 0xa0 && keysym <= 0xff) return String.fromCharCode(keysym);
  // Unicode keysyms: 0x01000000 + code point.
  if (keysym >= 0x01000100 && keysym <= 0x0110ffff) return String.fromCodePoint(keysym - 0x01000000);
  if (keysym === RETURN || keysym === KP_ENTER) return '\n';
  if (keysym === TAB) return '\t';
  return undefined;
}

/** Collects key presses as they are read. */
export class TypedText {
  readonly chars: TypedChar[] = [];

  /** One `key` instruction's arguments; `origin` is the first frame's time. */
  add(args: readonly string[], origin: number): void {
    const [keysym, pressed, time] = args;
    if (pressed !== '1' || keysym === undefined || time === undefined) return;
    const code = Number(keysym);
    const at = Number(time) - origin;
    if (!Number.isFinite(code) || !Number.isFinite(at)) return;
    if (code === BACKSPACE) {
      this.chars.pop();
      return;
    }
    const ch = keysymChar(code);
    if (ch !== undefined) this.chars.push({ ch, at: Math.max(0, at) });
  }

  /** Every place `query` was typed (case-insensitive), in order. */
  search(query: string): KeyMatch[] {
    // Compared character by character (an astral character is one), not as UTF-16 units.
    const q = Array.from(query.toLowerCase());
    const typed = this.chars.map((c) => c.ch.toLowerCase());
    const out: KeyMatch[] = [];
    if (q.length === 0) return out;
    for (let i = 0; i + q.length <= typed.length; i++) {
      if (!q.every((ch, j) => typed[i + j] === ch)) continue;
      let start = i;
      while (start > 0 && typed[start - 1] !== '\n') start--;
      let end = i + q.length;
      while (end < typed.length && typed[end] !== '\n') end++;
      const line = this.chars.slice(start, end).map((c) => c.ch).join('');
      out.push({ at: this.chars[i]!.at, context: line.length > 80 ? line.slice(0, 80) + '…' : line });
    }
    return out;
  }
}
