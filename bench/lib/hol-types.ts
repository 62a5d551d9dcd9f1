/**
 * The head-of-line-blocking benchmark's contract between its two modes:
 * virtual time (wirelab hosts in memory, bench/lib/hol-virtual.ts) and real
 * time (kernel sockets in two containers over an impaired wirelab link,
 * bench/lib/hol-real.ts). bench/hol.ts runs either through this one shape
 * and turns the results into tables, percentiles and plots.
 */

/**
 * - `tcp`: one TCP connection, every message on it, in order.
 * - `tcp-n`: `connections` TCP connections, messages spread round robin.
 * - `udp`: one datagram per message; a lost one is lost.
 * - `udp-rtx`: datagrams with application-level retransmission (the
 *   receiver acknowledges each message; the sender resends what is not
 *   acknowledged after a timeout) but no ordering: each message is
 *   delivered the moment it is whole — QUIC streams' design point.
 */
export type HolTransport = 'tcp' | 'tcp-n' | 'udp' | 'udp-rtx';

/** How messages are sent: one every `intervalMs`, or `burstSize` back to back every `intervalMs × burstSize`. */
export type HolPattern = 'steady' | 'burst';

export interface HolRunSpec {
  transport: HolTransport;
  /** Loss on the link, percent, each direction. */
  lossPercent: number;
  /** Random loss, or Gilbert–Elliott bursts with the same average. */
  lossModel: 'random' | 'gilbert-elliott';
  /** One-way delay of the link, ms (RTT is twice this). */
  delayMs: number;
  /** Jitter around the delay, ms (0: none). */
  jitterMs: number;
  /** Probability a frame is reordered (netem's reorder), percent. */
  reorderPercent: number;
  /** Payload bytes per message (a timestamp and a sequence number are inside). */
  messageBytes: number;
  /** Milliseconds between messages (steady), or between bursts / burstSize. */
  intervalMs: number;
  pattern: HolPattern;
  burstSize: number;
  /** Messages sent in the run. */
  messages: number;
  /** For `tcp-n`. */
  connections: number;
  /** Seeds every random draw (loss, jitter) so a virtual run repeats exactly. */
  seed: number;
}

/** One message's fate, for the timeline plot. */
export interface HolMessage {
  seq: number;
  /** When it was handed to the transport, ms from the start of the run. */
  sentMs: number;
  /** When the receiving application got it, ms from the start; null if never. */
  receivedMs: number | null;
}

export interface HolRunResult {
  spec: HolRunSpec;
  mode: 'virtual' | 'real';
  /** Every message, in sequence order. */
  messages: HolMessage[];
  /** Segments/datagrams the link dropped (as the impairment counted them). */
  linkLosses: number;
  /** Measured round-trip time of the path without loss (ms), for the model row. */
  baseRttMs: number;
}
