/**
 * Bulk transfer on the virtual clock, 10 MB each way at once, under 5%
 * random loss with reordering, duplication, delay and jitter in both
 * directions — in every combination of SACK × timestamps × window scaling,
 * with NewReno and with CUBIC — checked by SHA-256. Plus a fast-check
 * property over random impairments and buffer sizes (smaller transfers).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ImpairmentOptions } from '../../src/link/impair.js';
import type { TcpOptions } from '../../src/tcp/state.js';
import { connectPair, pattern, pump, runUntil, sha256, twoStacks } from './harness.js';

const MB = 1024 * 1024;
const UP = pattern(10 * MB, 11);
const DOWN = pattern(10 * MB, 13);
const UP_SHA = sha256(UP);
const DOWN_SHA = sha256(DOWN);

function transfer(tcp: TcpOptions, imp: ImpairmentOptions, up: Uint8Array, down: Uint8Array, seeds: [number, number]) {
  const p = twoStacks({ tcpA: tcp, tcpB: tcp, impairAtoB: { ...imp, seed: seeds[0] }, impairBtoA: { ...imp, seed: seeds[1] } });
  const { client, server, cc, sc } = connectPair(p);
  client.keepChunks = false;
  server.keepChunks = false;
  const s = sc();
  const su = { off: 0 };
  const sd = { off: 0 };
  client.onWritable = () => pump(cc, up, su, true);
  server.onWritable = () => pump(s, down, sd, true);
  pump(cc, up, su, true);
  pump(s, down, sd, true);
  const virtualMs = runUntil(p.clock, () => client.done && server.done, 24 * 3600_000, 50);
  return { p, client, server, cc, s, virtualMs };
}

const IMPAIRED: ImpairmentOptions = { delayMs: 10, jitterMs: 3, loss: 0.05, duplicate: 0.02, reorder: 0.05 };

describe('10 MB each way under 5% loss, reordering and duplication', () => {
  const combos: Array<[string, TcpOptions]> = [];
  for (const congestionControl of ['newreno', 'cubic'] as const)
    for (const sack of [true, false])
      for (const timestamps of [true, false])
        for (const windowScaling of [true, false])
          combos.push([`${congestionControl} sack=${sack} ts=${timestamps} ws=${windowScaling}`, { congestionControl, sack, timestamps, windowScaling }]);

  it.each(combos)('%s', (_name, tcp) => {
    const { p, client, server, cc, s } = transfer(tcp, IMPAIRED, UP, DOWN, [21, 22]);
    expect(server.bytes).toBe(UP.length);
    expect(client.bytes).toBe(DOWN.length);
    expect(server.digest()).toBe(UP_SHA);
    expect(client.digest()).toBe(DOWN_SHA);
    expect(client.closedWith).toBeUndefined();
    expect(server.closedWith).toBeUndefined();
    // Both shut down when their data is queued: whoever closed first (or both) waits in TIME-WAIT —
    // unless a stray duplicate drew a RST from the side already CLOSED, which ends TIME-WAIT early
    // as on Linux (tcp_rfc1337 = 0).
    for (const st of [cc.state, s.state]) expect(['CLOSED', 'TIME-WAIT']).toContain(st);
    for (const st of [p.a.tcpLayer.stats, p.b.tcpLayer.stats]) {
      expect(st.retransSegs).toBeGreaterThan(0);
      if (tcp.sack) expect(st.sackRecoveries).toBeGreaterThan(0);
      else expect(st.renoRecoveries).toBeGreaterThan(0);
      // Fast recovery does most of the work; timeouts stay the exception.
      expect(st.timeouts).toBeLessThan(st.fastRetransmits);
    }
  });
});

describe('property: any impairment, any buffer size, the bytes arrive intact', () => {
  it('random loss/reorder/duplication/delay and options, 300 KB each way', () => {
    const up = UP.subarray(0, 300_000);
    const down = DOWN.subarray(0, 300_000);
    const upSha = sha256(up);
    const downSha = sha256(down);
    fc.assert(
      fc.property(
        fc.record({
          loss: fc.double({ min: 0, max: 0.15, noNaN: true }),
          duplicate: fc.double({ min: 0, max: 0.1, noNaN: true }),
          reorder: fc.double({ min: 0, max: 0.3, noNaN: true }),
          delayMs: fc.integer({ min: 1, max: 50 }),
          jitterMs: fc.integer({ min: 0, max: 10 }),
        }),
        fc.record({
          sack: fc.boolean(),
          timestamps: fc.boolean(),
          windowScaling: fc.boolean(),
          congestionControl: fc.constantFrom('newreno' as const, 'cubic' as const),
          receiveBufferBytes: fc.integer({ min: 4096, max: 512 * 1024 }),
          sendBufferBytes: fc.integer({ min: 4096, max: 512 * 1024 }),
        }),
        fc.tuple(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 1e6 })),
        (imp, tcp, seeds) => {
          const { client, server } = transfer(tcp, imp, up, down, seeds);
          expect(server.digest()).toBe(upSha);
          expect(client.digest()).toBe(downSha);
        },
      ),
      { numRuns: 12, seed: 4242 },
    );
  });
});
