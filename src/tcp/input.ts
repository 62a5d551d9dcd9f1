/**
 * SEGMENT ARRIVES for a connection past SYN-SENT (RFC 9293 §3.10.7.4):
 * PAWS (RFC 7323), the sequence-number test, RST and SYN with RFC 5961's
 * challenge ACKs, the ACK field (handed to the sender), text (to the
 * receiver, after its ECN marks, ecn.ts), FIN and the closing transitions; and TIME-WAIT's own rules
 * (Linux's tcp_timewait_state_process). Out-of-window ACKs are rate-limited
 * per socket as Linux's tcp_invalid_ratelimit.
 *
 * Hand-written: this is the TCP core itself.
 */
import type { TcpConnection } from './connection.js';
import { ecnDataArrived } from './ecn.js';
import { synRecvAck } from './handshake.js';
import { FLAG_ACK, FLAG_FIN, FLAG_RST, FLAG_SYN, type SegmentView } from './segment.js';
import { seqDiff, seqGeq, seqGt, seqLeq, seqLt } from './seq.js';
import { canReceive, tcpError } from './state.js';

/** Linux's TCP_PAWS_24DAYS: a TS.Recent this old no longer rejects anything. */
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;

/** RFC 9293 §3.10.7.4 SEGMENT ARRIVES for SYN-RECV and the synchronized states. */
export function segmentArrives(c: TcpConnection, seg: SegmentView): void {
  const rcv = c.rcv;
  const snd = c.snd;
  const drops = c.host.stats.drops;
  const rst = seg.has(FLAG_RST);
  const syn = seg.has(FLAG_SYN);
  // RFC 7323 §5: PAWS.
  if (c.tsOk && seg.hasTs && !rst && pawsReject(c, seg.tsVal)) {
    drops.paws++;
    if (!oowRateLimited(c, seg)) rcv.ackNow = true;
    return;
  }
  // First: the sequence number.
  if (!rcv.acceptable(seg.seq, seg.segLen)) {
    drops.outOfWindow++;
    if (rst) return;
    if (syn) {
      c.challengeAck();
      return;
    }
    if (seg.dataLen > 0 && seqLt(seg.seq, rcv.rcvNxt)) rcv.duplicate(seg.seq, seqMin(seg.seq + seg.dataLen, rcv.rcvNxt));
    else if (!oowRateLimited(c, seg)) rcv.ackNow = true;
    return;
  }
  // RFC 7323 §4.3: TS.Recent.
  if (c.tsOk && seg.hasTs && seqGeq(seg.tsVal, c.tsRecent) && seqLeq(seg.seq, rcv.lastAckSent)) {
    c.setTsRecent(seg.tsVal);
  }
  // Second: RST (RFC 5961 §3.2: only exactly at RCV.NXT; elsewhere in the window a challenge ACK).
  if (rst) {
    if (seg.seq === rcv.rcvNxt) onReset(c);
    else {
      drops.rstInvalid++;
      if (rcv.inWindow(seg.seq)) c.challengeAck();
    }
    return;
  }
  // Fourth: SYN (RFC 5961 §4.2), except the handshake's own.
  if (syn) {
    if (c.state === 'SYN-RECV' && seg.seq === rcv.irs) {
      if (!seg.has(FLAG_ACK)) {
        c.sendSyn(); // our SYN-ACK was lost
        return;
      }
      if (!c.passive && seqGt(seg.ack, snd.sndUna) && seqLeq(seg.ack, snd.sndMax)) {
        synRecvAck(c, seg, true); // simultaneous open: the peer's SYN-ACK
        return;
      }
    }
    drops.synInvalid++;
    c.challengeAck();
    return;
  }
  // Fifth: ACK.
  if (!seg.has(FLAG_ACK)) {
    drops.noAck++;
    return;
  }
  if (c.state === 'SYN-RECV') {
    if (!(seqGt(seg.ack, snd.sndUna) && seqLeq(seg.ack, snd.sndMax))) {
      // Counted and reset, as tcp_check_req refuses an ACK that is not for our SYN-ACK (tcp_v4_do_rcv → reset).
      if (seqGt(seg.ack, snd.sndMax)) drops.ackUnsent++;
      else drops.ackTooOld++;
      c.emitReset(seg.ack);
      return;
    }
    synRecvAck(c, seg, false);
    if (c.isClosed) return;
  }
  if (!snd.onAck(seg) || c.isClosed) return;
  switch (c.state) {
    case 'FIN-WAIT-1':
      if (snd.finAcked) {
        c.state = 'FIN-WAIT-2';
        if (c.readClosed) c.armLinger(c.host.opts.finTimeoutMs);
      }
      break;
    case 'CLOSING':
      if (snd.finAcked) c.enterTimeWait();
      return;
    case 'LAST-ACK':
      if (snd.finAcked) c.destroy();
      return;
    default:
      break;
  }
  // Seventh and eighth: text and FIN.
  if (canReceive(c.state)) {
    if (c.readClosed && seg.dataLen > 0 && seqGt(seg.seq + seg.dataLen, rcv.rcvNxt)) {
      // Linux (TCPAbortOnData): data for an application that closed.
      c.emit(snd.sndMax, FLAG_RST | FLAG_ACK, 0);
      c.destroy();
      return;
    }
    if (c.ecnOk && seg.dataLen > 0) ecnDataArrived(c, seg);
    if (rcv.onData(seg) && !c.isClosed) onFin(c);
  } else if (seg.segLen > 0) {
    rcv.ackNow = true; // the peer's FIN is in: a retransmission, ACK it again
  }
}

