/**
 * 802.1Q VLANs on a bridge port: the port's configuration (access or trunk),
 * the classification of every received frame into a VLAN (or a drop reason),
 * and the egress rewrites — push, pop, or re-number a tag — built into the
 * bridge's scratch slab.
 *
 * Hand-written: VLAN filtering is a few byte reads per frame, and it has to
 * run on the borrowed receive slab with no allocation; a packet library would
 * decode the frame into objects first.
 *
 * Rules (the Linux bridge with vlan_filtering, made strict where Linux would
 * let a frame reach another VLAN):
 *
 * - access port, PVID p: untagged and priority-tagged (VID 0) frames join p;
 *   every other tagged frame (0x8100 with a VID, 0x88a8, 0x9100) is dropped
 *   as 'taggedOnAccess'. Egress in p is untagged.
 * - trunk port, allowed list A, optional native n: 0x8100 frames with a VID
 *   in A (or = n) join that VID, others are 'vlanNotAllowed'; untagged and
 *   priority-tagged frames join n, or are 'untaggedOnTrunk' without one.
 *   An outer 0x88a8/0x9100 tag is 'unsupportedTpid' (Linux would put the frame
 *   in the native VLAN with its S-tag still on). Egress is tagged for A and
 *   untagged for n. n is a member even if A does not list it.
 * - A priority tag with another tag behind it is not "untagged": 'taggedOnAccess'
 *   on access ports, 'stackedTag' on trunks. A tagged frame whose inner
 *   EtherType is a VLAN TPID may cross trunks unchanged but never leaves
 *   untagged ('innerTagExposed'), so nothing leaves a port looking as if it
 *   belonged to a VLAN it was not classified into.
 */
import { ETHERTYPE, TPID_9100, isVlanTpid } from '../wire/ethernet.js';
import { VNET_HDR_F_NEEDS_CSUM, VNET_HDR_FIELD, vnetCsumStart, vnetFlags } from '../link/gso.js';
import { VNET_HDR_LEN } from '../link/port.js';
import { BRIDGE_DROP_REASONS, type BridgeDropReason } from './counters.js';
import { copyBytes, type ScratchSlab } from './scratch.js';

export type PortVlanConfig = { mode: 'access'; pvid: number } | { mode: 'trunk'; allowed: number[]; native?: number };

export const DEFAULT_VLAN_CONFIG: PortVlanConfig = { mode: 'access', pvid: 1 };

/** Bits of a successful `PortVlan.classify` result; the low 12 bits are the VID. */
export const CLASS = {
  VID_MASK: 0x0fff,
  /** The received bytes carry a 0x8100 tag (4 bytes at offset 12). */
  TAGGED: 0x1000,
  /** That tag is a priority tag (VID 0 on the wire). */
  PRIORITY: 0x2000,
  /** The EtherType behind the tag is another VLAN TPID. */
  INNER_TAG: 0x4000,
} as const;

/** Values of `PortVlan.egress[vid]`. */
export const EGRESS = { NONE: 0, UNTAGGED: 1, TAGGED: 2 } as const;

const VID_COUNT = 4096;

/** A negative classify result → its drop reason. */
export function classDropReason(result: number): BridgeDropReason {
  return BRIDGE_DROP_REASONS[-result - 1]!;
}

function dropCode(reason: BridgeDropReason): number {
  return -(BRIDGE_DROP_REASONS.indexOf(reason) + 1);
}
const RUNT = dropCode('runt');
const TAGGED_ON_ACCESS = dropCode('taggedOnAccess');
const UNTAGGED_ON_TRUNK = dropCode('untaggedOnTrunk');
const VLAN_NOT_ALLOWED = dropCode('vlanNotAllowed');
const UNSUPPORTED_TPID = dropCode('unsupportedTpid');
const STACKED_TAG = dropCode('stackedTag');

function checkVid(what: string, vid: number): void {
  if (!Number.isInteger(vid) || vid < 1 || vid > 4094) throw new RangeError(`${what} ${vid} is not a VLAN id (1..4094)`);
}

/** Throws a RangeError naming the bad value; returns a normalised copy (sorted, deduplicated allowed list). */
export function validateVlanConfig(cfg: PortVlanConfig): PortVlanConfig {
  if (cfg.mode === 'access') {
    checkVid('pvid', cfg.pvid);
    return { mode: 'access', pvid: cfg.pvid };
  }
  if (cfg.mode !== 'trunk') throw new RangeError(`VLAN mode ${String((cfg as { mode: unknown }).mode)}: expected 'access' or 'trunk'`);
  for (const v of cfg.allowed) checkVid('allowed VLAN', v);
  const allowed = [...new Set(cfg.allowed)].sort((a, b) => a - b);
  if (cfg.native === undefined) return { mode: 'trunk', allowed };
  checkVid('native VLAN', cfg.native);
  return { mode: 'trunk', allowed, native: cfg.native };
}

/** A port's VLAN membership, compiled for per-frame lookups. */
export class PortVlan {
  readonly config: PortVlanConfig;
  readonly access: boolean;
  /** The VLAN untagged and priority-tagged frames join: PVID or native, -1 for none. */
  readonly untaggedVid: number;
  /** EGRESS.* per VID. */
  readonly egress = new Uint8Array(VID_COUNT);
  /** Member VIDs, ascending. */
  readonly vids: readonly number[];

  constructor(config: PortVlanConfig) {
    this.config = validateVlanConfig(config);
    const c = this.config;
    if (c.mode === 'access') {
      this.access = true;
      this.untaggedVid = c.pvid;
      this.egress[c.pvid] = EGRESS.UNTAGGED;
    } else {
      this.access = false;
      for (const v of c.allowed) this.egress[v] = EGRESS.TAGGED;
      this.untaggedVid = c.native ?? -1;
      if (c.native !== undefined) this.egress[c.native] = EGRESS.UNTAGGED;
    }
    const vids: number[] = [];
    for (let v = 1; v < VID_COUNT; v++) if (this.egress[v] !== EGRESS.NONE) vids.push(v);
    this.vids = vids;
  }

