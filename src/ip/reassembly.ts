/**
 * IPv4 reassembly (RFC 791 §3.2, RFC 815), the receiving half of
 * fragmentation; re-exported from fragment.ts.
 *
 * Hand-written: reassembly is bound to wirelab's clock, timers, counters and
 * zero-copy input (fragments are views into a borrowed receive slab), and no
 * JavaScript library implements IPv4 reassembly.
 *
 * Shape:
 * - Datagrams in progress are keyed by (src, dst, protocol, id) with numbers
 *   only: an outer Map keyed by `src * 256 + protocol` (40 bits) holding an
 *   inner Map keyed by `dst * 65536 + id` (48 bits). No string or BigInt is
 *   built per packet.
 * - Each datagram keeps a sorted list of disjoint pieces (a copy of the new
 *   bytes of each fragment; the first fragment is kept whole, header
 *   included, for ICMP time exceeded).
 * - Overlaps follow the "conflicting overlap drops the datagram" rule
 *   (RFC 5722 style; Linux has dropped overlapping IPv4 fragments since the
 *   CVE-2018-5391 fix): bytes that overlap what is held are compared; any
 *   difference drops the whole datagram (`overlaps`). A fragment whose bytes
 *   are all held already is an exact duplicate, ignored (`duplicates`). An
 *   overlap carrying identical bytes (the same datagram fragmented twice at
 *   different MTUs on two paths) is accepted: only its new bytes are kept.
 * - Timeouts: ONE Timer for the whole reassembler, armed at the deadline of
 *   the oldest datagram. The deadline is fixed when a datagram's first
 *   fragment (in arrival order) is seen and later fragments do not extend it
 *   (as Linux), so creation order is deadline order: datagrams live on an
 *   intrusive doubly linked list in creation order, the timer always points
 *   at the head, and that same list gives the oldest datagram to evict when
 *   `maxBytes` is exceeded (the datagram the new fragment belongs to is
 *   evicted last, only when it alone is over the cap). Bytes charged: each
 *   first fragment's whole copy, each other kept piece's bytes, plus
 *   REASSEMBLY_PIECE_OVERHEAD per piece. Arming is O(log n), creation and removal O(1).
 */
import type { Clock } from '../time/clock.js';
import { Timer } from '../time/scheduler.js';
import type { TableUsage } from '../time/table-usage.js';
import {
  IPV4_FIELD,
  IPV4_FLAG,
  IPV4_MAX_TOTAL_LENGTH,
  IPV4_MIN_HEADER_LENGTH,
  computeIPv4Checksum,
  ipv4Dst,
  ipv4HeaderLength,
  ipv4Src,
  ipv4TotalLength,
} from '../wire/ipv4.js';

export const REASSEMBLY_TIMEOUT_MS = 30_000;
export const REASSEMBLY_MAX_BYTES = 4 * 1024 * 1024;
/** Bytes charged against `maxBytes` for each piece held, on top of its data (bookkeeping, like an skb's truesize). */
export const REASSEMBLY_PIECE_OVERHEAD = 64;

export interface ReassemblerOptions {
  /** How long a datagram may wait for its missing fragments, from its first arrival. Default 30,000 ms. */
  timeoutMs?: number;
  /** Most bytes held over all datagrams in progress; above it the oldest datagrams are evicted. Default 4 MiB. */
  maxBytes?: number;
  /**
   * Called when a datagram times out and its first fragment (offset 0) had
   * arrived, with that fragment (header included; the reassembler's own copy,
   * the callee may keep it), so the caller can send ICMP time exceeded,
   * code 1 (RFC 792). Not called when the first fragment never came.
   */
  onTimeout?: (firstFragmentWithHeader: Uint8Array) => void;
}

export interface ReassemblyStats {
  /** Datagrams completed and returned. */
  reassembled: number;
  /** Datagrams dropped because their time ran out. */
  timeouts: number;
  /** Datagrams dropped because a fragment overlapped held bytes with different data. */
  overlaps: number;
  /** Fragments ignored because every byte of them was already held (identical). */
  duplicates: number;
  /** Datagrams dropped, oldest first, to bring the bytes held under `maxBytes`. */
  evicted: number;
  /** Datagrams (or lone fragments) dropped because the datagram would pass 65,535 bytes. */
  oversize: number;
  /**
   * Fragments that are not valid fragments (short or inconsistent header,
   * a non-final fragment whose length is not a multiple of 8 or is 0), and
   * datagrams dropped because fragments disagree on where the datagram ends.
   * (Beyond the contract: an extra counter.)
   */
  malformed: number;
}

