/**
 * Address helpers. Inside the stack a MAC address is a 48-bit number and an
 * IPv4 address a 32-bit unsigned number: both are exact in a JS number and
 * make fast Map keys. Strings exist only at the edges, formatted the way
 * `ip` prints them.
 */

export type Mac = number;
export type IPv4Address = number;

export const MAC_BROADCAST: Mac = 0xffff_ffff_ffff;

/** Reads a 48-bit MAC at `off`. */
export function readMac(buf: Uint8Array, off: number): Mac {
  return (
    (buf[off]! * 0x10000 + ((buf[off + 1]! << 8) | buf[off + 2]!)) * 0x1000000 +
    ((buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!)
  );
}

/** Writes a 48-bit MAC at `off`. */
export function writeMac(buf: Uint8Array, off: number, mac: Mac): void {
  const hi = Math.floor(mac / 0x1000000);
  const lo = mac % 0x1000000;
  buf[off] = hi >>> 16;
  buf[off + 1] = (hi >>> 8) & 0xff;
  buf[off + 2] = hi & 0xff;
  buf[off + 3] = lo >>> 16;
  buf[off + 4] = (lo >>> 8) & 0xff;
  buf[off + 5] = lo & 0xff;
}

/** `02:42:ac:11:00:02` → number. Accepts `:` or `-` separators; throws on anything else. */
export function parseMac(text: string): Mac {
  const parts = text.trim().split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new Error(`invalid MAC address "${text}": expected six hex octets like 02:42:ac:11:00:02`);
  }
  let mac = 0;
  for (const p of parts) mac = mac * 256 + parseInt(p, 16);
  return mac;
}

/** number → `02:42:ac:11:00:02` (lower case, as `ip link` prints). */
export function formatMac(mac: Mac): string {
  let s = '';
  for (let i = 5; i >= 0; i--) {
    const octet = Math.floor(mac / 2 ** (8 * i)) % 256;
    s += (octet < 16 ? '0' : '') + octet.toString(16) + (i > 0 ? ':' : '');
  }
  return s;
}

export function isMulticastMac(mac: Mac): boolean {
  // The I/G bit is the least significant bit of the first octet.
  return Math.floor(mac / 0x10000000000) % 2 === 1;
}

export function isBroadcastMac(mac: Mac): boolean {
  return mac === MAC_BROADCAST;
}

/** Reads a big-endian uint32 (an IPv4 address) at `off`. */
export function readIPv4(buf: Uint8Array, off: number): IPv4Address {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

export function writeIPv4(buf: Uint8Array, off: number, addr: IPv4Address): void {
  buf[off] = addr >>> 24;
  buf[off + 1] = (addr >>> 16) & 0xff;
  buf[off + 2] = (addr >>> 8) & 0xff;
  buf[off + 3] = addr & 0xff;
}

/** `10.0.0.1` → uint32. Strict dotted quad, as `ip` accepts; throws naming the text. */
export function parseIPv4(text: string): IPv4Address {
  const parts = text.trim().split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new Error(`invalid IPv4 address "${text}": expected a dotted quad like 10.0.0.1`);
  }
  return parts.reduce((a, p) => a * 256 + Number(p), 0) >>> 0;
}

export function formatIPv4(addr: IPv4Address): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

export interface Cidr {
  /** The address as written (may have host bits set, like `10.0.0.1/24` on an interface). */
  readonly address: IPv4Address;
  readonly prefixLength: number;
}

/** The netmask for a prefix length: 24 → 0xffffff00. */
export function prefixMask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/** `10.0.0.1/24` → { address, prefixLength }. A bare address is a /32. Throws naming the fault. */
export function parseCidr(text: string): Cidr {
  const [addr, len, extra] = text.trim().split('/');
  if (extra !== undefined || addr === undefined) throw new Error(`invalid CIDR "${text}"`);
  let prefixLength = 32;
  if (len !== undefined) {
    if (!/^\d{1,2}$/.test(len) || Number(len) > 32) {
      throw new Error(`invalid CIDR "${text}": prefix length must be 0..32`);
    }
    prefixLength = Number(len);
  }
  return { address: parseIPv4(addr), prefixLength };
}

/** Formats like `ip addr`: `10.0.0.1/24`. */
export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.address)}/${c.prefixLength}`;
}

/** The network address of a CIDR: `10.0.0.1/24` → 10.0.0.0. */
export function networkOf(c: Cidr): IPv4Address {
  return (c.address & prefixMask(c.prefixLength)) >>> 0;
}

/** Formats a route destination like `ip route`: `10.0.0.0/24`, or `default` for /0. */
export function formatPrefix(c: Cidr): string {
  if (c.prefixLength === 0) return 'default';
  return `${formatIPv4(networkOf(c))}/${c.prefixLength}`;
}

export function cidrContains(c: Cidr, addr: IPv4Address): boolean {
  const mask = prefixMask(c.prefixLength);
  return ((c.address & mask) >>> 0) === ((addr & mask) >>> 0);
}

/** The directed broadcast address of a CIDR (10.0.0.255 for 10.0.0.0/24). */
export function broadcastOf(c: Cidr): IPv4Address {
  return (networkOf(c) | ~prefixMask(c.prefixLength)) >>> 0;
}
