/**
 * Properties of the NAT rewrite, checked with fast-check and the wire
 * decoders: for random flows (TCP, UDP, ICMP echo; masquerade, a published
 * port, or both as hairpin), (1) translation is invertible — the reply the
 * peer sends to the translated packet, translated back, is exactly the reply
 * to the original packet — and (2) every checksum (IP, TCP/UDP with the
 * pseudo-header, ICMP) stays valid after each rewrite. Also: a GSO
 * super-frame with a partial checksum is translated whole and its checksum
 * completes correctly afterwards.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { completeChecksum, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4, writeVnetHdr } from '../../src/link/gso.js';
import { VNET_HDR_LEN } from '../../src/link/port.js';
import { fold32, pseudoHeaderSum } from '../../src/wire/checksum.js';
import { formatIPv4 } from '../../src/wire/address.js';
import { decodeIcmp } from '../../src/wire/icmp.js';
import { decodeIPv4, IP_PROTOCOL } from '../../src/wire/ipv4.js';
import { decodeTcp } from '../../src/wire/tcp.js';
import { decodeUdp } from '../../src/wire/udp.js';
import { echo, hookRouter, ip, tcp, TCP_FLAG, udp } from './helpers.js';

interface Flow {
  protocol: number;
  src: number;
  dst: number;
  sport: number;
  dport: number;
}

/** Decodes a datagram and checks every checksum; returns its flow. */
function checked(d: Uint8Array): Flow {
  const p = decodeIPv4(d);
  if (!p.ok) throw new Error(`IPv4 invalid after rewrite: ${p.message}`);
  const { src, dst, protocol, payload } = p.value;
  if (protocol === IP_PROTOCOL.TCP) {
    const t = decodeTcp(payload, { src, dst });
    if (!t.ok) throw new Error(`TCP invalid after rewrite: ${t.message}`);
    return { protocol, src, dst, sport: t.value.srcPort, dport: t.value.dstPort };
  }
  if (protocol === IP_PROTOCOL.UDP) {
    const u = decodeUdp(payload, { src, dst });
    if (!u.ok) throw new Error(`UDP invalid after rewrite: ${u.message}`);
    return { protocol, src, dst, sport: u.value.srcPort, dport: u.value.dstPort };
  }
  const m = decodeIcmp(payload);
  if (!m.ok || (m.value.kind !== 'echo-request' && m.value.kind !== 'echo-reply')) throw new Error('ICMP invalid after rewrite');
  return { protocol, src, dst, sport: m.value.identifier, dport: m.value.identifier };
}

/** The packet a peer sends back for `f` (ports swapped; an echo reply for an echo). */
function replyTo(f: Flow, payload: Uint8Array): Uint8Array {
  const s = formatIPv4(f.dst);
  const d = formatIPv4(f.src);
  if (f.protocol === IP_PROTOCOL.TCP) return tcp(s, f.dport, d, f.sport, { flags: TCP_FLAG.SYN | TCP_FLAG.ACK, seq: 77, ack: 1001, payload });
  if (f.protocol === IP_PROTOCOL.UDP) return udp(s, f.dport, d, f.sport, payload);
  return echo(s, d, f.sport, 'echo-reply');
}

const inside = fc.integer({ min: 2, max: 254 }).map((n) => `172.30.0.${n}`);
const outside = fc.integer({ min: 2, max: 254 }).map((n) => `10.201.${n % 8}.${n}`);
const port = fc.integer({ min: 1, max: 65535 });