interface Piece {
  start: number;
  end: number;
  data: Uint8Array;
}

class Datagram {
  prev: Datagram | null = null;
  next: Datagram | null = null;
  readonly pieces: Piece[] = [];
  /** Copy of the fragment with offset 0, header included; null until it arrives. */
  first: Uint8Array | null = null;
  firstHeaderLength = 0;
  /** Payload length of the whole datagram, -1 until the last fragment (MF clear) arrives. */
  total = -1;
  /** Payload bytes held (pieces are disjoint). */
  received = 0;
  /** Bytes charged against maxBytes. */
  charged = 0;

  constructor(
    readonly outerKey: number,
    readonly innerKey: number,
    readonly deadline: number,
  ) {}
}

/** Result of merging one fragment's payload into a datagram. */
const enum Merge {
  Added,
  Duplicate,
  Conflict,
}

export class Reassembler {
  readonly stats: ReassemblyStats = {
    reassembled: 0,
    timeouts: 0,
    overlaps: 0,
    duplicates: 0,
    evicted: 0,
    oversize: 0,
    malformed: 0,
  };
  private readonly table = new Map<number, Map<number, Datagram>>();
  private head: Datagram | null = null;
  private tail: Datagram | null = null;
  private count = 0;
  private held = 0;
  private readonly timer: Timer;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly onTimeout: ((firstFragmentWithHeader: Uint8Array) => void) | undefined;

  constructor(
    private readonly clock: Clock,
    opts: ReassemblerOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? REASSEMBLY_TIMEOUT_MS;
    this.maxBytes = opts.maxBytes ?? REASSEMBLY_MAX_BYTES;
    this.onTimeout = opts.onTimeout;
    this.timer = new Timer(clock.timers, () => this.expire());
  }

  /** Datagrams in progress. */
  get size(): number {
    return this.count;
  }

  /** Bytes currently charged against `maxBytes`. */
  get heldBytes(): number {
    return this.held;
  }

  /**
   * Bytes held against maxBytes (ipfrag_high_thresh). Nothing is refused
   * outright: the oldest datagrams are evicted (ip_frag_queue's
   * inet_frag_evictor), and every datagram times out after `timeoutMs`.
   */
  usage(): TableUsage {
    return { table: 'reassembly', size: this.held, limit: this.maxBytes, unit: 'bytes', refused: 0, evicted: this.stats.evicted, like: 'ipfrag_high_thresh' };
  }

