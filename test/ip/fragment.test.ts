/**
 * IPv4 fragmentation and reassembly: property tests (fragment random
 * datagrams with random options at random MTUs, deliver the fragments
 * shuffled with duplicates, get the original back byte for byte) and the
 * edge cases (DF, tiny MTU, conflicting overlaps, timeouts on the virtual
 * clock, the memory cap, oversize datagrams, interleaved datagrams,
 * re-fragmentation).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  REASSEMBLY_PIECE_OVERHEAD,
  Reassembler,
  fragmentIPv4,
  type FragmentResult,
} from '../../src/ip/fragment.js';
import { VirtualClock } from '../../src/time/index.js';
import { decodeIPv4, encodeIPv4, parseIPv4Options, type IPv4Packet } from '../../src/wire/ipv4.js';

// ---------------------------------------------------------------------------
// Helpers.

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function bytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

interface DatagramSpec {
  src?: number;
  dst?: number;
  id?: number;
  protocol?: number;
  options?: Uint8Array;
  payload: Uint8Array;
  df?: boolean;
  mf?: boolean;
  offset?: number;
  ttl?: number;
}

function datagram(s: DatagramSpec): Uint8Array {
  return encodeIPv4(
    {
      dscp: 46,
      ecn: 1,
      identification: s.id ?? 0x1234,
      dontFragment: s.df ?? false,
      moreFragments: s.mf ?? false,
      reservedFlag: false,
      fragmentOffset: s.offset ?? 0,
      ttl: s.ttl ?? 64,
      protocol: s.protocol ?? 17,
      src: s.src ?? 0x0a000001,
      dst: s.dst ?? 0x0a000002,
      options: s.options ?? new Uint8Array(0),
    },
    s.payload,
  );
}

function fragment(packet: Uint8Array, mtu: number): Uint8Array[] {
  const frags: Uint8Array[] = [];
  const r: FragmentResult = fragmentIPv4(packet, mtu, (f) => frags.push(f));
  expect(r).toBe('ok');
  return frags;
}

function decoded(b: Uint8Array): IPv4Packet {
  const d = decodeIPv4(b);
  if (!d.ok) throw new Error(d.message);
  return d.value;
}

/** Options a later fragment must carry: those with the copied flag, padded to 4. */
function expectedLaterOptions(options: Uint8Array): number[] {
  const parsed = parseIPv4Options(options);
  if (!parsed.ok) throw new Error(parsed.message);
  const out: number[] = [];
  for (const o of parsed.value) {
    if ((o.kind & 0x80) !== 0 && o.length > 1) out.push(o.kind, o.length, ...o.data);
  }
  while (out.length % 4 !== 0) out.push(0);
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array | readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Checks every fragment of `original` against RFC 791 and the fragmenter's
 * promises. Plain comparisons (not one `expect` per field: thousands of
 * fragments per datagram), failing with a message naming the fragment.
 */
function checkFragments(original: Uint8Array, frags: Uint8Array[], mtu: number): void {
  const o = decoded(original);
  const later = expectedLaterOptions(o.options);
  let expectOffset = o.fragmentOffset;
  frags.forEach((f, i) => {
    const d = decoded(f); // checksum verified
    const last = i === frags.length - 1;
    const rel = d.fragmentOffset - o.fragmentOffset;
    const problems = [
      f.length <= mtu ? '' : `length ${f.length} > mtu ${mtu}`,
      d.totalLength === f.length ? '' : `total length ${d.totalLength} != ${f.length}`,
      d.fragmentOffset === expectOffset && d.fragmentOffset % 8 === 0 ? '' : `offset ${d.fragmentOffset}, expected ${expectOffset}`,
      last || d.payload.length % 8 === 0 ? '' : `payload ${d.payload.length} not a multiple of 8`,
      d.moreFragments === (last ? o.moreFragments : true) ? '' : `MF ${d.moreFragments}`,
      !d.dontFragment ? '' : 'DF set',
      sameBytes(Uint8Array.of(d.protocol, d.ttl, d.dscp, d.ecn), [o.protocol, o.ttl, o.dscp, o.ecn]) ? '' : 'proto/ttl/tos changed',
      d.identification === o.identification && d.src === o.src && d.dst === o.dst ? '' : 'id/src/dst changed',
      sameBytes(d.options, i === 0 ? [...o.options] : later) ? '' : `options ${[...d.options]}`,
      sameBytes(d.payload, o.payload.subarray(rel, rel + d.payload.length)) ? '' : 'payload differs',
    ].filter((p) => p !== '');
    if (problems.length > 0) throw new Error(`fragment ${i} of ${frags.length} (mtu ${mtu}): ${problems.join('; ')}`);
    expectOffset += d.payload.length;
  });
  expect(expectOffset - o.fragmentOffset).toBe(o.payload.length);
}

/** Shuffles `frags` and sprinkles duplicates (copies) among them. */
function shuffleWithDuplicates(frags: Uint8Array[], seed: number, dupRate: number): Uint8Array[] {
  const r = rng(seed);
  const list: Uint8Array[] = [];
  for (const f of frags) {
    list.push(f);
    if (r() < dupRate) list.push(f.slice());
  }
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list;
}

function feed(re: Reassembler, frags: Uint8Array[]): Uint8Array[] {
  const whole: Uint8Array[] = [];
  for (const f of frags) {
    const w = re.input(f);
    if (w !== null) whole.push(w);
  }
  return whole;
}

// Option atoms: [bytes, copied?]
const optionAtom = fc.oneof(
  fc.constant(Uint8Array.of(148, 4, 0, 0)), // Router Alert, copied
  fc.constant(Uint8Array.of(131, 7, 4, 10, 0, 0, 9)), // LSRR, copied
  fc.constant(Uint8Array.of(7, 7, 4, 0, 0, 0, 0)), // Record Route, not copied
  fc.constant(Uint8Array.of(68, 8, 5, 0, 0, 0, 0, 0)), // Timestamp, not copied
  fc.constant(Uint8Array.of(1)), // NOP, not copied
  fc.uint8Array({ minLength: 0, maxLength: 6 }).map((d) => Uint8Array.of(0x9e, d.length + 2, ...d)), // unknown, copied
  fc.uint8Array({ minLength: 0, maxLength: 6 }).map((d) => Uint8Array.of(0x1e, d.length + 2, ...d)), // unknown, not copied
);

const optionsArb = fc.array(optionAtom, { maxLength: 8 }).map((atoms) => {
  const out: number[] = [];
  for (const a of atoms) if (out.length + a.length <= 40) out.push(...a);
  while (out.length % 4 !== 0) out.push(0);
  return Uint8Array.from(out);
});

const datagramArb = fc
  .record({
    options: fc.oneof(fc.constant(new Uint8Array(0)), optionsArb),
    size: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 65515 })),
    seed: fc.integer(),
    id: fc.integer({ min: 0, max: 0xffff }),
  })
  .map(({ options, size, seed, id }) =>
    datagram({ options, id, payload: bytes(Math.min(size, 65515 - options.length), seed) }),
  );

