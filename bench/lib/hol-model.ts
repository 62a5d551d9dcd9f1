/**
 * What a lost segment should cost a TCP message stream, in closed form, so
 * bench/hol's table can put the measured stall and p99 beside a number one
 * can check by hand. Deliberately first-order: one loss event at a time, a
 * message fits in one segment, no congestion-window effects (after a loss
 * CUBIC cuts cwnd to 0.7×; when the stream needs more segments per RTT than
 * that, messages also queue in the send buffer, which this model leaves out
 * and the measurement shows as extra delay).
 *
 * Symbols: r = base RTT, d = r/2 one-way, i = mean time between messages,
 * t3 = time from a message's send until three more have been sent (i.e. 3i
 * for a steady stream; from the schedule for bursts), p = the per-frame loss
 * rate, B = mean loss burst in frames (1 for random loss, 4 for our
 * Gilbert–Elliott setting).
 *
 * 1. Loss detection (RFC 5681 §3.2, fast retransmit; RFC 6675 with SACK):
 *    the receiver answers each out-of-order segment at once with a duplicate
 *    ACK (SACK); after the third (DupThresh) the sender retransmits. The
 *    three segments after the hole leave t3 after it, their ACKs are back one
 *    RTT later, the retransmission arrives d after that. The lost message
 *    would have arrived at d, so it is late by
 *        S_fr = t3 + r + (B − 1)·i        (the last of B lost frames closes the burst)
 *    — if that happens before the retransmission timer: t3 + r < RTO.
 * 2. Otherwise the RTO fires (RFC 6298 §2, §5): RTO = max(minRTO, SRTT +
 *    4·RTTVAR), minRTO = 200 ms as Linux's TCP_RTO_MIN (and wirelab's
 *    default) rather than the RFC's 1 s. On a steady path RTTVAR decays
 *    toward 0, so RTO = max(200, r). (Linux computes it as SRTT + max(4·mdev,
 *    200 ms)-ish, i.e. about r + 200 ms; wirelab follows RFC 6298 exactly.)
 *        S_rto = RTO + (B − 1)·i
 *    If the fast retransmission is itself lost (probability p), the RTO
 *    follows it: that event costs S_fr + RTO.
 *        E[S] = (1 − p)·S_fr + p·(S_fr + RTO)   with fast retransmit
 *        E[S] = S_rto                          without
 * 3. Head-of-line blocking: TCP delivers in order, so every message sent in
 *    the S after the hole waits for the retransmission too; the one sent
 *    m·i after it is late by S − m·i. A loss event (rate e = p/B per
 *    message) therefore makes B + (S − x)/i messages later than x, so
 *        P(added delay > x) ≈ e·(B + (S − x)/i),  0 ≤ x ≤ S
 *    and the q-quantile of the added delay solves P = 1 − q:
 *        x_q = clamp(S − i·((1 − q)/e − B), 0, S)
 *    The expected p99 latency is d + x_0.99 (likewise p99.9), and the share
 *    of messages held behind some stall is min(1, e·(B + S/i)).
 */

export interface HolModelInput {
  /** Base round-trip time, ms. */
  rttMs: number;
  /** Mean time between messages, ms. */
  intervalMs: number;
  /** Time from a message's send until three later ones have been sent, ms (3 × interval for a steady stream). */
  threeLaterMs: number;
  /** Per-frame loss probability, 0..1. */
  loss: number;
  /** Mean loss burst in frames (1: random loss). */
  burstFrames: number;
  /** Minimum RTO, ms (Linux and wirelab: 200). */
  minRtoMs?: number;
}

export interface HolModel {
  /** Fast retransmit happens before the RTO. */
  fastRetransmit: boolean;
  /** The RTO the model assumes, ms. */
  rtoMs: number;
  /** Added delay of the lost message when fast retransmit repairs it (S_fr), ms. */
  fastRetransmitStallMs: number;
  /** Expected added delay of the lost message per loss event (E[S]), ms. */
  stallPerLossMs: number;
  /** Share of messages held behind a stall. */
  blockedShare: number;
  /** Expected latency percentiles, ms (one-way delay + the added delay's quantile). */
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
}

export function holModel(m: HolModelInput): HolModel {
  const minRto = m.minRtoMs ?? 200;
  const d = m.rttMs / 2;
  const B = Math.max(1, m.burstFrames);
  const rto = Math.max(minRto, m.rttMs);
  const burstExtra = (B - 1) * m.intervalMs;
  const sFr = m.threeLaterMs + m.rttMs + burstExtra;
  const fastRetransmit = m.threeLaterMs + m.rttMs < rto;
  const p = Math.min(1, Math.max(0, m.loss));
  const S = fastRetransmit ? (1 - p) * sFr + p * (sFr + rto) : rto + burstExtra;
  const e = p / B;
  const i = Math.max(m.intervalMs, 1e-9);
  const quantile = (q: number): number => {
    if (e === 0) return 0;
    const x = S - i * ((1 - q) / e - B);
    return Math.min(S, Math.max(0, x));
  };
  return {
    fastRetransmit,
    rtoMs: rto,
    fastRetransmitStallMs: sFr,
    stallPerLossMs: p === 0 ? 0 : S,
    blockedShare: Math.min(1, e * (B + S / i)),
    p50Ms: d + quantile(0.5),
    p99Ms: d + quantile(0.99),
    p999Ms: d + quantile(0.999),
  };
}

/**
 * Where a TCP run's latencies, in send order, show a loss: a message later
 * than the one before it by at least half the base RTT (the smallest
 * fast-retransmit stall is a whole RTT; the queueing bumps of a reduced cwnd
 * are a few intervals). Returns those messages' indices.
 */
export function stallHeads(latencies: ReadonlyArray<number | null>, baseRttMs: number): number[] {
  const heads: number[] = [];
  let prev = baseRttMs / 2;
  latencies.forEach((l, k) => {
    if (l === null) return;
    if (l - prev >= baseRttMs / 2) heads.push(k);
    prev = l;
  });
  return heads;
}

/**
 * The measured counterpart of `stallPerLossMs`: the mean, over `stallHeads`,
 * of how late each head message is against the base one-way delay, and how
 * many heads there were.
 */
export function measuredStalls(latencies: ReadonlyArray<number | null>, baseRttMs: number): { meanMs: number; count: number } {
  const heads = stallHeads(latencies, baseRttMs);
  const sum = heads.reduce((s, k) => s + (latencies[k] as number) - baseRttMs / 2, 0);
  return { meanMs: heads.length === 0 ? 0 : sum / heads.length, count: heads.length };
}
