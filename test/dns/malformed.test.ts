/**
 * Hostile input to the DNS server: hand-made pointer loops, counts beyond
 * the data, oversize labels, responses and runts, then fast-check's random
 * bytes and random mutations of a valid query. Every message gets FORMERR or
 * silence (or, when the mutation happens to leave a valid query, a valid
 * answer), is counted, and nothing throws; the server answers a good query
 * afterwards, over UDP and TCP.
 */
import fc from 'fast-check';
import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { ask, dnsLab, runFor, sendRaw, settle } from './harness.js';
import type { DnsServer } from '../../src/dns/server.js';
import { frame } from '../../src/dns/exchange.js';

const good = (id = 1): Buffer =>
  dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name: 'web', type: 'A', class: 'IN' }] });

/** A header with the given counts followed by `body`. */
function message(id: number, counts: [number, number, number, number], body: number[], flags = 0x0100): Uint8Array {
  const h = [id >> 8, id & 255, flags >> 8, flags & 255];
  for (const c of counts) h.push(c >> 8, c & 255);
  return Uint8Array.from([...h, ...body]);
}

const RCODE_OK = new Set([0, 1, 2, 3, 4, 5]);

function malformedTotal(s: DnsServer): number {
  return Object.values(s.stats.malformed).reduce((x, y) => x + y, 0);
}

