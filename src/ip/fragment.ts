/**
 * IPv4 fragmentation (RFC 791 §2.3, §3.2; RFC 1812 §5.2.6 for routers) and,
 * re-exported from reassembly.ts, reassembly.
 *
 * Hand-written: fragmentation works on wirelab's borrowed byte views and
 * writes headers by patching bytes at offsets; no JavaScript library splits
 * IPv4 datagrams.
 *
 * fragmentIPv4 splits one datagram into pieces that fit `mtu`:
 * - every fragment but the last carries a multiple of 8 payload bytes and has
 *   MF set; the last keeps the original's MF, and offsets are relative to the
 *   original's own offset, so re-fragmenting a fragment (a router with a
 *   smaller next-hop MTU) yields fragments of the same datagram;
 * - the first fragment keeps every option; later fragments carry only the
 *   options whose copied flag (0x80 in the type octet) is set, padded with
 *   zeros (EOL) to a multiple of 4;
 * - identification, TOS, TTL, protocol, addresses and the reserved flag are
 *   kept; total length and header checksum are recomputed.
 *
 * Allocation: the fragments must outlive the call (they are queued for ARP,
 * for a port's egress, ...), so they cannot be views into a scratch buffer.
 * One buffer is allocated per call, holding all the fragments back to back
 * (each starts 4-byte aligned, so checksum fast paths stay aligned), and `out`
 * receives a view of it per fragment. A datagram that already fits is passed
 * to `out` as is, no copy (a view of the caller's bytes, trailing padding cut).
 */
import {
  IPV4_FIELD,
  IPV4_FLAG,
  IPV4_MIN_HEADER_LENGTH,
  computeIPv4Checksum,
  ipv4HeaderLength,
  ipv4TotalLength,
} from '../wire/ipv4.js';

export {
  Reassembler,
  REASSEMBLY_MAX_BYTES,
  REASSEMBLY_PIECE_OVERHEAD,
  REASSEMBLY_TIMEOUT_MS,
  type ReassemblerOptions,
  type ReassemblyStats,
} from './reassembly.js';

/**
 * - 'ok': `out` got the datagram (it fit) or all of its fragments, in order.
 * - 'df': DF is set and the datagram is larger than `mtu`; nothing was sent
 *   (the caller sends ICMP destination unreachable, fragmentation needed,
 *   with `mtu` as the next-hop MTU).
 * - 'too-small': `mtu` cannot hold the header plus 8 payload bytes.
 * - 'malformed': the bytes are not a valid IPv4 datagram (bad version, IHL,
 *   total length or options), or its fragments would need an offset past the
 *   13-bit field. Beyond the contract's three values; callers built or
 *   validated the datagram, so it only guards against misuse.
 */
export type FragmentResult = 'ok' | 'df' | 'too-small' | 'malformed';

/** The option type octet's copied flag: the option goes into every fragment. */
export const IPV4_OPTION_COPIED = 0x80;

const MAX_FRAGMENT_OFFSET = IPV4_FLAG.OFFSET_MASK << 3;

/**
 * Splits `packet` (a whole IPv4 datagram, or a fragment of one) into
 * fragments no longer than `mtu` and hands each to `out`, first to last.
 */
