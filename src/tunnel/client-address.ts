/**
 * Who a browser is, by address: the socket's peer, or, behind reverse
 * proxies the operator trusts, the address they say they forwarded for
 * (`X-Forwarded-For`). And the key per-address limits count under: an IPv6
 * client usually holds a whole /64, so its addresses share one key.
 */
import type { IncomingHttpHeaders } from 'node:http';
import net from 'node:net';

/** IPv4 as mapped into IPv6 by a dual-stack socket (`::ffff:1.2.3.4`). */
const MAPPED_V4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/** Plain form of an address: IPv4 for a mapped one, lower case, no zone. */
export function plainAddress(address: string): string {
  const a = address.toLowerCase().replace(/%.*$/, '');
  return MAPPED_V4.exec(a)?.[1] ?? a;
}

/**
 * The client's address as the gateway should see it.
 * @param peer the socket's remote address
 * @param headers the request's headers
 * @param trusted plain addresses of proxies whose `X-Forwarded-For` is believed
 * @returns walking `X-Forwarded-For` from the right while the hop is a
 *   trusted proxy: the first address no trusted proxy stands for; the peer
 *   when it is not trusted or says nothing usable
 */
export function clientAddress(peer: string | undefined, headers: IncomingHttpHeaders, trusted: ReadonlySet<string>): string | undefined {
  if (peer === undefined) return undefined;
  let hop = plainAddress(peer);
  if (trusted.size === 0 || !trusted.has(hop)) return hop;
  const raw = headers['x-forwarded-for'];
  const chain = (Array.isArray(raw) ? raw.join(',') : raw ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  while (trusted.has(hop) && chain.length > 0) {
    const next = chain.pop() as string;
    // Anything but an address (a port, junk a client put first) ends the walk at the last hop we trust.
    if (net.isIP(next) === 0) break;
    hop = plainAddress(next);
  }
  return hop;
}

/** The per-address limits' key: the IPv4 address, or an IPv6 address's /64. */
export function addressKey(address: string): string {
  const a = plainAddress(address);
  // An IPv4 address has no colon: only the others need net's IPv6 check (a large regex, per session).
  if (a.includes(':') && net.isIPv6(a)) return `${expandV6(a).slice(0, 4).join(':')}::/64`;
  return a;
}

/** The eight 16-bit groups of an IPv6 address (an embedded IPv4 tail counts as two). */
function expandV6(a: string): string[] {
  const groups = (part: string): string[] => {
    if (part === '') return [];
    const out: string[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [b0, b1, b2, b3] = g.split('.').map(Number) as [number, number, number, number];
        out.push(((b0 << 8) | b1).toString(16), ((b2 << 8) | b3).toString(16));
      } else {
        out.push(g);
      }
    }
    return out;
  };
  const gap = a.indexOf('::');
  const head = groups(gap < 0 ? a : a.slice(0, gap));
  const tail = gap < 0 ? [] : groups(a.slice(gap + 2));
  const zeros = Array.from({ length: 8 - head.length - tail.length }, () => '0');
  return [...head, ...zeros, ...tail].map((g) => g.replace(/^0+(?=.)/, ''));
}