  /**
   * The VLAN of the frame at `buf[off, off+len)` received on this port, with
   * CLASS bits, or a negative drop code (see `classDropReason`). Expects
   * `len >= 14`. Allocates nothing.
   */
  classify(buf: Uint8Array, off: number, len: number): number {
    const outer = (buf[off + 12]! << 8) | buf[off + 13]!;
    if (outer === ETHERTYPE.VLAN) {
      if (len < 18) return RUNT;
      const vid = ((buf[off + 14]! << 8) | buf[off + 15]!) & 0x0fff;
      const inner = isVlanTpid((buf[off + 16]! << 8) | buf[off + 17]!) ? CLASS.INNER_TAG : 0;
      if (vid === 0) {
        if (inner !== 0) return this.access ? TAGGED_ON_ACCESS : STACKED_TAG;
        const u = this.untaggedVid;
        return u < 0 ? UNTAGGED_ON_TRUNK : u | CLASS.TAGGED | CLASS.PRIORITY;
      }
      if (this.access) return TAGGED_ON_ACCESS;
      if (this.egress[vid] === EGRESS.NONE) return VLAN_NOT_ALLOWED;
      return vid | CLASS.TAGGED | inner;
    }
    if (outer === ETHERTYPE.QINQ || outer === TPID_9100) return this.access ? TAGGED_ON_ACCESS : UNSUPPORTED_TPID;
    const u = this.untaggedVid;
    return u < 0 ? UNTAGGED_ON_TRUNK : u;
  }
}

// ---------------------------------------------------------------------------
// Egress rewrites. Each writes the new frame into `slab` (with the 10-byte
// virtio_net_hdr in front when `vnetOff >= 0`) and returns the frame's offset
// in `slab.buf`; the header, if any, is at the offset minus VNET_HDR_LEN.

/** Copies the virtio_net_hdr to `dst`, moving csum_start by `delta` when it is in use. */
function copyVnetHdr(src: Uint8Array, vnetOff: number, dst: Uint8Array, at: number, delta: number): void {
  for (let k = 0; k < VNET_HDR_LEN; k++) dst[at + k] = src[vnetOff + k]!;
  if ((vnetFlags(src, vnetOff) & VNET_HDR_F_NEEDS_CSUM) !== 0) {
    const start = vnetCsumStart(src, vnetOff) + delta;
    dst[at + VNET_HDR_FIELD.CSUM_START] = start & 0xff;
    dst[at + VNET_HDR_FIELD.CSUM_START + 1] = (start >>> 8) & 0xff;
  }
  // hdr_len counts from the start of the frame too (not trusted, but kept consistent).
  const hdrLen = src[vnetOff + VNET_HDR_FIELD.HDR_LEN]! | (src[vnetOff + VNET_HDR_FIELD.HDR_LEN + 1]! << 8);
  if (hdrLen !== 0) {
    const h = hdrLen + delta;
    dst[at + VNET_HDR_FIELD.HDR_LEN] = h & 0xff;
    dst[at + VNET_HDR_FIELD.HDR_LEN + 1] = (h >>> 8) & 0xff;
  }
}

function reserve(slab: ScratchSlab, frameLen: number, vnetOff: number): number {
  return vnetOff >= 0 ? slab.alloc(VNET_HDR_LEN + frameLen) + VNET_HDR_LEN : slab.alloc(frameLen);
}

/** Untagged → tagged: inserts `0x8100, PCP 0, vid` after the MACs. */
export function pushTag(slab: ScratchSlab, src: Uint8Array, off: number, len: number, vnetOff: number, vid: number): number {
  const at = reserve(slab, len + 4, vnetOff);
  const dst = slab.buf;
  if (vnetOff >= 0) copyVnetHdr(src, vnetOff, dst, at - VNET_HDR_LEN, 4);
  copyBytes(src, off, dst, slab.view, at, 12);
  dst[at + 12] = ETHERTYPE.VLAN >>> 8;
  dst[at + 13] = ETHERTYPE.VLAN & 0xff;
  dst[at + 14] = vid >>> 8;
  dst[at + 15] = vid & 0xff;
  copyBytes(src, off + 12, dst, slab.view, at + 16, len - 12);
  return at;
}

/** Tagged → untagged: removes the 4 bytes at offset 12. Expects `len >= 18`. */
export function popTag(slab: ScratchSlab, src: Uint8Array, off: number, len: number, vnetOff: number): number {
  const at = reserve(slab, len - 4, vnetOff);
  const dst = slab.buf;
  if (vnetOff >= 0) copyVnetHdr(src, vnetOff, dst, at - VNET_HDR_LEN, -4);
  copyBytes(src, off, dst, slab.view, at, 12);
  copyBytes(src, off + 16, dst, slab.view, at + 12, len - 16);
  return at;
}

/** Tagged → tagged with another VID (a priority tag gaining its VLAN); PCP and DEI kept. */
export function retag(slab: ScratchSlab, src: Uint8Array, off: number, len: number, vnetOff: number, vid: number): number {
  const at = reserve(slab, len, vnetOff);
  const dst = slab.buf;
  if (vnetOff >= 0) copyVnetHdr(src, vnetOff, dst, at - VNET_HDR_LEN, 0);
  copyBytes(src, off, dst, slab.view, at, len);
  dst[at + 14] = (src[off + 14]! & 0xf0) | (vid >>> 8);
  dst[at + 15] = vid & 0xff;
  return at;
}
