/**
 * Undo of spurious congestion-window reductions on the virtual clock (RFC
 * 3708 D-SACK detection, RFC 3522 Eifel; Linux's tcp_try_undo_dsack,
 * tcp_try_undo_recovery / _partial and tcp_try_undo_loss): a link that
 * delays one segment long enough to trigger a fast retransmit (or an RTO)
 * but drops nothing gets its window back, counted as Linux counts it
 * (TCPDSACKUndo, TCPFullUndo / TCPPartialUndo, TCPLossUndo); a segment that
 * is really lost keeps the reduction.
 */
import { describe, expect, it } from 'vitest';
import { INITIAL_SSTHRESH } from '../../src/tcp/cc/index.js';
import type { TcpOptions } from '../../src/tcp/state.js';
import { send, setup } from './filter-port.js';

/** Records cwnd and ssthresh just before and after each fast-recovery entry. */
function watchRecovery(s: ReturnType<typeof setup>) {
  const snd = s.cc.snd;
  const rec = snd.rec;
  const entries: Array<{ cwndBefore: number; cwndAfter: number; ssthreshAfter: number }> = [];
  const enter = rec.enterRecovery.bind(rec);
  rec.enterRecovery = () => {
    const cwndBefore = snd.cc.cwnd;
    enter();
    entries.push({ cwndBefore, cwndAfter: snd.cc.cwnd, ssthreshAfter: snd.cc.ssthresh });
  };
  return entries;
}

const undoCounters = (st: ReturnType<typeof setup>['stats']) => ({
  dsack: st.undoDsack,
  full: st.undoRecovery,
  partial: st.undoPartial,
  loss: st.undoLoss,
});

describe('D-SACK undo (RFC 3708, tcp_try_undo_dsack)', () => {
  it.each([
    ['RACK', { timestamps: false }],
    ['3-dupack', { timestamps: false, rack: false }],
  ] as Array<[string, TcpOptions]>)('%s: a segment delayed past a fast retransmit, nothing lost: the D-SACK restores cwnd', (_name, tcp) => {
    const s = setup(tcp);
    const mss = s.cc.mss;
    const entries = watchRecovery(s);
    // Segment 2 of 24 arrives 15 ms late: the SACKs of 3, 4, 5… trigger a fast retransmit,
    // the late original fills the hole first and the retransmission comes second — a D-SACK.
    s.fa.rule = (rel, _len, nth) => (nth === 1 && rel === 2 * mss ? 15 : 'pass');
    send(s, 24 * mss);
    s.clock.advance(200);
    expect(s.stats.fastRetransmits).toBe(1);
    expect(s.stats.retransSegs).toBe(1);
    expect(s.stats.dsacksReceived).toBe(1);
    expect(undoCounters(s.stats)).toEqual({ dsack: 1, full: 0, partial: 0, loss: 0 });
    expect(entries).toHaveLength(1);
    const e = entries[0]!;
    expect(e.cwndAfter).toBeLessThan(e.cwndBefore); // the reduction happened…
    // …and was undone: cwnd at least what it was before it, ssthresh back to slow start's "infinite".
    expect(s.cc.snd.cc.cwnd).toBeGreaterThanOrEqual(e.cwndBefore);
    expect(s.cc.snd.cc.ssthresh).toBe(INITIAL_SSTHRESH);
    expect(s.cc.info().ssthresh).toBeUndefined();
  });

  it('a D-SACK for a duplicate the link made is not taken for a spurious retransmission', () => {
    const s = setup({ timestamps: false });
    const mss = s.cc.mss;
    // Segment 2 is lost for real, segment 4 is late (its retransmission is spurious), and segment 3,
    // never retransmitted, comes twice — the copy during the recovery. Two D-SACKs, one of them for
    // a retransmission: the real loss stands (Linux's range-only counting would undo it here).
    s.fa.rule = (rel, _len, nth) => {
      if (nth !== 1) return 'pass';
      if (rel === 2 * mss) return 'drop';
      if (rel === 4 * mss) return 15;
      if (rel === 3 * mss) return { dupAfter: 25 };
      return 'pass';
    };
    send(s, 24 * mss);
    s.clock.advance(200);
    expect(s.stats.fastRetransmits).toBe(1);
    expect(s.stats.retransSegs).toBe(2);
    expect(s.stats.dsacksReceived).toBe(2);
    expect(undoCounters(s.stats)).toEqual({ dsack: 0, full: 0, partial: 0, loss: 0 });
    expect(s.cc.snd.cc.ssthresh).toBeLessThan(INITIAL_SSTHRESH);
  });

  it('a segment really lost keeps the reduction (nothing D-SACKed, the echo is the retransmission’s)', () => {
    for (const timestamps of [true, false]) {
      const s = setup({ timestamps });
      const mss = s.cc.mss;
      const entries = watchRecovery(s);
      s.fa.rule = (rel, _len, nth) => (nth === 1 && rel === 2 * mss ? 'drop' : 'pass');
      send(s, 24 * mss);
      s.clock.advance(200);
      expect(s.stats.fastRetransmits).toBe(1);
      expect(s.stats.dsacksReceived).toBe(0);
      expect(undoCounters(s.stats)).toEqual({ dsack: 0, full: 0, partial: 0, loss: 0 });
      expect(entries).toHaveLength(1);
      expect(s.cc.snd.cc.ssthresh).toBe(entries[0]!.ssthreshAfter);
      expect(s.cc.snd.cc.ssthresh).toBeLessThan(INITIAL_SSTHRESH);
    }
  });
});