  /**
   * Takes one IPv4 fragment (header included; a borrowed view is fine, what
   * is kept is copied). Returns the whole datagram, a new buffer with a fresh
   * header (the first fragment's header with MF cleared, offset 0, total
   * length set, checksum recomputed), when this fragment completes it, or
   * null. The header checksum is not verified here: that is the IPv4 input
   * path's job. A datagram that is not a fragment is returned as is (a view
   * of the input, trailing padding cut).
   */
  input(fragment: Uint8Array): Uint8Array | null {
    if (fragment.length < IPV4_MIN_HEADER_LENGTH || fragment[0]! >>> 4 !== 4) return this.malformed();
    const hl = ipv4HeaderLength(fragment);
    const totalLength = ipv4TotalLength(fragment);
    if (hl < IPV4_MIN_HEADER_LENGTH || totalLength < hl || totalLength > fragment.length) return this.malformed();
    const flags = (fragment[IPV4_FIELD.FLAGS_FRAGMENT]! << 8) | fragment[IPV4_FIELD.FLAGS_FRAGMENT + 1]!;
    const offset = (flags & IPV4_FLAG.OFFSET_MASK) << 3;
    const more = (flags & IPV4_FLAG.MF) !== 0;
    if (!more && offset === 0) return totalLength === fragment.length ? fragment : fragment.subarray(0, totalLength);
    const length = totalLength - hl;
    const end = offset + length;
    // An empty fragment, last or not, is refused as ip_frag_queue does ("if (end == offset) goto discard_qp"):
    // a last one with no data would otherwise open a datagram that holds nothing.
    if (length === 0 || (more && (length & 7) !== 0)) return this.malformed();

    const outerKey = ipv4Src(fragment) * 256 + fragment[IPV4_FIELD.PROTOCOL]!;
    const innerKey =
      ipv4Dst(fragment) * 65536 +
      ((fragment[IPV4_FIELD.IDENTIFICATION]! << 8) | fragment[IPV4_FIELD.IDENTIFICATION + 1]!);
    let inner = this.table.get(outerKey);
    let dg = inner?.get(innerKey);

    // Oversize: the datagram would pass 65,535 bytes (with the first
    // fragment's header when known, else with the smallest header).
    const isNewFirst = offset === 0 && (dg === undefined || dg.first === null);
    const headerGuess = isNewFirst
      ? hl
      : dg !== undefined && dg.first !== null
        ? dg.firstHeaderLength
        : IPV4_MIN_HEADER_LENGTH;
    let highest = end;
    if (dg !== undefined) {
      const last = dg.pieces[dg.pieces.length - 1];
      if (last !== undefined && last.end > highest) highest = last.end;
      if (dg.total > highest) highest = dg.total;
    }
    if (highest + headerGuess > IPV4_MAX_TOTAL_LENGTH) {
      this.stats.oversize++;
      if (dg !== undefined) this.remove(dg);
      return null;
    }

    if (dg === undefined) {
      dg = new Datagram(outerKey, innerKey, this.clock.now() + this.timeoutMs);
      if (inner === undefined) {
        inner = new Map();
        this.table.set(outerKey, inner);
      }
      inner.set(innerKey, dg);
      this.append(dg);
    }

    // Fragments must agree on where the datagram ends.
    if (!more ? (dg.total >= 0 && dg.total !== end) || highest > end : dg.total >= 0 && end > dg.total) {
      this.stats.malformed++;
      this.remove(dg);
      return null;
    }

    const firstCopy = isNewFirst ? fragment.slice(0, totalLength) : null;
    const merged = this.merge(dg, fragment, hl, offset, end, firstCopy);
    if (merged === Merge.Conflict) {
      this.stats.overlaps++;
      this.remove(dg);
      return null;
    }
    if (firstCopy !== null) {
      dg.first = firstCopy;
      dg.firstHeaderLength = hl;
      this.charge(dg, firstCopy.length);
    }
    if (!more) dg.total = end;
    if (merged === Merge.Duplicate) this.stats.duplicates++;

    if (dg.total >= 0 && dg.received === dg.total && dg.first !== null) {
      const whole = this.assemble(dg);
      this.remove(dg);
      this.stats.reassembled++;
      return whole;
    }
    // Over the cap: evict the oldest other datagrams first, this one last
    // (only when it alone is over the cap).
    while (this.held > this.maxBytes) {
      const victim = this.head !== dg ? this.head : dg.next;
      this.stats.evicted++;
      if (victim === null) {
        this.remove(dg);
        return null;
      }
      this.remove(victim);
    }
    return null;
  }

  /** Drops every datagram in progress (no callbacks) and disarms the timer. */
  clear(): void {
    while (this.head !== null) this.remove(this.head);
  }

