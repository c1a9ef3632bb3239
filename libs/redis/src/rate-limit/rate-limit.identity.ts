import { createHash } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * The client address of a request. Without trusted proxies it is the socket's peer, whatever the
 * headers say. With `hops` proxies, each appending the address it received from to
 * `X-Forwarded-For`, the client is the entry `hops` places from the right of [...XFF, peer]: the
 * entries left of it were written by the client and are never believed.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined, hops: number): string | undefined {
  if (hops <= 0 || forwardedFor === undefined) return peer;
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
  const chain = header
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (peer !== undefined) chain.push(peer);
  // Fewer entries than trusted proxies: the request did not come through them all; the leftmost
  // entry is then the best we have, and it was still written by a proxy we trust.
  const candidate = chain[Math.max(0, chain.length - 1 - hops)];
  return candidate !== undefined && isIP(stripPort(candidate)) !== 0 ? stripPort(candidate) : peer;
}

function stripPort(value: string): string {
  // "1.2.3.4:5678" and "[::1]:5678" as some proxies write them.
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(value);
  if (bracketed) return bracketed[1]!;
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(value);
  return v4 ? v4[1]! : value;
}

/**
 * The rate-limit subject of an address: IPv4 as is, IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as the
 * IPv4 it carries, other IPv6 masked to its `/prefix` (a host typically owns a whole /64 and could
 * otherwise rotate addresses to reset its budget). Returns undefined for something that is no IP.
 */
export function normalizeAddress(address: string | undefined, ipv6Prefix: number): string | undefined {
  if (!address) return undefined;
  let a = address.trim();
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  const kind = isIP(a);
  if (kind === 4) return a;
  if (kind !== 6) return undefined;
  const groups = expandIPv6(a);
  // ::ffff:a.b.c.d (and its hex form ::ffff:0102:0304) is an IPv4 client seen through a dual stack.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
  }
  const masked = groups.map((g, i) => {
    const bitsBefore = i * 16;
    if (bitsBefore >= ipv6Prefix) return 0;
    const keep = Math.min(16, ipv6Prefix - bitsBefore);
    return keep === 16 ? g : g & (0xffff << (16 - keep)) & 0xffff;
  });
  return `${masked.map((g) => g.toString(16)).join(':')}/${ipv6Prefix}`;
}

function expandIPv6(address: string): number[] {
  let text = address.toLowerCase();
  // A trailing dotted quad counts as two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [b1, b2, b3, b4] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((b1 << 8) | b2).toString(16)}:${((b3 << 8) | b4).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => '0');
  return [...left, ...fill, ...right].map((g) => parseInt(g, 16));
}

const SAFE = /^[A-Za-z0-9._:@/-]{1,128}$/;

/**
 * Makes an identifier safe to sit inside a key's hash tag: plain ids pass as they are; anything
 * with braces or other characters, or longer than 128, is replaced by a hash, so no user id can
 * end the tag, change the slot of another subject or collide with a plain id (hashes get `#`).
 */
export function encodeSubject(raw: string): string {
  if (SAFE.test(raw)) return raw;
  return `#${createHash('sha256').update(raw).digest('base64url').slice(0, 32)}`;
}
