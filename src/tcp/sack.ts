/**
 * Sender-side SACK scoreboard (RFC 2018, RFC 6675, D-SACK per RFC 2883).
 *
 * Keeps the SACKed ranges above snd.una merged, disjoint and sorted in
 * sequence space (uint32, compared with src/tcp/seq.ts so wraparound works).
 * Storage is two number arrays reused across updates; `blocks()` allocates
 * and is meant for diagnostics and tests — the core can iterate with
 * `count`/`leftAt(i)`/`rightAt(i)` instead.
 *
 * Ranges are half-open [left, right) as on the wire (right = the sequence
 * number just past the last SACKed byte).
 */
import { seqDiff, seqGt, seqGeq, seqLeq, seqLt } from './seq.js';

export interface SackBlock {
  left: number;
  right: number;
}

export interface SackUpdateResult {
  /** Bytes above snd.una SACKed for the first time by this ACK. */
  newlySacked: number;
  /** The first block was a D-SACK (RFC 2883): below snd.una, or inside the second block. */
  dsack: boolean;
}

/** RFC 6675 DupThresh. */
export const DUP_THRESH = 3;

const NO_BLOCKS: never[] = [];

/**
 * The SACK blocks of an ACK worth believing (Linux's tcp_is_sackblock_valid):
 * none past SND.MAX, none reaching below SND.UNA − max window (a D-SACK first
 * block may lie below the ACK), none empty. Allocates only when a block must go.
 */
export function believableSacks(blocks: readonly SackBlock[], sndUna: number, sndMax: number, maxSndWnd: number): readonly SackBlock[] {
  if (blocks.length === 0) return NO_BLOCKS;
  const floor = (sndUna - maxSndWnd) >>> 0;
  let bad = false;
  for (const b of blocks) if (seqGt(b.right, sndMax) || seqLt(b.left, floor) || !seqLt(b.left, b.right)) bad = true;
  if (!bad) return blocks;
  return blocks.filter((b) => !(seqGt(b.right, sndMax) || seqLt(b.left, floor) || !seqLt(b.left, b.right)));
}

export class SackScoreboard {
  /** Total bytes SACKed above snd.una. */
  sackedBytes = 0;
  /** End (exclusive, = right edge) of the highest SACKed block; undefined when none. */
  highSacked: number | undefined = undefined;

  private una = 0;
  private started = false;
  private lefts: number[] = [];
  private rights: number[] = [];
  private n = 0;
  /** Reused result object: valid until the next `update`. */
  private readonly result: SackUpdateResult = { newlySacked: 0, dsack: false };

  /** Forget everything; snd.una becomes `sndUna`. */
  reset(sndUna: number): void {
    this.una = sndUna >>> 0;
    this.started = true;
    this.n = 0;
    this.sackedBytes = 0;
    this.highSacked = undefined;
  }

  /** snd.una as the scoreboard knows it. */
  get sndUna(): number {
    return this.una;
  }

  /** Number of disjoint SACKed ranges. */
  get count(): number {
    return this.n;
  }

  leftAt(i: number): number {
    return this.lefts[i]!;
  }

  rightAt(i: number): number {
    return this.rights[i]!;
  }

