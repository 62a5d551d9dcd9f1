/**
 * The one place a connection's segments are built: header and options as
 * Linux lays them out (SYN options from handshake.ts; NOP NOP TS and SACK
 * blocks, D-SACK first, on the rest), the window we advertise, the payload
 * copied from the send ring into the layer's scratch buffer, the ECN flags
 * and IP TOS (ecn.ts), TSO super-segments when the route allows, the probe
 * hook, and the hand-off to IP.
 *
 * Hand-written: this is the TCP core itself.
 */
import type { TcpConnection } from './connection.js';
import { ecnOutput } from './ecn.js';
import { synOptionBytes } from './handshake.js';
import { FLAG_ACK, FLAG_RST, FLAG_SYN, finishSegment, writeDataOptions } from './segment.js';
import type { TcpSegmentInfo } from './state.js';

/** Reused: the flags ecnOutput settled on (no object per segment). */
const ecnOut = { flags: 0 };

/**
 * Builds and sends one segment of `c`; the payload [seq, seq+len) comes from
 * the send ring. `newData`: bytes never sent before (ECT and CWR go only on those).
 */
export function emitSegment(c: TcpConnection, seq: number, flags: number, len: number, newData: boolean): void {
  const h = c.host;
  const buf = h.scratch;
  let hl = 20;
  let window = 0;
  let tsVal: number | undefined;
  let nSack = 0;
  const tos = ecnOutput(c, flags, newData, ecnOut);
  flags = ecnOut.flags;
  if (flags & FLAG_SYN) {
    const opts = synOptionBytes(c);
    buf.set(opts, 20);
    hl += opts.length;
    window = Math.min(c.rcv.bufferBytes, 65535);
  } else if (flags & FLAG_ACK) {
    if (c.sackOk && !(flags & FLAG_RST)) nSack = c.rcv.sackBlocks(c.sackOut, c.sackLimit);
    if (c.tsOk) tsVal = c.tsNow();
    hl += writeDataOptions(buf, 20, c.tsOk, tsVal ?? 0, c.tsRecent, c.sackOut, nSack);
    if (!(flags & FLAG_RST)) window = c.rcv.selectWindow() / 2 ** c.rcvWscale;
  }
  if (len > 0) c.snd.copyOut(seq, len, buf, hl);
  const total = hl + len;
  const ack = flags & FLAG_ACK ? c.rcv.rcvNxt : 0;
  // Longer than one segment with these options can carry: a TSO super-segment (see tsoGoal).
  const segCap = c.pathMss - (hl - 20);
  const gsoSize = len > segCap && (flags & FLAG_SYN) === 0 && segCap > 0 ? segCap : 0;
  finishSegment(buf, total, hl, { srcPort: c.localPort, dstPort: c.remotePort, seq, ack, flags, window }, c.localAddress, c.remoteAddress, gsoSize > 0);
  if (flags & FLAG_ACK) c.rcv.onAckSent();
  h.stats.outSegs++;
  if (flags & FLAG_RST) h.stats.outRsts++;
  if (h.probe !== null) {
    const info: TcpSegmentInfo = { seq, ack, flags, window, len };
    if (tos !== 0) info.tos = tos;
    if (tsVal !== undefined) {
      info.tsVal = tsVal;
      info.tsEcr = c.tsRecent;
    }
    if (nSack > 0) info.sack = c.sackOut.slice(0, nSack).map((b) => ({ left: b.left, right: b.right }));
    h.probe(c, 'out', info);
  }
  h.sendRaw(c.localAddress, c.remoteAddress, buf.subarray(0, total), gsoSize, tos);
}
