/**
 * echoOptions (src/ip/options-echo.ts): what an echo reply carries back of
 * the request's IPv4 options, as Linux's ip_options_echo + ip_options_build.
 * The kernel comparison (ping -R, ping -T) is in test/interop/host-kernel.
 */
import { describe, expect, it } from 'vitest';
import { echoOptions } from '../../src/ip/options-echo.js';
import { parseIPv4 } from '../../src/wire/address.js';

const SELF = parseIPv4('10.0.0.2');
/** A 20-byte header (contents unused) followed by `opts`. */
const header = (opts: number[]) => new Uint8Array([...new Array<number>(20).fill(0), ...opts]);

describe('echoOptions', () => {
  it('Record Route: our address twice in the next free slots, the pointer moved past them', () => {
    const h = header([7, 15, 8, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // one slot of three used by the sender, then padding
    const o = echoOptions(h, 0, h.length, SELF, 0);
    expect([...o]).toEqual([7, 15, 16, 10, 0, 0, 1, 10, 0, 0, 2, 10, 0, 0, 2, 0]); // padded with End of Options
  });

  it('a full Record Route comes back unchanged; a full Timestamp counts the overflow', () => {
    const rr = header([7, 7, 8, 10, 0, 0, 1, 0]);
    expect([...echoOptions(rr, 0, rr.length, SELF, 0)]).toEqual([7, 7, 8, 10, 0, 0, 1, 0]);
    const ts = header([68, 8, 9, 0, 0, 0, 0, 1]); // timestamps only, no room left
    expect(echoOptions(ts, 0, ts.length, SELF, 0)[3]).toBe(0x20); // overflow 2, flag 0
  });

  it('Timestamp with addresses: address then milliseconds since midnight UT', () => {
    const ts = header([68, 20, 5, 1, ...new Array<number>(16).fill(0)]);
    const o = echoOptions(ts, 0, ts.length, SELF, 86_400_000 + 1234);
    expect(o[2]).toBe(21);
    expect([...o.subarray(4, 12)]).toEqual([10, 0, 0, 2, 0, 0, 4, 210]);
  });

  it('other options are left out; a broken length ends the walk; nothing throws', () => {
    const nop = header([1, 1, 130, 4, 0, 0]); // NOPs and a Security option
    expect(echoOptions(nop, 0, nop.length, SELF, 0).length).toBe(0);
    for (const bad of [[7, 0], [7, 1], [7, 200, 4, 0], [68, 3, 5, 0], [7]]) {
      const h = header(bad);
      expect(() => echoOptions(h, 0, h.length, SELF, 0)).not.toThrow();
    }
  });
});
