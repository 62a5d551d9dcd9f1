/**
 * Retransmission timeout estimator (RFC 6298).
 *
 * - First sample R: SRTT = R, RTTVAR = R/2.
 * - Later samples: RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, then
 *   SRTT = 7/8 SRTT + 1/8 R.
 * - RTO = SRTT + max(G, 4*RTTVAR), G = 1 ms, clamped to [minRtoMs, maxRtoMs]
 *   (minRtoMs 200 like Linux rather than the RFC's 1 s); 1 s before any
 *   sample. `backoff()` doubles (capped at maxRtoMs); a new sample or
 *   `resetBackoff()` recomputes RTO from SRTT/RTTVAR (RFC 6298 §5.7 note).
 * Samples must obey Karn's algorithm (caller: never from retransmitted
 * segments unless timestamps disambiguate). Values are not rounded.
 */
export interface RttEstimatorOptions {
  minRtoMs?: number;
  maxRtoMs?: number;
  initialRtoMs?: number;
}

/** Clock granularity G (ms). */
const CLOCK_GRANULARITY_MS = 1;

export class RttEstimator {
  readonly minRtoMs: number;
  readonly maxRtoMs: number;
  readonly initialRtoMs: number;
  private srttMs: number | undefined = undefined;
  private rttvarMs = 0;
  private baseRto: number;
  private shift = 0;
  private current: number;

  constructor(opts: RttEstimatorOptions = {}) {
    this.minRtoMs = opts.minRtoMs ?? 200;
    this.maxRtoMs = opts.maxRtoMs ?? 120_000;
    this.initialRtoMs = opts.initialRtoMs ?? 1000;
    this.baseRto = this.clamp(this.initialRtoMs);
    this.current = this.baseRto;
  }

  sample(rttMs: number): void {
    if (!(rttMs >= 0) || !Number.isFinite(rttMs)) return;
    if (this.srttMs === undefined) {
      this.srttMs = rttMs;
      this.rttvarMs = rttMs / 2;
    } else {
      this.rttvarMs = 0.75 * this.rttvarMs + 0.25 * Math.abs(this.srttMs - rttMs);
      this.srttMs = 0.875 * this.srttMs + 0.125 * rttMs;
    }
    this.baseRto = this.clamp(this.srttMs + Math.max(CLOCK_GRANULARITY_MS, 4 * this.rttvarMs));
    this.shift = 0;
    this.current = this.baseRto;
  }

  get srtt(): number | undefined {
    return this.srttMs;
  }

  /** RTTVAR (ms); 0 before the first sample. */
  get rttvar(): number {
    return this.rttvarMs;
  }

  /** Current RTO (ms), including backoff. */
  get rto(): number {
    return this.current;
  }

  /** Number of backoffs since the last sample / resetBackoff. */
  get backoffCount(): number {
    return this.shift;
  }

  /** RFC 6298 §5.5: RTO = RTO * 2, capped at maxRtoMs. */
  backoff(): void {
    this.shift++;
    this.current = Math.min(this.maxRtoMs, this.current * 2);
  }

  resetBackoff(): void {
    this.shift = 0;
    this.current = this.baseRto;
  }

  private clamp(rto: number): number {
    return Math.min(this.maxRtoMs, Math.max(this.minRtoMs, rto));
  }
}
