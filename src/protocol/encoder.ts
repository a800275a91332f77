/**
 * Encoding of Guacamole instructions: `LENGTH.VALUE` elements joined by `,`,
 * ended by `;`, LENGTH being the value's count of Unicode code points.
 *
 * Lone surrogates (a JS string can hold them, UTF-8 cannot) count as one code
 * point each: every UTF-8 encoder in Node (`Buffer.from`, `socket.write`,
 * `ws.send`) replaces each with U+FFFD, one code point, so the length stays
 * right for the bytes that actually go out.
 *
 * The encoder does not apply {@link GUACD_LIMITS}: callers sending large
 * values to guacd chunk them (see `BLOB_MAX_BYTES`).
 */

// A string without high surrogates has as many code points as UTF-16 units;
// the regexp runs natively, far faster than a JS loop on long base64 values.
const HIGH_SURROGATE = /[\uD800-\uDBFF]/;

/**
 * Counts the code points of `value` as they go on the wire: a surrogate pair
 * is one, a lone surrogate is one (it is sent as U+FFFD).
 * @param value any string
 * @returns its length in code points
 */
export function codePointLength(value: string): number {
  const n = value.length;
  if (!HIGH_SURROGATE.test(value)) return n;
  let pairs = 0;
  for (let i = 0; i < n - 1; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = value.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        pairs++;
        i++;
      }
    }
  }
  return n - pairs;
}

/**
 * Encodes one element, `LENGTH.VALUE`.
 * @param value the element's value
 * @returns the element, e.g. `encodeElement('😀')` → `1.😀`
 */
export function encodeElement(value: string): string {
  return `${codePointLength(value)}.${value}`;
}

/**
 * Encodes a whole instruction.
 * @param opcode the opcode; `''` for internal (tunnel) instructions
 * @param args the arguments; numbers are written with `String(n)`
 * @returns the instruction, e.g. `encode('size', 1024, 768)` → `4.size,4.1024,3.768;`
 */
export function encode(opcode: string, ...args: (string | number)[]): string {
  let out = encodeElement(opcode);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (typeof arg === 'number') {
      // Number strings are ASCII: their length is their code point count.
      const s = String(arg);
      out += `,${s.length}.${s}`;
    } else {
      out += `,${codePointLength(arg)}.${arg}`;
    }
  }
  return out + ';';
}