export function fragmentIPv4(packet: Uint8Array, mtu: number, out: (frag: Uint8Array) => void): FragmentResult {
  if (packet.length < IPV4_MIN_HEADER_LENGTH || packet[0]! >>> 4 !== 4) return 'malformed';
  const hl = ipv4HeaderLength(packet);
  const total = ipv4TotalLength(packet);
  if (hl < IPV4_MIN_HEADER_LENGTH || total < hl || total > packet.length) return 'malformed';
  if (total <= mtu) {
    out(total === packet.length ? packet : packet.subarray(0, total));
    return 'ok';
  }
  const flags = (packet[IPV4_FIELD.FLAGS_FRAGMENT]! << 8) | packet[IPV4_FIELD.FLAGS_FRAGMENT + 1]!;
  if ((flags & IPV4_FLAG.DF) !== 0) return 'df';
  if (!(mtu - hl >= 8)) return 'too-small';

  const laterOptions = copiedOptionsLength(packet, hl);
  if (laterOptions < 0) return 'malformed';
  const hl2 = IPV4_MIN_HEADER_LENGTH + laterOptions;
  const firstData = (mtu - hl) & ~7;
  const laterData = (mtu - hl2) & ~7;
  const payloadLength = total - hl;
  const rest = payloadLength - firstData; // > 0: the datagram did not fit
  const laterCount = Math.ceil(rest / laterData);
  const baseOffset = (flags & IPV4_FLAG.OFFSET_MASK) << 3;
  if (baseOffset + firstData + (laterCount - 1) * laterData > MAX_FRAGMENT_OFFSET) return 'malformed';

  const buf = new Uint8Array(hl + firstData + laterCount * hl2 + rest);
  const keptFlags = flags & IPV4_FLAG.RESERVED;
  const lastMore = flags & IPV4_FLAG.MF;

  // First fragment: the whole header, MF set.
  buf.set(packet.subarray(0, hl + firstData), 0);
  finishHeader(buf, 0, hl, firstData, keptFlags | IPV4_FLAG.MF | (baseOffset >>> 3));

  // Later fragments: the fixed header and the copied options, written once
  // into the second fragment and copied from there into the rest (every
  // field that differs is rewritten by finishHeader).
  const template = hl + firstData;
  buf.set(packet.subarray(0, IPV4_MIN_HEADER_LENGTH), template);
  writeCopiedOptions(packet, hl, buf, template + IPV4_MIN_HEADER_LENGTH);
  let at = template;
  for (let i = 0, from = hl + firstData; i < laterCount; i++) {
    const last = i === laterCount - 1;
    const data = last ? total - from : laterData;
    if (i > 0) buf.copyWithin(at, template, template + hl2);
    buf.set(packet.subarray(from, from + data), at + hl2);
    const offset = baseOffset + (from - hl);
    finishHeader(buf, at, hl2, data, keptFlags | (last ? lastMore : IPV4_FLAG.MF) | (offset >>> 3));
    at += hl2 + data;
    from += data;
  }

  // Emit once everything is written, so `out` may touch its fragment's bytes.
  out(buf.subarray(0, hl + firstData));
  at = template;
  for (let i = 0; i < laterCount; i++) {
    const length = i === laterCount - 1 ? buf.length - at : hl2 + laterData;
    out(buf.subarray(at, at + length));
    at += length;
  }
  return 'ok';
}

/** Sets IHL, total length, flags/offset and the checksum of the header at `at`. */
function finishHeader(buf: Uint8Array, at: number, hl: number, data: number, flagsWord: number): void {
  const totalLength = hl + data;
  buf[at] = 0x40 | (hl >>> 2);
  buf[at + IPV4_FIELD.TOTAL_LENGTH] = totalLength >>> 8;
  buf[at + IPV4_FIELD.TOTAL_LENGTH + 1] = totalLength & 0xff;
  buf[at + IPV4_FIELD.FLAGS_FRAGMENT] = flagsWord >>> 8;
  buf[at + IPV4_FIELD.FLAGS_FRAGMENT + 1] = flagsWord & 0xff;
  const cs = computeIPv4Checksum(buf, at, hl);
  buf[at + IPV4_FIELD.CHECKSUM] = cs >>> 8;
  buf[at + IPV4_FIELD.CHECKSUM + 1] = cs & 0xff;
}

/**
 * Length, padded to a multiple of 4, of the options with the copied flag set
 * in the header of `packet`; -1 when the options do not parse. EOL ends the
 * list; NOP (copied flag clear) is not copied.
 */
function copiedOptionsLength(packet: Uint8Array, hl: number): number {
  let copied = 0;
  let i = IPV4_MIN_HEADER_LENGTH;
  while (i < hl) {
    const kind = packet[i]!;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= hl) return -1;
    const len = packet[i + 1]!;
    if (len < 2 || i + len > hl) return -1;
    if ((kind & IPV4_OPTION_COPIED) !== 0) copied += len;
    i += len;
  }
  return (copied + 3) & ~3;
}

/** Writes the copied options (already validated) at `at`, then zero padding (the buffer is fresh, so zeros are there). */
function writeCopiedOptions(packet: Uint8Array, hl: number, buf: Uint8Array, at: number): void {
  let i = IPV4_MIN_HEADER_LENGTH;
  while (i < hl) {
    const kind = packet[i]!;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = packet[i + 1]!;
    if ((kind & IPV4_OPTION_COPIED) !== 0) {
      buf.set(packet.subarray(i, i + len), at);
      at += len;
    }
    i += len;
  }
}