const mtuArb = fc.oneof(fc.integer({ min: 68, max: 1500 }), fc.integer({ min: 68, max: 9000 }));

// ---------------------------------------------------------------------------

describe('fragmentIPv4', () => {
  it('produces valid fragments that cover the datagram (property)', () => {
    fc.assert(
      fc.property(datagramArb, mtuArb, (packet, mtu) => {
        const frags = fragment(packet, mtu);
        if (packet.length <= mtu) {
          expect(frags).toEqual([packet]);
          expect(frags[0]).toBe(packet); // passed through, no copy
          return;
        }
        expect(frags.length).toBeGreaterThan(1);
        checkFragments(packet, frags, mtu);
      }),
      { numRuns: 150 },
    );
  });

  it('fragment then reassemble, shuffled with duplicates, gives the original back (property)', () => {
    fc.assert(
      fc.property(datagramArb, mtuArb, fc.integer(), fc.double({ min: 0, max: 0.5, noNaN: true }), (packet, mtu, seed, dup) => {
        const clock = new VirtualClock();
        const re = new Reassembler(clock);
        const frags = fragment(packet, mtu);
        const whole = feed(re, shuffleWithDuplicates(frags, seed, dup));
        expect(whole.length).toBeGreaterThanOrEqual(1);
        // Byte-identical, header included: MF clear, offset 0, total length, checksum.
        for (const w of whole) expect(sameBytes(w, packet)).toBe(true);
        expect(re.stats.overlaps).toBe(0);
        expect(re.stats.malformed).toBe(0);
        if (frags.length > 1) expect(re.stats.reassembled).toBe(whole.length);
      }),
      { numRuns: 150 },
    );
  });

  it('keeps the original MF and offset when re-fragmenting a fragment, and the pieces reassemble (property)', () => {
    fc.assert(
      fc.property(
        datagramArb,
        fc.integer({ min: 576, max: 9000 }),
        fc.integer({ min: 68, max: 1500 }),
        fc.integer(),
        fc.boolean(),
        (packet, mtu1, mtu2, seed, mixOriginals) => {
          const first = fragment(packet, mtu1);
          const second: Uint8Array[] = [];
          for (const f of first) {
            const pieces = fragment(f, mtu2);
            if (f.length > mtu2) checkFragments(f, pieces, mtu2);
            second.push(...pieces);
          }
          // Mixing the two fragmentations gives overlaps with identical bytes: accepted.
          const deliver = mixOriginals ? [...second, ...first] : second;
          const re = new Reassembler(new VirtualClock());
          const whole = feed(re, shuffleWithDuplicates(deliver, seed, 0.1));
          expect(whole.length).toBeGreaterThanOrEqual(1);
          for (const w of whole) expect(sameBytes(w, packet)).toBe(true);
          expect(re.stats.overlaps).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("returns 'df' when DF is set and the datagram is too big, and sends nothing", () => {
    const sent: Uint8Array[] = [];
    const big = datagram({ payload: bytes(2000, 1), df: true });
    expect(fragmentIPv4(big, 1500, (f) => sent.push(f))).toBe('df');
    expect(sent).toEqual([]);
    // A DF datagram that fits is sent as is.
    expect(fragmentIPv4(big, 2020, (f) => sent.push(f))).toBe('ok');
    expect(sent).toEqual([big]);
  });

  it("returns 'too-small' when the MTU cannot hold the header and 8 bytes", () => {
    const sent: Uint8Array[] = [];
    const plain = datagram({ payload: bytes(100, 2) });
    expect(fragmentIPv4(plain, 27, (f) => sent.push(f))).toBe('too-small');
    expect(fragmentIPv4(plain, 0, (f) => sent.push(f))).toBe('too-small');
    expect(sent).toEqual([]);
    expect(fragmentIPv4(plain, 28, (f) => sent.push(f))).toBe('ok');
    expect(sent.length).toBe(13);
    const withOptions = datagram({ payload: bytes(100, 3), options: new Uint8Array(40).fill(1) });
    expect(fragmentIPv4(withOptions, 67, () => {})).toBe('too-small');
    expect(fragmentIPv4(withOptions, 68, () => {})).toBe('ok'); // the minimum IPv4 MTU (RFC 791)
  });

  it("returns 'malformed' for bytes that are not an IPv4 datagram", () => {
    expect(fragmentIPv4(new Uint8Array(10), 68, () => {})).toBe('malformed');
    const p = datagram({ payload: bytes(200, 4) });
    expect(fragmentIPv4(p.subarray(0, 100), 68, () => {})).toBe('malformed'); // total length past the buffer
    const badOpt = datagram({ payload: bytes(200, 4), options: Uint8Array.of(0x9e, 9, 0, 0) });
    expect(fragmentIPv4(badOpt, 68, () => {})).toBe('malformed');
  });

  it('copies only the options with the copied flag into later fragments, and the first keeps them all', () => {
    const options = Uint8Array.of(7, 7, 4, 0, 0, 0, 0, 148, 4, 0, 0, 1); // RR (not copied), RA (copied), NOP
    const frags = fragment(datagram({ payload: bytes(300, 5), options }), 100);
    expect([...decoded(frags[0]!).options]).toEqual([...options]);
    for (const f of frags.slice(1)) expect([...decoded(f).options]).toEqual([148, 4, 0, 0]);
    // No copied options: later fragments have a 20-byte header.
    const frags2 = fragment(datagram({ payload: bytes(300, 5), options: Uint8Array.of(7, 7, 4, 0, 0, 0, 0, 0) }), 100);
    for (const f of frags2.slice(1)) expect(decoded(f).headerLength).toBe(20);
  });

  it('passes a datagram that fits through unchanged, trailing padding cut', () => {
    const p = datagram({ payload: bytes(30, 6) });
    const padded = new Uint8Array(64);
    padded.set(p);
    const sent: Uint8Array[] = [];
    expect(fragmentIPv4(padded, 1500, (f) => sent.push(f))).toBe('ok');
    expect(sent).toEqual([p]);
  });
});

describe('Reassembler', () => {
  const payload = bytes(64, 7);
  // Four 16-byte fragments of one datagram.
  function pieces(opts: Partial<DatagramSpec> = {}): Uint8Array[] {
    return fragment(datagram({ payload, ...opts }), 36);
  }

  it('returns a non-fragment as is', () => {
    const re = new Reassembler(new VirtualClock());
    const p = datagram({ payload });
    expect(re.input(p)).toBe(p);
  });

  it('ignores exact duplicates and counts them', () => {
    const re = new Reassembler(new VirtualClock());
    const [a, b, c, d] = pieces();
    expect(re.input(a!)).toBeNull();
    expect(re.input(a!)).toBeNull();
    expect(re.input(c!)).toBeNull();
    expect(re.input(c!.slice())).toBeNull();
    expect(re.input(b!)).toBeNull();
    expect(re.stats.duplicates).toBe(2);
    expect(re.input(d!)).toEqual(datagram({ payload }));
  });

  it('drops the whole datagram on an overlap with different bytes', () => {
    const clock = new VirtualClock();
    const re = new Reassembler(clock);
    const [a, b, c, d] = pieces();
    // [8, 24) overlaps a and b with different data.
    const evil = datagram({ payload: new Uint8Array(16).fill(0xee), offset: 8, mf: true });
    expect(re.input(a!)).toBeNull();
    expect(re.input(b!)).toBeNull();
    expect(re.input(evil)).toBeNull();
    expect(re.stats.overlaps).toBe(1);
    expect(re.size).toBe(0);
    expect(re.heldBytes).toBe(0);
    // What arrives afterwards starts a new datagram, which misses a and b.
    expect(re.input(c!)).toBeNull();
    expect(re.input(d!)).toBeNull();
    expect(re.stats.reassembled).toBe(0);
    // An overlap carrying the same bytes is accepted.
    const re2 = new Reassembler(clock);
    const same = datagram({ payload: payload.slice(8, 32), offset: 8, mf: true });
    expect(re2.input(a!)).toBeNull();
    expect(re2.input(same)).toBeNull();
    expect(re2.input(c!)).toBeNull();
    expect(re2.input(d!)).toEqual(datagram({ payload }));
    expect(re2.stats.overlaps).toBe(0);
  });

  it('drops the datagram when fragments disagree on where it ends', () => {
    const re = new Reassembler(new VirtualClock());
    const [a, , c, d] = pieces();
    re.input(a!);
    re.input(d!); // ends at 64
    re.input(datagram({ payload: bytes(8, 1), offset: 32 })); // a last fragment ending at 40
    expect(re.stats.malformed).toBe(1);
    expect(re.size).toBe(0);
    re.input(c!);
    re.input(datagram({ payload: bytes(8, 1), offset: 64, mf: true })); // past a known end
    re.input(d!);
    re.input(datagram({ payload: bytes(8, 1), offset: 64, mf: true }));
    expect(re.stats.malformed).toBe(2);
    re.input(datagram({ payload: bytes(12, 1), offset: 64, mf: true })); // not a multiple of 8
    expect(re.stats.malformed).toBe(3);
  });

  it('refuses an empty last fragment (malformed), as ip_frag_queue does, and holds nothing for it', () => {
    // Found by test/ip/hostile-property.test.ts: it opened a datagram holding no bytes, uncounted.
    const re = new Reassembler(new VirtualClock());
    expect(re.input(datagram({ payload: new Uint8Array(0), offset: 8 }))).toBeNull();
    expect(re.stats.malformed).toBe(1);
    expect(re.size).toBe(0);
  });

  it('times out at exactly 30 s, handing the first fragment to onTimeout', () => {
    const clock = new VirtualClock();
    const timedOut: Uint8Array[] = [];
    const re = new Reassembler(clock, { onTimeout: (f) => timedOut.push(f) });
    const [a, b] = pieces();
    clock.advance(5);
    re.input(b!);
    clock.advance(10_000);
    re.input(a!); // a later fragment does not extend the deadline
    clock.advanceTo(30_004.999);
    expect(re.stats.timeouts).toBe(0);
    clock.advanceTo(30_005);
    expect(re.stats.timeouts).toBe(1);
    expect(timedOut).toEqual([a]);
    expect(timedOut[0]).not.toBe(a); // the reassembler's own copy
    expect(re.size).toBe(0);
    expect(re.heldBytes).toBe(0);
    expect(clock.timers.size).toBe(0);
  });

  it('times out without onTimeout when the first fragment never came', () => {
    const clock = new VirtualClock();
    let called = 0;
    const re = new Reassembler(clock, { onTimeout: () => called++ });
    const [, b, c] = pieces();
    re.input(b!);
    re.input(c!);
    clock.advance(29_999);
    expect(re.stats.timeouts).toBe(0);
    clock.advance(1);
    expect(re.stats.timeouts).toBe(1);
    expect(called).toBe(0);
  });

  it('times out many datagrams each at its own deadline with one timer, and leaves no timer when idle', () => {
    const clock = new VirtualClock();
    const seen: Array<[number, number]> = [];
    const re = new Reassembler(clock, {
      timeoutMs: 1000,
      onTimeout: (f) => seen.push([decoded(f).identification, clock.now()]),
    });
    for (let id = 0; id < 5; id++) {
      re.input(pieces({ id })[0]!);
      clock.advance(100);
    }
    // id 2 completes: no timeout for it.
    for (const f of pieces({ id: 2 }).slice(1)) re.input(f);
    expect(clock.timers.size).toBe(1);
    clock.runUntilIdle();
    expect(seen).toEqual([[0, 1000], [1, 1100], [3, 1300], [4, 1400]]);
    expect(re.stats).toMatchObject({ timeouts: 4, reassembled: 1 });
    // Completing everything leaves nothing armed.
    for (const f of pieces({ id: 9 })) re.input(f);
    expect(clock.timers.size).toBe(0);
  });

  it('evicts the oldest datagrams when the bytes held pass maxBytes', () => {
    const clock = new VirtualClock();
    const first = (src: number) => pieces({ src })[0]!; // 36 bytes, 16 of payload
    const perDatagram = 36 + REASSEMBLY_PIECE_OVERHEAD;
    const re = new Reassembler(clock, { maxBytes: perDatagram * 3 + 50 });
    for (let src = 1; src <= 3; src++) re.input(first(src));
    expect(re.heldBytes).toBe(perDatagram * 3);
    expect(re.stats.evicted).toBe(0);
    re.input(first(4));
    expect(re.stats.evicted).toBe(1); // source 1, the oldest
    expect(re.size).toBe(3);
    // Source 4's later fragments push out the oldest others (2, then 3), never itself.
    const perPiece = 16 + REASSEMBLY_PIECE_OVERHEAD;
    expect(re.input(pieces({ src: 4 })[1]!)).toBeNull();
    expect(re.stats.evicted).toBe(2);
    expect(re.input(pieces({ src: 4 })[2]!)).toBeNull();
    expect(re.stats.evicted).toBe(3);
    expect(re.heldBytes).toBe(perDatagram + 2 * perPiece);
    expect(re.input(pieces({ src: 4 })[3]!)).toEqual(datagram({ src: 4, payload }));
    expect(re.heldBytes).toBe(0);
    // Source 1 was evicted: its remaining fragments do not complete it.
    expect(feed(re, pieces({ src: 1 }).slice(1))).toEqual([]);
    expect(re.stats.reassembled).toBe(1);
    // A datagram too big for the cap on its own is evicted by its own fragment.
    const tiny = new Reassembler(clock, { maxBytes: 50 });
    expect(tiny.input(first(1))).toBeNull();
    expect(tiny.stats.evicted).toBe(1);
    expect(tiny.size).toBe(0);
  });

  it('drops a datagram that would pass 65,535 bytes', () => {
    const re = new Reassembler(new VirtualClock());
    // Offset 65528 + 16 bytes: over the limit on its own.
    expect(re.input(datagram({ payload: bytes(16, 1), offset: 65_528, mf: true }))).toBeNull();
    expect(re.stats.oversize).toBe(1);
    expect(re.size).toBe(0);
    // Ends at 65,480: fine with a 20-byte header, too long once a 60-byte first header arrives.
    re.input(datagram({ payload: bytes(8, 1), offset: 65_472 }));
    expect(re.size).toBe(1);
    re.input(datagram({ payload: bytes(8, 1), options: new Uint8Array(40).fill(1), mf: true }));
    expect(re.stats.oversize).toBe(2);
    expect(re.size).toBe(0);
    // The largest legal datagram reassembles.
    const max = datagram({ payload: bytes(65_515, 9) });
    const whole = feed(re, fragment(max, 1500).reverse());
    expect(whole.length).toBe(1);
    expect(sameBytes(whole[0]!, max)).toBe(true);
  });

  it('keeps interleaved datagrams from many sources, destinations, protocols and ids apart (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.record({
            src: fc.constantFrom(0x0a000001, 0x0a000002, 0xffffffff, 0),
            dst: fc.constantFrom(0x0a000002, 0xc0a80001, 0xffffffff),
            protocol: fc.constantFrom(1, 6, 17, 255),
            id: fc.constantFrom(0, 1, 0xffff),
          }),
          { minLength: 1, maxLength: 12, selector: (k) => `${k.src}/${k.dst}/${k.protocol}/${k.id}` },
        ),
        fc.integer(),
        (keys, seed) => {
          const originals = keys.map((k, i) => datagram({ ...k, payload: bytes(200 + i * 8, seed + i) }));
          const all = originals.flatMap((p) => fragment(p, 68));
          const re = new Reassembler(new VirtualClock());
          const whole = feed(re, shuffleWithDuplicates(all, seed, 0));
          expect(whole.length).toBe(originals.length);
          const sortKey = (b: Uint8Array) => Buffer.from(b).toString('hex');
          expect(whole.map(sortKey).sort()).toEqual(originals.map(sortKey).sort());
          expect(re.size).toBe(0);
          expect(re.heldBytes).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 20 }), (inputs) => {
        const clock = new VirtualClock();
        const re = new Reassembler(clock);
        for (const b of inputs) {
          if (b.length > 0) b[0] = 0x45;
          re.input(b);
        }
        clock.runUntilIdle();
        expect(re.size).toBe(0);
      }),
    );
  });
});
