/**
 * Congestion-window restart after idle (RFC 7661 §4.1 / RFC 5681 §4.1 as
 * Linux's tcp_slow_start_after_idle = 1, tcp_cwnd_restart) on the virtual
 * clock: new data after more than one RTO with nothing in flight starts from
 * cwnd halved once per RTO of idleness beyond the first, never below
 * min(cwnd, initial window); ssthresh becomes max(ssthresh, 3/4 of the old
 * window) (tcp_current_ssthresh); the
 * `slowStartAfterIdle: false` option keeps the window.
 */
import { describe, expect, it } from 'vitest';
import { cwndRestart } from '../../src/tcp/cc/types.js';
import type { TcpOptions } from '../../src/tcp/state.js';
import { connectPair, pattern, pump, runUntil, twoStacks } from './harness.js';

const MSS = 1448;

describe('cwndRestart (tcp_cwnd_restart)', () => {
  it('halves once per RTO beyond the first, down to the restart window, and keeps 3/4 of cwnd as ssthresh', () => {
    const at = (cwndSegs: number, idle: number, ssthresh = 0x7fffffff) => {
      const cc = { cwnd: cwndSegs * MSS, ssthresh };
      cwndRestart(cc, MSS, idle, 200, false);
      return { cwnd: cc.cwnd / MSS, ssthresh: cc.ssthresh };
    };
    // Linux: while ((delta -= rto) > 0 && cwnd > restart_cwnd) cwnd >>= 1
    expect(at(80, 201).cwnd).toBe(40);
    expect(at(80, 400).cwnd).toBe(40);
    expect(at(80, 401).cwnd).toBe(20);
    expect(at(80, 601).cwnd).toBe(10);
    expect(at(81, 201).cwnd).toBe(40); // whole segments, as Linux's packet count
    expect(at(80, 5_000).cwnd).toBe(10); // never below the initial window…
    expect(at(6, 5_000).cwnd).toBe(6); // …nor above a cwnd that was already smaller
    expect(at(40, 401, 30 * MSS).ssthresh).toBe(30 * MSS); // 3/4·40 = 30
    expect(at(40, 401, 12 * MSS).ssthresh).toBe(30 * MSS);
    expect(at(40, 401, 35 * MSS).ssthresh).toBe(35 * MSS);
  });
});

describe('slow start after idle on a connection', () => {
  /** A connection whose cwnd grew well past the initial window, then went quiet with nothing in flight. */
  function grown(tcp: TcpOptions = {}) {
    const p = twoStacks({ tcpA: tcp, tcpB: tcp, impairAtoB: { delayMs: 10 }, impairBtoA: { delayMs: 10 } });
    const { client, server, cc } = connectPair(p);
    cc.setNoDelay(true);
    const data = pattern(400_000, 4);
    const st = { off: 0 };
    client.onWritable = () => pump(cc, data, st);
    pump(cc, data, st);
    runUntil(p.clock, () => server.bytes === data.length && cc.snd.sndUna === cc.snd.sndMax, 10_000, 1);
    return { p, cc, server };
  }

  it.each([
    [0.5, 1],
    [1.5, 2],
    [2.5, 4],
  ])('idle %f RTO: cwnd divided by %i when new data goes out', (rtos, divisor) => {
    const { p, cc } = grown();
    const before = cc.info();
    expect(before.cwnd).toBeGreaterThan(40);
    const rto = cc.snd.rtt.rto;
    p.clock.advance(rtos * rto);
    cc.write(pattern(100, 5));
    const after = cc.info();
    expect(after.cwnd).toBe(Math.max(10, Math.floor(before.cwnd / divisor)));
    // Still in slow start: ssthresh stays "infinite" (max(ssthresh, 3/4·cwnd)), so the window regrows fast.
    expect(before.ssthresh).toBeUndefined();
    expect(after.ssthresh).toBeUndefined();
  });

  it('a long idle restarts from the initial window; the data still arrives', () => {
    const { p, cc, server } = grown();
    const rto = cc.snd.rtt.rto;
    p.clock.advance(20 * rto);
    const more = pattern(50_000, 6);
    const n0 = server.bytes;
    cc.write(more);
    expect(cc.info().cwnd).toBe(10);
    runUntil(p.clock, () => server.bytes === n0 + more.length, 10_000, 1);
  });

  it('slowStartAfterIdle: false keeps the window (tcp_slow_start_after_idle = 0)', () => {
    const { p, cc } = grown({ slowStartAfterIdle: false });
    const before = cc.info().cwnd;
    p.clock.advance(20 * cc.snd.rtt.rto);
    cc.write(pattern(100, 5));
    expect(cc.info().cwnd).toBe(before);
  });

  it('an application-limited sender that never idles past an RTO keeps its window', () => {
    const { p, cc } = grown();
    const before = cc.info().cwnd;
    const rto = cc.snd.rtt.rto;
    // Half an RTO between writes: idleness counts from the last data sent, which the
    // final delayed ACK can leave up to 40 ms + one RTT behind the end of grown().
    for (let i = 0; i < 10; i++) {
      p.clock.advance(rto * 0.5);
      cc.write(pattern(100, i));
    }
    expect(cc.info().cwnd).toBeGreaterThanOrEqual(before);
  });
});
