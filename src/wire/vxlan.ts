/**
 * The VXLAN header (RFC 7348 §5): 8 bytes in front of an Ethernet frame in
 * a UDP datagram to port 4789.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |R|R|R|R|I|R|R|R|            Reserved                           |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                VXLAN Network Identifier (VNI) |   Reserved    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The I flag says the VNI is valid; the reserved bits are sent as zero and
 * ignored on receipt. Pure: read and write at an offset, no allocation.
 */

export const VXLAN_HEADER_LENGTH = 8;
/** IANA's port for VXLAN (Linux's `dstport 4789`; its own default is 8472). */
export const VXLAN_PORT = 4789;
/** The I flag in the first byte. */
export const VXLAN_FLAG_I = 0x08;
export const VXLAN_VNI_MAX = 0xffffff;
/**
 * What encapsulation adds in front of the inner frame's payload on an IPv4
 * underlay: outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8. The inner
 * Ethernet header rides inside the outer IP packet, so an overlay MTU of
 * underlay MTU − 50 makes full-size inner frames fit (Linux sets 1450).
 */
export const VXLAN_OVERHEAD = 50;

/** Writes the header for `vni` at `off`: I flag set, reserved bits zero. */
export function writeVxlanHeader(buf: Uint8Array, off: number, vni: number): void {
  buf[off] = VXLAN_FLAG_I;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + 4] = (vni >>> 16) & 0xff;
  buf[off + 5] = (vni >>> 8) & 0xff;
  buf[off + 6] = vni & 0xff;
  buf[off + 7] = 0;
}

/** The first byte's flags. */
export function vxlanFlags(buf: Uint8Array, off: number): number {
  return buf[off]!;
}

/** The 24-bit VNI. */
export function vxlanVni(buf: Uint8Array, off: number): number {
  return (buf[off + 4]! << 16) | (buf[off + 5]! << 8) | buf[off + 6]!;
}