describe('malformed queries', () => {
  it('hand-made attacks: each gets FORMERR or silence, with the named counter', async () => {
    const lab = await dnsLab();
    const s = lab.server;
    const cases: Array<[string, Uint8Array, 'FORMERR' | 'silence', keyof DnsServer['stats']['malformed']]> = [
      ['runt (5 bytes)', Uint8Array.from([1, 2, 3, 4, 5]), 'silence', 'short'],
      ['a response sent to the server', message(9, [1, 0, 0, 0], [3, 0x77, 0x65, 0x62, 0, 0, 1, 0, 1], 0x8180), 'silence', 'response'],
      // 0xc0 0x0c points at itself: the label at offset 12 is the pointer.
      ['pointer loop to itself', message(10, [1, 0, 0, 0], [0xc0, 0x0c, 0, 1, 0, 1]), 'FORMERR', 'decode'],
      // label "a" then a pointer back to offset 12: a loop through a prior label.
      ['pointer loop through a label', message(11, [1, 0, 0, 0], [1, 0x61, 0xc0, 0x0c, 0, 1, 0, 1]), 'FORMERR', 'decode'],
      ['forward pointer', message(12, [1, 0, 0, 0], [0xc0, 0x20, 0, 1, 0, 1]), 'FORMERR', 'decode'],
      ['no question', message(13, [0, 0, 0, 0], []), 'FORMERR', 'badCount'],
      ['two questions claimed', message(14, [2, 0, 0, 0], [3, 0x77, 0x65, 0x62, 0, 0, 1, 0, 1]), 'FORMERR', 'badCount'],
      ['65535 answers claimed, none present', message(15, [1, 65535, 0, 0], [3, 0x77, 0x65, 0x62, 0, 0, 1, 0, 1]), 'FORMERR', 'decode'],
      ['label length 64 (0x40: reserved label type)', message(16, [1, 0, 0, 0], [0x40, ...Array(64).fill(0x61), 0, 0, 1, 0, 1]), 'FORMERR', 'decode'],
      ['label running past the end', message(17, [1, 0, 0, 0], [63, 0x61, 0x61]), 'FORMERR', 'decode'],
      ['name over 255 bytes', message(18, [1, 0, 0, 0], [...Array(5).fill([63, ...Array(63).fill(0x61)]).flat(), 0, 0, 1, 0, 1]), 'FORMERR', 'decode'],
      ['question without type and class', message(19, [1, 0, 0, 0], [3, 0x77, 0x65, 0x62, 0]), 'FORMERR', 'decode'],
    ];
    for (const [what, bytes, expected, counter] of cases) {
      const before = s.stats.malformed[counter];
      const reply = await settle(lab.clock, sendRaw(lab, bytes));
      if (expected === 'silence') expect(reply, what).toBeUndefined();
      else {
        expect(reply, what).toBeDefined();
        const id = (bytes[0]! << 8) | bytes[1]!;
        expect((reply![0]! << 8) | reply![1]!, what).toBe(id);
        expect(reply![2]! & 0x80, `${what}: QR`).toBe(0x80);
        expect(reply![3]! & 0x0f, `${what}: rcode`).toBe(1);
      }
      expect(s.stats.malformed[counter], what).toBe(before + 1);
    }
    expect(s.stats.internalErrors).toBe(0);
    expect(s.stats.rcodes.FORMERR).toBe(cases.filter((c) => c[2] === 'FORMERR').length);
    // Still serving.
    s.addHost('web', '10.0.0.10');
    expect((await ask(lab, 'web')).answers).toMatchObject([{ data: '10.0.0.10' }]);
  });

  it('an unknown opcode gets NOTIMP, a CHAOS-class question REFUSED, a zone transfer REFUSED', async () => {
    const lab = await dnsLab();
    const q = good(5);
    q[2] = (q[2]! & 0x87) | (2 << 3); // opcode 2 (STATUS)
    expect((await settle(lab.clock, sendRaw(lab, q)))![3]! & 0xf).toBe(4);
    const chaos = dnsPacket.encode({ type: 'query', id: 6, questions: [{ name: 'version.bind', type: 'TXT', class: 'CH' }] });
    expect((await settle(lab.clock, sendRaw(lab, chaos)))![3]! & 0xf).toBe(5);
    expect((await ask(lab, 'example.test', { type: 'AXFR' as 'A' })).rcode).toBe('REFUSED');
    expect(lab.server.stats.refused).toMatchObject({ class: 1, transfer: 1 });
  });

  it('fast-check: random bytes and mutated queries never throw; each is answered validly or dropped, and counted', async () => {
    const lab = await dnsLab({ upstreams: [] });
    const s = lab.server;
    lab.server.addHost('web', '10.0.0.10');
    const base = good(77);
    const mutated = fc
      .tuple(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(base.length))
      .map(([edits, cut]) => {
        const b = Uint8Array.from(base);
        for (const [i, v] of edits) b[i] = v;
        return b.subarray(0, Math.max(cut, 1));
      });
    let messages = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 600 }), mutated), async (bytes) => {
        messages++;
        const before = malformedTotal(s);
        const replies = Object.values(s.stats.rcodes).reduce((x, y) => x + y, 0);
        const reply = await s.handle(bytes, 'udp');
        expect(s.stats.internalErrors).toBe(0);
        if (reply === undefined) {
          expect(malformedTotal(s)).toBe(before + 1);
          return;
        }
        expect(reply.length).toBeGreaterThanOrEqual(12);
        expect(reply.length).toBeLessThanOrEqual(512);
        expect(reply[2]! & 0x80).toBe(0x80);
        expect(RCODE_OK.has(reply[3]! & 0xf)).toBe(true);
        if ((reply[3]! & 0xf) === 1) expect(malformedTotal(s)).toBe(before + 1);
        expect(Object.values(s.stats.rcodes).reduce((x, y) => x + y, 0)).toBe(replies + 1);
      }),
      { numRuns: 3000, seed: 20261205 },
    );
    expect(s.stats.queries.udp).toBe(messages);
    expect(s.stats.malformed.decode + s.stats.malformed.badCount).toBeGreaterThan(100);
  });

  it('fast-check: mutated queries that reach the forwarder (odd types and classes) never throw either', async () => {
    const lab = await dnsLab({ timeoutMs: 200, attempts: 1 });
    const s = lab.server;
    const base = dnsPacket.encode({ type: 'query', id: 9, questions: [{ name: 'www.example.test', type: 'A', class: 'IN' }] });
    const qEnd = base.length;
    // Mutate only the question's type and class and a few name bytes: most stay parsable and are forwarded.
    const mutated = fc
      .tuple(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(1, 1, 1, 3, 255, 0xfe), fc.array(fc.tuple(fc.integer({ min: 13, max: qEnd - 6 }), fc.integer({ min: 0x21, max: 0x7e })), { maxLength: 2 }))
      .map(([type, cls, edits]) => {
        const b = Uint8Array.from(base);
        b[qEnd - 4] = type >> 8;
        b[qEnd - 3] = type & 255;
        b[qEnd - 2] = cls >> 8;
        b[qEnd - 1] = cls & 255;
        for (const [i, v] of edits) b[i] = v;
        return b;
      });
    await fc.assert(
      fc.asyncProperty(mutated, async (bytes) => {
        const reply = await settle(lab.clock, s.handle(bytes, 'udp'), 5_000);
        expect(reply).toBeDefined();
        expect(RCODE_OK.has(reply![3]! & 0xf)).toBe(true);
        expect(s.stats.internalErrors).toBe(0);
      }),
      { numRuns: 300, seed: 7 },
    );
    expect(lab.upstream.log.length).toBeGreaterThan(100);
  });

  it('over TCP: a zero length frame closes the connection (counted); pipelined queries are all answered', async () => {
    const lab = await dnsLab();
    lab.server.addHost('web', '10.0.0.10');
    const sock = lab.client.tcp.connect({ host: '10.0.0.1', port: 53 });
    const got: Uint8Array[] = [];
    let closed = false;
    sock.on('data', (d: Uint8Array) => got.push(d));
    sock.on('close', () => (closed = true));
    sock.on('error', () => undefined);
    sock.write(Buffer.concat([frame(good(1)), frame(good(2)), frame(Uint8Array.from([1, 2, 3]))]));
    await runFor(lab.clock, 500);
    const all = Buffer.concat(got);
    // Two answers, each length-prefixed; the runt got silence.
    const first = all.readUInt16BE(0);
    expect(dnsPacket.decode(all.subarray(2, 2 + first)).id).toBe(1);
    expect(dnsPacket.decode(all.subarray(4 + first)).id).toBe(2);
    expect(lab.server.stats.malformed.short).toBe(1);
    sock.write(Uint8Array.from([0, 0]));
    await runFor(lab.clock, 500);
    expect(closed).toBe(true);
    expect(lab.server.stats.tcpClosed.framing).toBe(1);
  });

  it('closes idle TCP connections after tcpIdleMs, and refuses connections beyond the limit', async () => {
    const lab = await dnsLab({ tcpIdleMs: 1000, maxTcpConnections: 1 });
    const s1 = lab.client.tcp.connect({ host: '10.0.0.1', port: 53 });
    let closed1 = false;
    s1.on('close', () => (closed1 = true));
    s1.on('error', () => undefined);
    s1.resume(); // flowing, so the server's FIN is read and the socket closes
    await settle(lab.clock, new Promise((r) => s1.once('connect', r)));
    const s2 = lab.client.tcp.connect({ host: '10.0.0.1', port: 53 });
    s2.on('error', () => undefined);
    s2.resume();
    await settle(lab.clock, new Promise((r) => s2.once('close', r)), 5000);
    expect(lab.server.stats.refused.tcpConnections).toBe(1);
    expect(closed1).toBe(false);
    await runFor(lab.clock, 1500);
    expect(closed1).toBe(true);
    expect(lab.server.stats.tcpClosed.idle).toBe(1);
  });
});
