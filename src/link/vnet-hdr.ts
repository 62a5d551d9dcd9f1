/**
 * virtio_net_hdr: the offload metadata a TAP opened with IFF_VNET_HDR puts in
 * front of every frame (linux/virtio_net.h; 10 bytes, little-endian on x86,
 * where a TAP without TUNSETVNETBE uses host order):
 *
 *   0      1         2        4         6          8           10
 *   | flags| gso_type| hdr_len| gso_size| csum_start| csum_offset|
 *
 * Allocation-free accessors for the hot path, and a representation for code
 * that reasons about the header. Hand-written: a 10-byte struct.
 */
import { VNET_HDR_LEN } from './port.js';

export { VNET_HDR_LEN };

/** flags: the L4 checksum at csum_start + csum_offset holds only the pseudo-header sum. */
export const VNET_HDR_F_NEEDS_CSUM = 1;
/** flags: the checksum was already verified (receive side); nothing to do. */
export const VNET_HDR_F_DATA_VALID = 2;

export const VNET_HDR_GSO_NONE = 0;
export const VNET_HDR_GSO_TCPV4 = 1;
/** Legacy UFO: one UDP datagram to be sent as IP fragments. */
export const VNET_HDR_GSO_UDP = 3;
export const VNET_HDR_GSO_TCPV6 = 4;
/** USO: a train of UDP datagrams of gso_size payload bytes each. */
export const VNET_HDR_GSO_UDP_L4 = 5;
/** Bit or'ed into gso_type: the template carries CWR (RFC 3168) — first segment only. */
export const VNET_HDR_GSO_ECN = 0x80;

export const VNET_HDR_FIELD = {
  FLAGS: 0,
  GSO_TYPE: 1,
  HDR_LEN: 2,
  GSO_SIZE: 4,
  CSUM_START: 6,
  CSUM_OFFSET: 8,
} as const;

export interface VnetHdr {
  flags: number;
  /** VNET_HDR_GSO_*, possibly with VNET_HDR_GSO_ECN. */
  gsoType: number;
  hdrLen: number;
  /** Payload bytes per segment (the MSS for TCP). */
  gsoSize: number;
  /** Offset of the checksummed region from the start of the frame (Ethernet header). */
  csumStart: number;
  /** Offset of the checksum field from csumStart. */
  csumOffset: number;
}

// ---------------------------------------------------------------------------
// Header accessors. Bytes past the end of `buf` read as 0 (never a throw).

function le16(buf: Uint8Array, off: number): number {
  return (buf[off]! | (buf[off + 1]! << 8)) & 0xffff;
}
function putLe16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
}
export function vnetFlags(buf: Uint8Array, off: number): number {
  return (buf[off + VNET_HDR_FIELD.FLAGS] ?? 0) & 0xff;
}
export function vnetGsoType(buf: Uint8Array, off: number): number {
  return (buf[off + VNET_HDR_FIELD.GSO_TYPE] ?? 0) & 0xff;
}
export function vnetGsoSize(buf: Uint8Array, off: number): number {
  return le16(buf, off + VNET_HDR_FIELD.GSO_SIZE);
}
export function vnetCsumStart(buf: Uint8Array, off: number): number {
  return le16(buf, off + VNET_HDR_FIELD.CSUM_START);
}
export function vnetCsumOffset(buf: Uint8Array, off: number): number {
  return le16(buf, off + VNET_HDR_FIELD.CSUM_OFFSET);
}

/** Reads the 10-byte header at `off` (allocates the object; hot paths use the accessors). */
export function parseVnetHdr(buf: Uint8Array, off: number): VnetHdr {
  return {
    flags: vnetFlags(buf, off),
    gsoType: vnetGsoType(buf, off),
    hdrLen: le16(buf, off + VNET_HDR_FIELD.HDR_LEN),
    gsoSize: vnetGsoSize(buf, off),
    csumStart: vnetCsumStart(buf, off),
    csumOffset: vnetCsumOffset(buf, off),
  };
}

/** Writes `h` at `off` (VNET_HDR_LEN bytes, little-endian). */
export function writeVnetHdr(h: VnetHdr, buf: Uint8Array, off: number): void {
  buf[off + VNET_HDR_FIELD.FLAGS] = h.flags & 0xff;
  buf[off + VNET_HDR_FIELD.GSO_TYPE] = h.gsoType & 0xff;
  putLe16(buf, off + VNET_HDR_FIELD.HDR_LEN, h.hdrLen);
  putLe16(buf, off + VNET_HDR_FIELD.GSO_SIZE, h.gsoSize);
  putLe16(buf, off + VNET_HDR_FIELD.CSUM_START, h.csumStart);
  putLe16(buf, off + VNET_HDR_FIELD.CSUM_OFFSET, h.csumOffset);
}