describe('Eifel undo by timestamps (RFC 3522, tcp_packet_delayed)', () => {
  it('the ACK that fills the hole echoes the original’s TSval: the recovery is undone at once, before any D-SACK', () => {
    const s = setup({ timestamps: true });
    const mss = s.cc.mss;
    const entries = watchRecovery(s);
    s.fa.rule = (rel, _len, nth) => (nth === 1 && rel === 2 * mss ? 15 : 'pass');
    send(s, 24 * mss);
    s.clock.advance(200);
    expect(s.stats.fastRetransmits).toBe(1);
    expect(s.stats.retransSegs).toBe(1);
    const u = undoCounters(s.stats);
    // Either the ACK ending the episode (TCPFullUndo) or a partial one with nothing resent still
    // out (TCPPartialUndo) proved it; the D-SACK that follows finds nothing left to undo.
    expect(u.full + u.partial).toBe(1);
    expect(u.dsack).toBe(0);
    expect(s.stats.dsacksReceived).toBe(1);
    expect(s.cc.snd.cc.cwnd).toBeGreaterThanOrEqual(entries[0]!.cwndBefore);
    expect(s.cc.snd.cc.ssthresh).toBe(INITIAL_SSTHRESH);
  });

  it('a spurious retransmission timeout is undone (TCPLossUndo) and go-back-N stops', () => {
    // The 3-dupack rule, so no tail loss probe answers first: one lone segment, held back
    // until just before the retransmission it provokes reaches the receiver.
    const s = setup({ timestamps: true, rack: false });
    const mss = s.cc.mss;
    const snd = s.cc.snd;
    // A few segments in flight first, so cwnd is worth restoring.
    send(s, 20 * mss);
    s.clock.advance(50);
    const cwndBefore = snd.cc.cwnd;
    const rto = snd.rtt.rto;
    s.fa.base = snd.sndMax;
    s.fa.seen.clear();
    s.fa.rule = (rel, _len, nth) => (nth === 1 && rel === 0 ? rto - 5 : 'pass');
    const t0 = s.stats.timeouts;
    send(s, 1000);
    s.clock.advance(300);
    expect(s.stats.timeouts - t0).toBe(1);
    expect(s.stats.undoLoss).toBe(1);
    expect(snd.rec.state).toBe('open');
    // Restored: not the loss window of one segment.
    expect(snd.cc.cwnd).toBeGreaterThanOrEqual(cwndBefore);
    expect(snd.sndNxt).toBe(snd.sndMax);
  });
});