  /**
   * Process one ACK: `sndUna` is its cumulative ACK (the new snd.una; an
   * older one is ignored), `blocks` its SACK blocks in option order. The
   * returned object is reused by the next call.
   */
  update(sndUna: number, blocks: ReadonlyArray<SackBlock>): SackUpdateResult {
    sndUna >>>= 0;
    if (!this.started) {
      this.una = sndUna;
      this.started = true;
    } else if (seqGt(sndUna, this.una)) {
      this.advance(sndUna);
    }
    const res = this.result;
    res.dsack = false;
    const before = this.sackedBytes;
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i]!;
      const left = b.left >>> 0;
      const right = b.right >>> 0;
      if (!seqLt(left, right)) continue; // empty or inverted (or > 2^31 long)
      if (i === 0) {
        // RFC 2883 §4 / Linux tcp_check_dsack: D-SACK if the first block
        // starts below the cumulative ACK or lies inside the second block.
        if (seqLt(left, sndUna)) {
          res.dsack = true;
          continue;
        }
        const second = blocks[1];
        if (second !== undefined) {
          const l2 = second.left >>> 0;
          const r2 = second.right >>> 0;
          if (seqLt(l2, r2) && seqGeq(left, l2) && seqLeq(right, r2)) {
            res.dsack = true;
            continue;
          }
        }
      }
      if (seqLeq(right, this.una)) continue; // stale: already acked
      this.insert(seqLt(left, this.una) ? this.una : left, right);
    }
    res.newlySacked = this.sackedBytes - before;
    return res;
  }

  /** True if all of [seq, end) is SACKed (above snd.una). False for an empty range. */
  isSacked(seq: number, end: number): boolean {
    seq >>>= 0;
    end >>>= 0;
    if (!seqLt(seq, end) || seqLt(seq, this.una)) return false;
    // blocks are disjoint and non-adjacent, so one block must hold it all
    for (let i = this.n - 1; i >= 0; i--) {
      const l = this.lefts[i]!;
      if (seqLeq(l, seq)) return seqLeq(end, this.rights[i]!);
    }
    return false;
  }

  /** SACKed bytes at or above `seq`. */
  sackedAbove(seq: number): number {
    seq >>>= 0;
    let bytes = 0;
    for (let i = this.n - 1; i >= 0; i--) {
      const l = this.lefts[i]!;
      const r = this.rights[i]!;
      if (seqLeq(r, seq)) break;
      bytes += seqDiff(r, seqGt(l, seq) ? l : seq);
    }
    return bytes;
  }

  /**
   * RFC 6675 IsLost for the segment [seq, end): false if the segment is
   * itself SACKed; true when more than (DupThresh - 1) * mss bytes are SACKed
   * above it (at or beyond `end`), or DupThresh discontiguous SACKed ranges lie
   * (at least partly) above it.
   */
  isLost(seq: number, end: number, mss: number): boolean {
    if (this.isSacked(seq, end)) return false;
    end >>>= 0;
    const limit = (DUP_THRESH - 1) * mss;
    let bytes = 0;
    let ranges = 0;
    for (let i = this.n - 1; i >= 0; i--) {
      const l = this.lefts[i]!;
      const r = this.rights[i]!;
      if (seqLeq(r, end)) break;
      bytes += seqDiff(r, seqGt(l, end) ? l : end);
      ranges++;
      if (bytes > limit || ranges >= DUP_THRESH) return true;
    }
    return false;
  }

  /** A copy of the SACKed ranges, lowest first. */
  blocks(): Array<SackBlock> {
    const out: SackBlock[] = new Array(this.n);
    for (let i = 0; i < this.n; i++) out[i] = { left: this.lefts[i]!, right: this.rights[i]! };
    return out;
  }

  /** snd.una moved forward: drop and trim ranges below it. */
  private advance(una: number): void {
    this.una = una;
    const L = this.lefts;
    const R = this.rights;
    let drop = 0;
    while (drop < this.n && seqLeq(R[drop]!, una)) {
      this.sackedBytes -= seqDiff(R[drop]!, L[drop]!);
      drop++;
    }
    if (drop > 0) {
      for (let i = drop; i < this.n; i++) {
        L[i - drop] = L[i]!;
        R[i - drop] = R[i]!;
      }
      this.n -= drop;
    }
    if (this.n > 0 && seqLt(L[0]!, una)) {
      this.sackedBytes -= seqDiff(una, L[0]!);
      L[0] = una;
    }
    this.highSacked = this.n > 0 ? R[this.n - 1] : undefined;
  }

  /** Merge [left, right) (left >= una) into the sorted, disjoint list. */
  private insert(left: number, right: number): void {
    const L = this.lefts;
    const R = this.rights;
    const n = this.n;
    // first range that ends at or after `left` (touching ranges merge)
    let i = 0;
    while (i < n && seqLt(R[i]!, left)) i++;
    // first range (from i) that starts after `right`
    let j = i;
    while (j < n && seqLeq(L[j]!, right)) j++;
    // ranges i..j-1 overlap or touch [left, right)
    let newL = left;
    let newR = right;
    let covered = 0;
    if (j > i) {
      if (seqLt(L[i]!, newL)) newL = L[i]!;
      if (seqGt(R[j - 1]!, newR)) newR = R[j - 1]!;
      for (let k = i; k < j; k++) covered += seqDiff(R[k]!, L[k]!);
    }
    this.sackedBytes += seqDiff(newR, newL) - covered;
    const removed = j - i; // ranges replaced by one
    if (removed === 0) {
      // open a slot at i
      for (let k = n; k > i; k--) {
        L[k] = L[k - 1]!;
        R[k] = R[k - 1]!;
      }
      this.n = n + 1;
    } else if (removed > 1) {
      const shift = removed - 1;
      for (let k = j; k < n; k++) {
        L[k - shift] = L[k]!;
        R[k - shift] = R[k]!;
      }
      this.n = n - shift;
    }
    L[i] = newL;
    R[i] = newR;
    this.highSacked = R[this.n - 1];
  }
}