  /**
   * Merges payload [start, end) of `fragment` into `dg`, copying only bytes
   * not held yet. Bytes already held must be identical.
   */
  private merge(
    dg: Datagram,
    fragment: Uint8Array,
    hl: number,
    start: number,
    end: number,
    firstCopy: Uint8Array | null,
  ): Merge {
    const pieces = dg.pieces;
    // First piece ending after `start` (pieces are disjoint and sorted, so ends are increasing).
    let lo = 0;
    let hi = pieces.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pieces[mid]!.end <= start) lo = mid + 1;
      else hi = mid;
    }
    const at = lo;
    // Common case: no overlap at all.
    const next = pieces[at];
    if (next === undefined || next.start >= end) {
      if (start === end) return Merge.Added; // an empty final fragment only marks the end
      const data = firstCopy !== null ? firstCopy.subarray(hl, hl + end) : fragment.slice(hl, hl + end - start);
      pieces.splice(at, 0, { start, end, data });
      dg.received += end - start;
      // Bytes of the first fragment are charged once, with its whole copy.
      this.charge(dg, (firstCopy !== null ? 0 : end - start) + REASSEMBLY_PIECE_OVERHEAD);
      return Merge.Added;
    }
    // Overlap: compare held bytes, collect the gaps.
    let cursor = start;
    let j = at;
    let gaps = 0;
    for (; j < pieces.length; j++) {
      const p = pieces[j]!;
      if (p.start >= end) break;
      if (p.start > cursor) gaps++;
      const from = Math.max(start, p.start);
      const to = Math.min(end, p.end);
      const a = p.data;
      const aOff = from - p.start;
      const bOff = hl + from - start;
      for (let k = 0; k < to - from; k++) {
        if (a[aOff + k] !== fragment[bOff + k]) return Merge.Conflict;
      }
      cursor = p.end;
    }
    if (cursor < end) gaps++;
    if (gaps === 0) return Merge.Duplicate;
    const replacement: Piece[] = [];
    cursor = start;
    for (let k = at; k < j; k++) {
      const p = pieces[k]!;
      if (p.start > cursor) replacement.push(this.gapPiece(dg, fragment, hl, start, cursor, p.start, firstCopy));
      replacement.push(p);
      cursor = p.end;
    }
    if (cursor < end) replacement.push(this.gapPiece(dg, fragment, hl, start, cursor, end, firstCopy));
    pieces.splice(at, j - at, ...replacement);
    return Merge.Added;
  }

  private gapPiece(
    dg: Datagram,
    fragment: Uint8Array,
    hl: number,
    fragStart: number,
    from: number,
    to: number,
    firstCopy: Uint8Array | null,
  ): Piece {
    const a = hl + from - fragStart;
    const b = hl + to - fragStart;
    dg.received += to - from;
    this.charge(dg, (firstCopy !== null ? 0 : to - from) + REASSEMBLY_PIECE_OVERHEAD);
    return { start: from, end: to, data: firstCopy !== null ? firstCopy.subarray(a, b) : fragment.slice(a, b) };
  }

  private assemble(dg: Datagram): Uint8Array {
    const first = dg.first!;
    const hl = dg.firstHeaderLength;
    const totalLength = hl + dg.total;
    const out = new Uint8Array(totalLength);
    out.set(first.subarray(0, hl), 0);
    for (const p of dg.pieces) out.set(p.data, hl + p.start);
    out[IPV4_FIELD.TOTAL_LENGTH] = totalLength >>> 8;
    out[IPV4_FIELD.TOTAL_LENGTH + 1] = totalLength & 0xff;
    // Keep the reserved and DF bits; clear MF and the offset.
    out[IPV4_FIELD.FLAGS_FRAGMENT] = out[IPV4_FIELD.FLAGS_FRAGMENT]! & ((IPV4_FLAG.RESERVED | IPV4_FLAG.DF) >>> 8);
    out[IPV4_FIELD.FLAGS_FRAGMENT + 1] = 0;
    const cs = computeIPv4Checksum(out, 0, hl);
    out[IPV4_FIELD.CHECKSUM] = cs >>> 8;
    out[IPV4_FIELD.CHECKSUM + 1] = cs & 0xff;
    return out;
  }

  private charge(dg: Datagram, bytes: number): void {
    dg.charged += bytes;
    this.held += bytes;
  }

  private malformed(): null {
    this.stats.malformed++;
    return null;
  }

  private append(dg: Datagram): void {
    dg.prev = this.tail;
    if (this.tail === null) this.head = dg;
    else this.tail.next = dg;
    this.tail = dg;
    this.count++;
    if (this.head === dg) this.timer.armAt(dg.deadline);
  }

  private remove(dg: Datagram): void {
    const inner = this.table.get(dg.outerKey);
    if (inner !== undefined && inner.get(dg.innerKey) === dg) {
      inner.delete(dg.innerKey);
      if (inner.size === 0) this.table.delete(dg.outerKey);
    }
    const wasHead = this.head === dg;
    if (dg.prev === null) this.head = dg.next;
    else dg.prev.next = dg.next;
    if (dg.next === null) this.tail = dg.prev;
    else dg.next.prev = dg.prev;
    dg.prev = dg.next = null;
    this.count--;
    this.held -= dg.charged;
    dg.charged = 0;
    if (wasHead) {
      if (this.head === null) this.timer.cancel();
      else this.timer.armAt(this.head.deadline);
    }
  }

  private expire(): void {
    const now = this.clock.now();
    // remove() re-arms the timer for the new head; a throwing callback leaves
    // it armed (at a past deadline when more are due), so nothing is lost.
    while (this.head !== null && this.head.deadline <= now) {
      const dg = this.head;
      const first = dg.first;
      this.stats.timeouts++;
      this.remove(dg);
      if (first !== null && this.onTimeout !== undefined) this.onTimeout(first);
    }
    if (this.head !== null && !this.timer.armed) this.timer.armAt(this.head.deadline);
  }
}
