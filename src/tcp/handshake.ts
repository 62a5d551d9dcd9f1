/**
 * Connection establishment (RFC 9293 §3.5): the SYN and SYN-ACK with their
 * options laid out as Linux does (MSS from the egress MTU, SACK-permitted,
 * timestamps, window scale large enough for the receive buffer), option
 * negotiation (each option only when both sides sent it; the peer's MSS,
 * 536 when absent; ECN's setup flags, ecn.ts), the SYN-SENT state's segment processing including
 * simultaneous open (SYN-SENT → SYN-RECV), the ACK that completes a
 * passive open, and the stateless SYN-ACK of a SYN cookie and the
 * connection a returning cookie rebuilds.
 *
 * Hand-written: this is the TCP core itself.
 */
import { encodeTcpOptions, linuxTcpOptions } from '../wire/tcp-options.js';
import type { TcpConnection, TcpHost } from './connection.js';
import { ECN_NOT_ECT, negotiateEcn } from './ecn.js';
import { cookieTimestamp, decodeCookieTimestamp } from './isn.js';
import { FLAG_ACK, FLAG_CWR, FLAG_ECE, FLAG_RST, FLAG_SYN, finishSegment, type SegmentView } from './segment.js';
import { seqDiff, seqGt, seqLeq } from './seq.js';
import { tcpError } from './state.js';

/** Linux's TCP_MIN_MSS: a peer's MSS option below it is raised to it. */
const MIN_MSS = 88;
/** RFC 9293 / RFC 1122 default MSS when the peer sends no option. */
export const DEFAULT_MSS = 536;
/** Linux sizes the window scale for its largest receive buffer (tcp_rmem[2] = 6 MiB): shift 7. */
const LINUX_MAX_RCVBUF = 6 * 1024 * 1024;

/** The shift we offer: large enough that the receive buffer (and Linux's 6 MiB maximum) fits 16 bits. */
export function localWscale(receiveBufferBytes: number): number {
  const want = Math.max(receiveBufferBytes, LINUX_MAX_RCVBUF);
  let shift = 0;
  while (shift < 14 && 65535 * 2 ** shift < want) shift++;
  return shift;
}

/** The unscaled window a SYN or SYN-ACK carries (RFC 7323: never scaled). */
export function synWindow(receiveBufferBytes: number): number {
  return Math.min(receiveBufferBytes, 65535);
}

/** Option bytes of our SYN (SYN-SENT) or SYN-ACK (SYN-RECV). */
export function synOptionBytes(c: TcpConnection): Uint8Array {
  const o = c.host.opts;
  if (c.state === 'SYN-SENT') {
    return encodeTcpOptions(
      linuxTcpOptions({
        mss: c.advMss,
        sackPermitted: o.sack,
        ...(o.timestamps ? { timestamps: { value: c.tsNow(), echo: 0 } } : {}),
        ...(o.windowScaling ? { wscale: localWscale(o.receiveBufferBytes) } : {}),
      }),
    );
  }
  return encodeTcpOptions(
    linuxTcpOptions({
      mss: c.advMss,
      sackPermitted: c.sackOk,
      ...(c.tsOk ? { timestamps: { value: c.tsNow(), echo: c.tsRecent } } : {}),
      ...(c.wsOk ? { wscale: c.rcvWscale } : {}),
    }),
  );
}

/** Records what the peer's SYN (or SYN-ACK) offered and what is therefore in force. */
export function negotiate(c: TcpConnection, seg: SegmentView): void {
  const o = c.host.opts;
  c.peerMss = seg.mss > 0 ? Math.max(seg.mss, MIN_MSS) : DEFAULT_MSS;
  c.sackOk = o.sack && seg.sackPermitted;
  c.tsOk = o.timestamps && seg.hasTs;
  if (c.tsOk) c.setTsRecent(seg.tsVal);
  c.wsOk = o.windowScaling && seg.wscale >= 0;
  c.sndWscale = c.wsOk ? Math.min(seg.wscale, 14) : 0;
  c.rcvWscale = c.wsOk ? localWscale(o.receiveBufferBytes) : 0;
  negotiateEcn(c, seg);
}

/** Starts an active open: ISS per RFC 6528, SYN out, retransmission timer running. */
export function startActiveOpen(c: TcpConnection): void {
  const h = c.host;
  const iss = h.secrets.isn(c.localAddress, c.localPort, c.remoteAddress, c.remotePort, h.clock.now());
  c.snd.init(iss);
  c.ecnAsked = h.opts.ecn;
  c.setState('SYN-SENT');
  c.snd.synSentAt = h.clock.now();
  c.sendSyn();
  c.snd.rtxTimer.arm(c.snd.rtt.rto);
}

/** A listener accepted a SYN into its queue: SYN-RECV, SYN-ACK out. */
export function startPassiveOpen(c: TcpConnection, syn: SegmentView, iss: number): void {
  const h = c.host;
  negotiate(c, syn);
  c.rcv.init(syn.seq, synWindow(h.opts.receiveBufferBytes));
  c.snd.init(iss);
  c.snd.setWindow(syn.window, syn.seq, 0);
  c.setState('SYN-RECV');
  c.snd.synSentAt = h.clock.now();
  c.sendSyn();
  c.snd.rtxTimer.arm(c.snd.rtt.rto);
}

