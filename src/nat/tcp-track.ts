/**
 * TCP connection tracking as Linux's nf_conntrack_proto_tcp does it: the
 * state transition table (tcp_conntracks[dir][flags][state], copied in
 * meaning from the kernel so both trackers agree on every packet) and the
 * sequence-window check of tcp_in_window (Guido van Rooij's "Real Stateful
 * TCP Packet Filtering in IP Filter"): a segment must lie in the window the
 * peer advertised and acknowledge only data that was sent.
 *
 * Everything is read from the segment at offsets; nothing allocates per
 * packet. Results are small integers (a TCP_CT state, or INVALID / IGNORE).
 */
import { TCP_CT } from './timeouts.js';

const { NONE: sNO, SYN_SENT: sSS, SYN_RECV: sSR, ESTABLISHED: sES, FIN_WAIT: sFW, CLOSE_WAIT: sCW, LAST_ACK: sLA, TIME_WAIT: sTW, CLOSE: sCL, SYN_SENT2: sS2, INVALID: sIV, IGNORE: sIG } = TCP_CT;

/** Flag classes, as Linux's get_conntrack_index. */
export const TCP_INDEX = { SYN: 0, SYNACK: 1, FIN: 2, ACK: 3, RST: 4, NONE: 5 } as const;

// [dir][index][state]: columns sNO, sSS, sSR, sES, sFW, sCW, sLA, sTW, sCL, sS2.
const TRANSITIONS: readonly (readonly (readonly number[])[])[] = [
  [
    /* ORIGINAL */
    /* syn    */ [sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2],
    /* synack */ [sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR],
    /* fin    */ [sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV],
    /* ack    */ [sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV],
    /* rst    */ [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
    /* none   */ [sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV],
  ],
  [
    /* REPLY */
    /* syn    */ [sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2],
    /* synack */ [sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR],
    /* fin    */ [sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV],
    /* ack    */ [sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG],
    /* rst    */ [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
    /* none   */ [sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV],
  ],
];

export const TCPF = { FIN: 0x01, SYN: 0x02, RST: 0x04, ACK: 0x10 } as const;

export function tcpIndex(flags: number): number {
  if ((flags & TCPF.RST) !== 0) return TCP_INDEX.RST;
  if ((flags & TCPF.SYN) !== 0) return (flags & TCPF.ACK) !== 0 ? TCP_INDEX.SYNACK : TCP_INDEX.SYN;
  if ((flags & TCPF.FIN) !== 0) return TCP_INDEX.FIN;
  if ((flags & TCPF.ACK) !== 0) return TCP_INDEX.ACK;
  return TCP_INDEX.NONE;
}

/** The state after a segment of class `index` in direction `dir` (or sIV / sIG). */
export function tcpTransition(dir: 0 | 1, index: number, state: number): number {
  return TRANSITIONS[dir]![index]![state]!;
}

/** One direction's window data (Linux's struct ip_ct_tcp_state). */
export interface TcpSide {
  /** Highest sequence number sent + 1 (end of data seen). */
  end: number;
  /** Highest sequence this side may send (the peer's ack + window). */
  maxEnd: number;
  /** Largest window seen from this side (scaled). */
  maxWin: number;
  /** Window scale this side announced (0 until both sides announced one). */
  scale: number;
  /** Announced window scaling in its SYN. */
  wscaleSeen: boolean;
  /** Highest ack this side sent. */
  maxAck: number;
  /** This side sent data the other has not acknowledged. */
  unacked: boolean;
  /** Accept any window (picked-up connections, as Linux's BE_LIBERAL). */
  liberal: boolean;
}

export interface TcpTrack {
  sides: [TcpSide, TcpSide];
  /** Retransmission count of the last segment (Linux's proto.tcp.retrans). */
  retrans: number;
  lastDir: number;
  lastSeq: number;
  lastEnd: number;
}

function side(): TcpSide {
  return { end: 0, maxEnd: 0, maxWin: 0, scale: 0, wscaleSeen: false, maxAck: 0, unacked: false, liberal: false };
}

export function newTcpTrack(): TcpTrack {
  return { sides: [side(), side()], retrans: 0, lastDir: -1, lastSeq: 0, lastEnd: 0 };
}

const be16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const be32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** a < b in sequence space. */
const before = (a: number, b: number) => ((a - b) | 0) < 0;
const after = (a: number, b: number) => ((b - a) | 0) < 0;

/** The window scale option of a SYN, or -1. Stops at anything malformed. */
export function synWindowScale(b: Uint8Array, l4: number, thl: number): number {
  let o = l4 + 20;
  const end = l4 + thl;
  while (o < end) {
    const kind = b[o]!;
    if (kind === 0) break;
    if (kind === 1) {
      o++;
      continue;
    }
    if (o + 1 >= end) break;
    const len = b[o + 1]!;
    if (len < 2 || o + len > end) break;
    if (kind === 3 && len === 3) return Math.min(b[o + 2]!, 14);
    o += len;
  }
  return -1;
}

/**
 * Initialises tracking from the first segment of a new entry (Linux's
 * tcp_new): a SYN seeds the original side; anything else is a connection
 * picked up mid-stream, tracked liberally.
 */
export function tcpNew(t: TcpTrack, b: Uint8Array, l4: number, thl: number, payload: number, flags: number): void {
  const s = t.sides[0];
  const seq = be32(b, l4 + 4);
  const win = be16(b, l4 + 14);
  s.end = (seq + payload + ((flags & TCPF.SYN) !== 0 ? 1 : 0) + ((flags & TCPF.FIN) !== 0 ? 1 : 0)) >>> 0;
  s.maxWin = win === 0 ? 1 : win;
  if ((flags & TCPF.SYN) !== 0) {
    s.maxEnd = s.end;
    const ws = synWindowScale(b, l4, thl);
    if (ws >= 0) {
      s.wscaleSeen = true;
      s.scale = ws;
    }
  } else {
    s.maxEnd = (s.end + s.maxWin) >>> 0;
    s.liberal = true;
    t.sides[1].liberal = true;
  }
}

/**
 * Linux's tcp_in_window: true when the segment fits the tracked windows, and
 * the windows are updated from it; false (nothing updated) when it is out of
 * window. `state` is the entry's state before this segment.
 */
export function tcpInWindow(t: TcpTrack, dir: 0 | 1, state: number, b: Uint8Array, l4: number, thl: number, payload: number, flags: number): boolean {
  const sender = t.sides[dir];
  const receiver = t.sides[dir ^ 1]!;
  let seq = be32(b, l4 + 4);
  let ack = be32(b, l4 + 8);
  let win = be16(b, l4 + 14);
  const syn = (flags & TCPF.SYN) !== 0;
  let end = (seq + payload + (syn ? 1 : 0) + ((flags & TCPF.FIN) !== 0 ? 1 : 0)) >>> 0;

  if (sender.maxWin === 0) {
    if (syn) {
      // SYN-ACK answering a SYN, or the reply's SYN in a simultaneous open.
      sender.end = sender.maxEnd = end;
      sender.maxWin = win === 0 ? 1 : win;
      const ws = synWindowScale(b, l4, thl);
      if (ws >= 0) {
        sender.wscaleSeen = true;
        sender.scale = ws;
      }
      // RFC 7323: scaling only when both sides announced it.
      if (!(sender.wscaleSeen && receiver.wscaleSeen)) sender.scale = receiver.scale = 0;
      if ((flags & TCPF.ACK) === 0) return true;
    } else {
      sender.end = end;
      const swin = win << sender.scale;
      sender.maxWin = swin === 0 ? 1 : swin;
      sender.maxEnd = (end + sender.maxWin) >>> 0;
      if (receiver.maxWin === 0) receiver.end = receiver.maxEnd = ack;
      else if (ack === ((receiver.end + 1) >>> 0)) receiver.end = (receiver.end + 1) >>> 0;
    }
  } else if (((state === TCP_CT.SYN_SENT && dir === 0) || (state === TCP_CT.SYN_RECV && dir === 1)) && after(end, sender.end)) {
    // A retransmitted or re-initialised SYN with a newer sequence number.
    sender.end = sender.maxEnd = end;
    sender.maxWin = win === 0 ? 1 : win;
  }

  if ((flags & TCPF.ACK) === 0) ack = receiver.end;
  else if ((flags & (TCPF.ACK | TCPF.RST)) === (TCPF.ACK | TCPF.RST) && ack === 0) ack = receiver.end;
  if ((flags & TCPF.RST) !== 0 && seq === 0 && state === TCP_CT.SYN_SENT) seq = end = sender.end;

  const maxAckWindow = Math.max(sender.maxWin, 66000);
  const inWindow =
    sender.liberal ||
    (before(seq, (sender.maxEnd + 1) >>> 0) &&
      after(end, (sender.end - receiver.maxWin - 1) >>> 0) &&
      before(ack, (receiver.end + 1) >>> 0) &&
      after(ack, (receiver.end - maxAckWindow - 1) >>> 0));
  if (!inWindow) return false;

  if (!syn) win = win << sender.scale;
  if (sender.maxWin < win) sender.maxWin = win;
  if (after(end, sender.end)) {
    sender.end = end;
    sender.unacked = true;
  }
  if ((flags & TCPF.ACK) !== 0) {
    if (after(ack, sender.maxAck) || sender.maxAck === 0) sender.maxAck = ack;
    if (!before(ack, receiver.end)) receiver.unacked = false;
  }
  if (receiver.maxWin !== 0 && after(end, sender.maxEnd)) receiver.maxWin += (end - sender.maxEnd) >>> 0;
  if (after((ack + win) >>> 0, (receiver.maxEnd - 1) >>> 0)) {
    receiver.maxEnd = (ack + win) >>> 0;
    if (win === 0) receiver.maxEnd = (receiver.maxEnd + 1) >>> 0;
  }
  // Retransmission counting (Linux: same direction, same seq and end).
  if (t.lastDir === dir && t.lastSeq === seq && t.lastEnd === end) t.retrans++;
  else {
    t.lastDir = dir;
    t.lastSeq = seq;
    t.lastEnd = end;
    t.retrans = 0;
  }
  return true;
}
