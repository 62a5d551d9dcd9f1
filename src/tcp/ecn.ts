/**
 * Explicit Congestion Notification for TCP (RFC 3168 §6.1), as Linux runs it:
 *
 * - Negotiation: an ECN-setup SYN carries ECE and CWR; the ECN-setup SYN-ACK
 *   carries ECE only. A listener accepts whenever the SYN asks (Linux's
 *   default tcp_ecn = 2); a client asks only with TcpOptions.ecn (tcp_ecn =
 *   1), on its first SYN only — a retransmitted SYN goes without, in case a
 *   middlebox drops ECN-setup SYNs (tcp_ecn_clear_syn, RFC 3168 §6.1.1.1).
 * - Sending: new data leaves with ECT(0) in the IP header; retransmissions,
 *   pure ACKs, SYNs, FIN-only segments, RSTs and window probes never do
 *   (§6.1.5, tcp_ecn_send). After a reduction (an ECN-echo, a fast
 *   retransmit or a timeout) the next new data segment carries CWR.
 * - Receiving: a data segment with CE makes every segment we send carry ECE
 *   until one arrives with CWR (TCP_ECN_DEMAND_CWR, tcp_ecn_check_ce and
 *   tcp_ecn_accept_cwr); the sender's response (one reduction per window) is
 *   recovery.ts's onEce.
 *
 * The layer below only carries the IP ECN bits: TcpLayer.input gets them
 * with each segment and sendRaw takes the TOS to send with (tcp imports ip,
 * never the reverse).
 */
import type { TcpConnection } from './connection.js';
import { FLAG_ACK, FLAG_CWR, FLAG_ECE, FLAG_RST, FLAG_SYN, type SegmentView } from './segment.js';

/** The IP header's ECN field (RFC 3168 §5). */
export const ECN_NOT_ECT = 0;
export const ECN_ECT1 = 1;
export const ECN_ECT0 = 2;
export const ECN_CE = 3;

/** ECN flags on our SYN (SYN-SENT) or SYN-ACK (SYN-RECV). */
export function synEcnFlags(c: TcpConnection): number {
  if (c.state === 'SYN-SENT') return c.ecnAsked && c.snd.retries === 0 ? FLAG_ECE | FLAG_CWR : 0;
  return c.ecnOk ? FLAG_ECE : 0;
}

/**
 * What the peer's SYN, SYN-ACK or (simultaneous open) SYN says about ECN.
 * A passive open accepts an ECN-setup SYN that is itself Not-ECT, as Linux's
 * tcp_ecn_create_request (an ECT SYN is a sign of a broken path); an active
 * one needs ECE without CWR on the SYN-ACK (tcp_ecn_rcv_synack), or ECE and
 * CWR on a crossing SYN (tcp_ecn_rcv_syn).
 */
export function negotiateEcn(c: TcpConnection, seg: SegmentView): void {
  const ece = seg.has(FLAG_ECE);
  const cwr = seg.has(FLAG_CWR);
  if (c.passive) c.ecnOk = ece && cwr && seg.ipEcn === ECN_NOT_ECT;
  else if (seg.has(FLAG_ACK)) c.ecnOk = c.ecnAsked && ece && !cwr;
  else c.ecnOk = c.ecnAsked && ece && cwr;
}

/**
 * An acceptable data-bearing segment on an ECN connection: CWR ends our
 * echo, then CE (on this same segment too) starts it again and asks for an
 * immediate ACK (Linux enters quick-ACK mode so the echo leaves at once).
 */
export function ecnDataArrived(c: TcpConnection, seg: SegmentView): void {
  if (seg.has(FLAG_CWR)) c.ecnDemandCwr = false;
  if (seg.ipEcn !== ECN_CE) return;
  c.host.stats.ecnCeReceived++;
  c.ecnSeen = true;
  if (!c.ecnDemandCwr) {
    c.ecnDemandCwr = true;
    c.rcv.ackNow = true;
  }
}

/**
 * The ECN part of building a segment: returns the IP TOS (ECT(0) for new
 * data) and, through `out.flags`, the TCP flags with ECE / CWR added.
 * `newData`: the segment carries bytes never sent before.
 */
export function ecnOutput(c: TcpConnection, flags: number, newData: boolean, out: { flags: number }): number {
  out.flags = flags;
  if (!c.ecnOk || flags & (FLAG_SYN | FLAG_RST)) return 0;
  let tos = 0;
  if (newData) {
    tos = ECN_ECT0;
    if (c.takeQueuedCwr()) {
      out.flags |= FLAG_CWR;
      c.host.stats.ecnCwrSent++;
    }
  }
  if (c.ecnDemandCwr && flags & FLAG_ACK) out.flags |= FLAG_ECE;
  return tos;
}