function handshakeRtt(c: TcpConnection, seg: SegmentView): void {
  const snd = c.snd;
  if (c.tsOk && seg.hasTs && seg.tsEcr !== 0) {
    const d = seqDiff(c.tsNow(), seg.tsEcr);
    if (d >= 0) snd.rtt.sample(d);
  } else if (snd.retries === 0 && snd.synSentAt >= 0) {
    snd.rtt.sample(c.host.clock.now() - snd.synSentAt);
  }
}

/** RFC 9293 §3.10.7.3: a segment arriving in SYN-SENT. */
export function synSentInput(c: TcpConnection, seg: SegmentView): void {
  const snd = c.snd;
  const ack = seg.has(FLAG_ACK);
  if (ack && (seqLeq(seg.ack, snd.iss) || seqGt(seg.ack, snd.sndMax))) {
    if (!seg.has(FLAG_RST)) c.emitReset(seg.ack);
    return;
  }
  if (seg.has(FLAG_RST)) {
    if (ack) c.fail(tcpError('ECONNREFUSED'));
    return;
  }
  if (!seg.has(FLAG_SYN)) return;
  negotiate(c, seg);
  c.rcv.init(seg.seq, synWindow(c.host.opts.receiveBufferBytes));
  if (ack) {
    snd.advance(seg.ack);
    snd.setWindow(seg.window, seg.seq, seg.ack);
    handshakeRtt(c, seg);
    c.rcv.ackNow = true;
    c.establish();
    return;
  }
  // Simultaneous open: both SYNs crossed. SYN-ACK with our own ISS.
  snd.setWindow(seg.window, seg.seq, 0);
  c.setState('SYN-RECV');
  c.sendSyn();
}

/**
 * The ACK of our SYN-ACK (or, in a simultaneous open, the peer's SYN-ACK,
 * whose window is unscaled) completes the handshake.
 */
export function synRecvAck(c: TcpConnection, seg: SegmentView, synAck: boolean): void {
  const snd = c.snd;
  snd.advance(seg.ack);
  snd.setWindow(synAck ? seg.window : seg.window * 2 ** c.sndWscale, seg.seq, seg.ack);
  handshakeRtt(c, seg);
  if (synAck) c.rcv.ackNow = true;
  c.establish();
}

/**
 * SYN-ACK for a SYN that found the SYN queue full: the state lives in the
 * sequence number (and in the timestamp's low bits). Without timestamps
 * only the MSS survives, so no other option is offered (as Linux).
 */
export function sendCookieSynAck(h: TcpHost, syn: SegmentView, iss: number): void {
  const o = h.opts;
  const local = syn.dst;
  const remote = syn.src;
  const ts = o.timestamps && syn.hasTs;
  const sack = ts && o.sack && syn.sackPermitted;
  const ws = ts && o.windowScaling && syn.wscale >= 0;
  // ECN as for a queued SYN (ecn.ts), but only when the timestamp can carry it back (Linux's
  // TS_OPT_ECN, cookie_ecn_ok): without it the rebuilt connection could not know.
  const ecn = ts && syn.has(FLAG_ECE) && syn.has(FLAG_CWR) && syn.ipEcn === ECN_NOT_ECT;
  const tsNow = (Math.floor(h.clock.now()) + h.secrets.tsOffset(local, remote)) >>> 0;
  const opts = encodeTcpOptions(
    linuxTcpOptions({
      mss: h.advMssFor(remote),
      sackPermitted: sack,
      ...(ts ? { timestamps: { value: cookieTimestamp(tsNow, ws ? syn.wscale : -1, sack, ecn), echo: syn.tsVal } } : {}),
      ...(ws ? { wscale: localWscale(o.receiveBufferBytes) } : {}),
    }),
  );
  const buf = h.scratch;
  buf.set(opts, 20);
  const hl = 20 + opts.length;
  finishSegment(
    buf,
    hl,
    hl,
    {
      srcPort: syn.dstPort,
      dstPort: syn.srcPort,
      seq: iss,
      ack: (syn.seq + 1) >>> 0,
      flags: FLAG_SYN | FLAG_ACK | (ecn ? FLAG_ECE : 0),
      window: synWindow(o.receiveBufferBytes),
    },
    local,
    remote,
  );
  h.stats.outSegs++;
  h.sendRaw(local, remote, buf.subarray(0, hl), 0, 0);
}

/**
 * A returning SYN cookie (the third segment of the handshake, `seg`)
 * verified to `mss`: rebuild the connection straight into ESTAB.
 */
export function establishFromCookie(c: TcpConnection, seg: SegmentView, mss: number): void {
  const o = c.host.opts;
  c.peerMss = mss;
  c.tsOk = o.timestamps && seg.hasTs;
  if (c.tsOk) {
    const d = decodeCookieTimestamp(seg.tsEcr);
    c.setTsRecent(seg.tsVal);
    c.sackOk = o.sack && d.sack;
    c.wsOk = o.windowScaling && d.wscale >= 0;
    c.sndWscale = c.wsOk ? d.wscale : 0;
    c.rcvWscale = c.wsOk ? localWscale(o.receiveBufferBytes) : 0;
    c.ecnOk = d.ecn;
  }
  c.rcv.init((seg.seq - 1) >>> 0, synWindow(o.receiveBufferBytes));
  c.snd.init((seg.ack - 1) >>> 0);
  c.snd.advance(seg.ack);
  c.snd.setWindow(seg.window * 2 ** c.sndWscale, seg.seq, seg.ack);
  c.setState('SYN-RECV');
  c.establish();
}