/** RFC 7323 §5 (Linux tcp_paws_check): a TSval more than 1 behind TS.Recent, unless TS.Recent is 24 days old. */
function pawsReject(c: TcpConnection, tsVal: number): boolean {
  return seqDiff(c.tsRecent, tsVal) > 1 && c.host.clock.now() - c.tsRecentAt < PAWS_IDLE_MS;
}

/** Linux's tcp_oow_rate_limited: data always gets its ACK, bare ACKs and SYNs at most one per 500 ms. */
function oowRateLimited(c: TcpConnection, seg: SegmentView): boolean {
  if (seg.dataLen > 0 && !seg.has(FLAG_SYN)) return false;
  return c.socketRateLimited();
}

/** An acceptable RST (exactly at RCV.NXT). */
function onReset(c: TcpConnection): void {
  const s = c.state;
  if (s === 'SYN-RECV' && c.passive) {
    c.host.stats.attemptFails++;
    c.destroy();
    return;
  }
  if (s === 'SYN-RECV') {
    c.fail(tcpError('ECONNREFUSED'));
    return;
  }
  if (s === 'ESTAB' || s === 'CLOSE-WAIT') c.host.stats.estabResets++;
  // Linux's tcp_reset: EPIPE in CLOSE-WAIT, ECONNRESET elsewhere.
  c.destroy(tcpError(s === 'CLOSE-WAIT' ? 'EPIPE' : 'ECONNRESET', `reset by peer in ${s}`));
}

/** The peer's FIN became in-sequence: the FIN transitions, then `peerFin`. */
function onFin(c: TcpConnection): void {
  switch (c.state) {
    case 'SYN-RECV':
    case 'ESTAB':
      c.state = 'CLOSE-WAIT';
      break;
    case 'FIN-WAIT-1':
      if (c.snd.finAcked) c.enterTimeWait(false);
      else c.state = 'CLOSING';
      break;
    case 'FIN-WAIT-2':
      c.enterTimeWait(false);
      break;
    default:
      break;
  }
  c.deliverFin();
  if (c.state === 'TIME-WAIT') c.notifyClosed(undefined);
}

/** A segment for a connection in TIME-WAIT. */
export function timeWaitArrives(c: TcpConnection, seg: SegmentView): void {
  if (seg.has(FLAG_RST)) {
    // Linux's default (tcp_rfc1337 = 0): an in-sequence RST ends TIME-WAIT early.
    if (seg.seq === c.rcv.rcvNxt) c.destroy();
    return;
  }
  if (seg.has(FLAG_FIN) && seqLeq(seg.seq + seg.dataLen, c.rcv.rcvNxt)) {
    // The peer did not hear our ACK of its FIN: ACK again, restart 2·MSL.
    c.rcv.ackNow = true;
    c.restartTimeWait();
    return;
  }
  if (!oowRateLimited(c, seg)) c.rcv.ackNow = true;
}

/** @internal A SYN may open a new incarnation of a TIME-WAIT connection (RFC 6191 / Linux tcp_timewait_state_process). */
export function timeWaitAcceptsSyn(c: TcpConnection, seg: SegmentView): boolean {
  if (c.tsOk && seg.hasTs) return seqGt(seg.tsVal, c.tsRecent);
  return seqGt(seg.seq, c.rcv.rcvNxt);
}


function seqMin(a: number, b: number): number {
  a >>>= 0;
  return seqLt(a, b) ? a : b;
}
