/**
 * Connection parameters: typed per protocol, validated before they reach
 * guacd, written the way guacd reads them.
 *
 * guacd reads every value as a string. Booleans are `true` when the value is
 * exactly `true`; empty means "use the default", and every boolean defaults
 * to false, so `false` is simply left out. Integers go through `strtol`; a
 * value guacd cannot parse is silently replaced by its default, which is why
 * we refuse it here instead.
 */
import type { GuacError } from '../protocol/errors.js';
import { GUACD } from './errors.js';
import { codePointLength } from '../protocol/encoder.js';
import { GUACD_LIMITS } from '../protocol/constants.js';
import { CATALOGUE, type GuacdRelease, type ParamDef, type ParamType } from './catalogue.js';

export { CATALOGUE, RDP_LAYOUTS, type GuacdRelease, type ParamDef, type ParamType } from './catalogue.js';

/** The protocols guacd has plugins for. */
export const PROTOCOLS = Object.freeze(['ssh', 'vnc', 'rdp', 'telnet', 'kubernetes'] as const);

/** One of {@link PROTOCOLS}. */
export type Protocol = (typeof PROTOCOLS)[number];

/** `private-key` → `privateKey`. */
export type CamelCase<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<CamelCase<T>>}` : S;

type ValueOf<D> = D extends { type: 'boolean' }
  ? boolean | 'true' | 'false'
  : D extends { type: 'integer' }
    ? number | `${number}`
    : D extends { type: 'enum'; values: readonly (infer V)[] }
      ? V
      : string;

/** The typed parameters of one catalogue list, by camelCase name. */
export type ParamsOf<L extends readonly ParamDef[]> = { [D in L[number] as CamelCase<D['name']>]?: ValueOf<D> };

/** SSH parameters (`hostname`, `port`, `username`, `password`, `privateKey`, `colorScheme`, …). */
export type SshParams = ParamsOf<typeof CATALOGUE.ssh>;
/** VNC parameters. */
export type VncParams = ParamsOf<typeof CATALOGUE.vnc>;
/** RDP parameters. */
export type RdpParams = ParamsOf<typeof CATALOGUE.rdp>;
/** Telnet parameters. */
export type TelnetParams = ParamsOf<typeof CATALOGUE.telnet>;
/** Kubernetes parameters. */
export type KubernetesParams = ParamsOf<typeof CATALOGUE.kubernetes>;
/** The parameters of protocol `P`. */
export type ParamsFor<P extends Protocol> = ParamsOf<(typeof CATALOGUE)[P]>;

/** Untyped input, e.g. from a query string: camelCase or guacd names; `null`/`undefined` are skipped. */
export type ParamInput = Readonly<Record<string, string | number | boolean | null | undefined>>;

/** A catalogue entry with its camelCase name. */
export interface ParamDescriptor extends ParamDef {
  /** camelCase name, e.g. `privateKey`. */
  readonly key: string;
}

/** Converts a guacd name to camelCase. */
export function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

type Index = ReadonlyMap<string, ParamDescriptor>;

function buildIndex(lists: readonly (readonly ParamDef[])[]): Index {
  const map = new Map<string, ParamDescriptor>();
  for (const list of lists) {
    for (const def of list) {
      if (map.has(def.name)) continue;
      const d: ParamDescriptor = Object.freeze({ ...def, key: camelCase(def.name) });
      map.set(def.name, d);
      map.set(d.key, d);
    }
  }
  return map;
}

const INDEX = new Map<Protocol, Index>(PROTOCOLS.map((p) => [p, buildIndex([CATALOGUE[p]])]));
/** Every name of every protocol: for joining, where guacd tells the protocol only in `args`. */
const ANY: Index = buildIndex(PROTOCOLS.map((p) => CATALOGUE[p]));

function indexFor(protocol: Protocol | '*'): Index {
  if (protocol === '*') return ANY;
  const index = INDEX.get(protocol);
  if (!index) {
    throw GUACD.GUAC_PROTOCOL_UNKNOWN({ message: `Unknown protocol "${String(protocol)}"; expected one of ${PROTOCOLS.join(', ')}.` });
  }
  return index;
}

/** True if `value` is one of {@link PROTOCOLS}. */
export function isProtocol(value: unknown): value is Protocol {
  return typeof value === 'string' && INDEX.has(value as Protocol);
}

/**
 * Looks a parameter up by camelCase or guacd name.
 * @throws GuacError `GUAC_PROTOCOL_UNKNOWN` for an unknown protocol
 */
export function getParam(protocol: Protocol, name: string): ParamDescriptor | undefined {
  return indexFor(protocol).get(name);
}

/** Every parameter of a protocol, in catalogue order. */
export function listParams(protocol: Protocol): ParamDescriptor[] {
  const index = indexFor(protocol);
  return CATALOGUE[protocol].map((d) => index.get(d.name) as ParamDescriptor);
}

const SECRET_LOOKING = /pass(word|phrase)?|secret|private|token|credential|(^|-)key$/i;

/**
 * Whether a parameter holds a secret (password, key, passphrase). Unknown
 * names are judged by their look, so a caller masking values errs safe.
 */
export function isSecretParam(protocol: Protocol, name: string): boolean {
  const d = INDEX.get(protocol)?.get(name);
  return d ? d.secret === true : SECRET_LOOKING.test(name);
}

const INTEGER = /^-?\d{1,10}$/;

function invalid(protocol: string, def: ParamDescriptor, why: string): GuacError {
  return GUACD.GUAC_PARAM_INVALID({ message: `Parameter "${def.name}" of ${protocol} ${why}.` });
}

/**
 * Writes one value as guacd expects it; `undefined` when it means "unset".
 * @throws GuacError `GUAC_PARAM_INVALID`
 */
function encodeValue(protocol: string, def: ParamDescriptor, value: string | number | boolean): string | undefined {
  switch (def.type) {
    case 'boolean':
      if (value === true || value === 'true') return 'true';
      if (value === false || value === 'false' || value === '') return undefined;
      throw invalid(protocol, def, 'must be true or false');
    case 'integer': {
      if (value === '') return undefined;
      const n = typeof value === 'number' ? value : typeof value === 'string' && INTEGER.test(value) ? Number(value) : NaN;
      const min = def.min ?? 0;
      const max = def.max ?? 2147483647;
      if (!Number.isSafeInteger(n) || n < min || n > max) throw invalid(protocol, def, `must be an integer from ${min} to ${max}`);
      return String(n);
    }
    case 'enum':
      if (value === '') return undefined;
      if (typeof value === 'string' && def.values?.includes(value)) return value;
      throw invalid(protocol, def, `must be one of ${def.values?.join(', ')}`);
    case 'string': {
      // Values often come from JSON: an object or array would otherwise reach guacd as "[object Object]" or "a,b".
      if ((typeof value !== 'string' && typeof value !== 'number') || (typeof value === 'number' && !Number.isFinite(value))) {
        throw invalid(protocol, def, 'must be a string');
      }
      const s = String(value);
      if (s === '') return undefined;
      if (s.includes('\0')) throw invalid(protocol, def, 'must not contain NUL characters');
      if (codePointLength(s) > GUACD_LIMITS.maxElementLength) {
        throw invalid(protocol, def, `is longer than guacd accepts (${GUACD_LIMITS.maxElementLength} characters)`);
      }
      return s;
    }
  }
}

/**
 * Validates parameters and writes them as guacd reads them.
 *
 * Accepts camelCase (`privateKey`) or guacd (`private-key`) names. Booleans
 * become `'true'`; `false`, `''`, `null` and `undefined` mean "unset" and are
 * left out of the result (guacd reads absent and empty alike).
 *
 * @param protocol the protocol whose catalogue applies
 * @param input the parameters
 * @returns guacd name → value, only for parameters that are set
 * @throws GuacError `GUAC_PARAM_UNKNOWN` (no such parameter),
 *   `GUAC_PARAM_INVALID` (bad value), `GUAC_PARAM_DUPLICATE` (two spellings of
 *   one name with different values), `GUAC_PROTOCOL_UNKNOWN`; all with status
 *   `CLIENT_BAD_REQUEST` and a message naming the parameter, never its value
 */
export function normalizeParams<P extends Protocol>(protocol: P, input: ParamsFor<P> | ParamInput): Map<string, string> {
  return normalizeWith(protocol, input as ParamInput);
}

/**
 * @internal {@link normalizeParams}, or with `'*'` against every protocol's
 * names (joining a connection, whose protocol only guacd knows).
 */
export function normalizeWith(protocol: Protocol | '*', input: ParamInput): Map<string, string> {
  const index = indexFor(protocol);
  const label = protocol === '*' ? 'the connection' : protocol;
  const out = new Map<string, string>();
  const seen = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(input)) {
    const def = index.get(name);
    if (!def) {
      throw GUACD.GUAC_PARAM_UNKNOWN({ message: `Unknown parameter "${name}" for ${label}.` });
    }
    if (value === undefined || value === null) continue;
    const encoded = encodeValue(label, def, value);
    if (seen.has(def.name) && seen.get(def.name) !== encoded) {
      throw GUACD.GUAC_PARAM_DUPLICATE({ message: `Parameter "${def.name}" is given twice (as "${def.name}" and "${def.key}") with different values.` });
    }
    seen.set(def.name, encoded);
    if (encoded !== undefined) out.set(def.name, encoded);
  }
  return out;
}

/** @internal The release a parameter appeared in, for warnings. */
export function describeParam(protocol: Protocol | '*', name: string): { since?: GuacdRelease; build?: string; type?: ParamType } {
  const d = indexFor(protocol).get(name);
  return d ? { since: d.since, build: d.build, type: d.type } : {};
}
