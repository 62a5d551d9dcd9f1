/**
 * Token buckets for ICMP error rate limiting, as Linux limits them: a global
 * bucket (net.ipv4.icmp_msgs_per_sec = 1000, burst 50) and one per
 * destination (net.ipv4.icmp_ratelimit = 1000 ms per token, burst 6), so a
 * flood of bad packets cannot turn the host into an ICMP amplifier.
 */
import type { Clock } from '../time/index.js';

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly clock: Clock,
    private readonly msPerToken: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  take(): boolean {
    const now = this.clock.now();
    if (this.msPerToken <= 0) return true;
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) / this.msPerToken);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export class IcmpRateLimiter {
  private readonly global: TokenBucket;
  private readonly perPeer = new Map<number, TokenBucket>();

  constructor(
    private readonly clock: Clock,
    private readonly opts: { msgsPerSec: number; peerIntervalMs: number } = { msgsPerSec: 1000, peerIntervalMs: 1000 },
  ) {
    this.global = new TokenBucket(clock, opts.msgsPerSec > 0 ? 1000 / opts.msgsPerSec : 0, 50);
  }

  allow(peer: number): boolean {
    if (!this.global.take()) return false;
    let b = this.perPeer.get(peer);
    if (b === undefined) {
      // Bound the table: forget every peer when it grows large (as a GC would).
      if (this.perPeer.size > 4096) this.perPeer.clear();
      b = new TokenBucket(this.clock, this.opts.peerIntervalMs, 6);
      this.perPeer.set(peer, b);
    }
    return b.take();
  }
}