describe('NAT properties', () => {
  it('masquerade: the reply to the translated packet translates back to the reply to the original; checksums valid', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('tcp', 'udp', 'icmp'), inside, outside, port, port, fc.uint8Array({ maxLength: 64 }),
        fc.option(fc.tuple(fc.integer({ min: 1024, max: 60000 }), fc.integer({ min: 0, max: 20 })), { nil: undefined }),
        fc.integer({ min: 0, max: 3 }),
        (proto, a, s, sport, dport, payload, range, preload) => {
          const h = hookRouter({ nat: { log: () => undefined } });
          h.nat.masquerade('eth1', range ? { portRange: [range[0], range[0] + range[1]] } : {});
          const mk = (src: string, sp: number) =>
            proto === 'tcp' ? tcp(src, sp, s, dport, { flags: TCP_FLAG.SYN, seq: 1000, payload: new Uint8Array(0) })
              : proto === 'udp' ? udp(src, sp, s, dport, payload) : echo(src, s, sp);
          // Other hosts' flows with the same source port first, so some ports must be reallocated.
          for (let i = 0; i < preload; i++) h.out(mk(`172.30.1.${i + 1}`, sport));
          const pkt = mk(a, sport);
          const original = checked(pkt);
          if (!h.out(pkt)) {
            // The range was exhausted by the preload: a counted refusal.
            expect(h.nat.stats.refused.portExhausted).toBeGreaterThanOrEqual(1);
            return;
          }
          const translated = checked(pkt);
          expect(formatIPv4(translated.src)).toBe('10.201.0.1');
          const reply = replyTo(translated, payload);
          expect(h.back(reply)).toBe(true);
          const back = checked(reply);
          const expected = checked(replyTo(original, payload));
          expect(back).toEqual(expected);
          h.r.close();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('DNAT and hairpin: invertible, checksums valid, the client keeps its address (DNAT) or sees the gateway (hairpin)', () => {
    fc.assert(
      fc.property(fc.constantFrom('tcp', 'udp'), fc.boolean(), inside, outside, port, port, port, fc.uint8Array({ maxLength: 64 }),
        (proto, hairpin, container, client, pub, toPort, cport, payload) => {
          const h = hookRouter();
          h.nat.masquerade('eth1');
          h.nat.publish({ protocol: proto, port: pub, toAddress: container, toPort });
          const from = hairpin ? '172.30.0.254' : client;
          if (hairpin && container === from) return;
          const pkt = proto === 'tcp'
            ? tcp(from, cport, '10.201.0.1', pub, { flags: TCP_FLAG.SYN, seq: 1000 })
            : udp(from, cport, '10.201.0.1', pub, payload);
          const original = checked(pkt);
          const ingress = hairpin ? h.inside : h.uplink;
          const egress = h.inside;
          expect(h.nat.prerouting(pkt, 0, pkt.length, ingress, -1) && h.nat.postrouting(pkt, 0, pkt.length, egress, ingress, -1)).toBe(true);
          const there = checked(pkt);
          expect([formatIPv4(there.dst), there.dport]).toEqual([container, toPort]);
          expect(formatIPv4(there.src)).toBe(hairpin ? '172.30.0.1' : client);
          const reply = replyTo(there, payload);
          expect(h.nat.prerouting(reply, 0, reply.length, h.inside, -1) && h.nat.postrouting(reply, 0, reply.length, ingress, h.inside, -1)).toBe(true);
          expect(checked(reply)).toEqual(checked(replyTo(original, payload)));
          h.r.close();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a TSO super-frame with a partial checksum is translated whole; completing the checksum afterwards gives a valid segment', () => {
    fc.assert(
      fc.property(inside, outside, port, port, fc.integer({ min: 1, max: 60000 }), (a, s, sport, dport, size) => {
        const h = hookRouter();
        h.nat.masquerade('eth1', { portRange: [50000, 50000] });
        const data = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
        const dgram = tcp(a, sport, s, dport, { flags: TCP_FLAG.ACK | TCP_FLAG.SYN, seq: 5, ack: 9, payload: data });
        // As the kernel hands it over with NEEDS_CSUM: the checksum field holds the folded pseudo-header sum.
        const tcpLen = dgram.length - 20;
        const partial = fold32(pseudoHeaderSum(ip(a), ip(s), IP_PROTOCOL.TCP, tcpLen));
        dgram[36] = partial >>> 8;
        dgram[37] = partial & 0xff;
        const frame = new Uint8Array(VNET_HDR_LEN + 14 + dgram.length);
        writeVnetHdr({ flags: VNET_HDR_F_NEEDS_CSUM, gsoType: VNET_HDR_GSO_TCPV4, hdrLen: 54, gsoSize: 1448, csumStart: 34, csumOffset: 16 }, frame, 0);
        frame.set(dgram, VNET_HDR_LEN + 14);
        const off = VNET_HDR_LEN + 14;
        // SYN|ACK as a first packet is invalid for conntrack; open the flow with a SYN first.
        expect(h.out(tcp(a, sport, s, dport, { flags: TCP_FLAG.SYN, seq: 4 }))).toBe(true);
        expect(h.back(tcp(s, dport, '10.201.0.1', 50000, { flags: TCP_FLAG.SYN | TCP_FLAG.ACK, seq: 8, ack: 5 }))).toBe(true);
        frame[off + 33] = TCP_FLAG.ACK; // data with an ACK, in window after the handshake (seq 5, ack 9)
        expect(h.nat.prerouting(frame, off, dgram.length, h.inside, 0)).toBe(true);
        expect(h.nat.postrouting(frame, off, dgram.length, h.uplink, h.inside, 0)).toBe(true);
        expect(completeChecksum(frame, 0, VNET_HDR_LEN, frame.length - VNET_HDR_LEN)).toBe(true);
        const out = frame.subarray(off);
        const f = checked(out);
        expect([formatIPv4(f.src), f.sport]).toEqual(['10.201.0.1', 50000]);
        h.r.close();
      }),
      { numRuns: 100 },
    );
  });
});
