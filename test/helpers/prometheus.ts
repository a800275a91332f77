/**
 * Reads Prometheus' text format as a test needs it: each sample by its name
 * and labels, so a test compares counters with what it did.
 */

/** Samples keyed `name{label="v",…}` with labels sorted (no braces without labels). */
export type Samples = Map<string, number>;

/** Parses the sample lines of a scrape. */
export function parseSamples(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels = [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}="${v}"`).sort();
    out.set(labels.length ? `${m[1]}{${labels.join(',')}}` : m[1]!, Number(m[3]));
  }
  return out;
}

/** One sample's value, 0 when absent (a counter never incremented has no line). */
export function sample(samples: Samples, name: string, labels: Record<string, string> = {}): number {
  const l = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort();
  return samples.get(l.length ? `${name}{${l.join(',')}}` : name) ?? 0;
}
