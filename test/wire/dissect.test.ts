/**
 * Whole-frame dissection: every layer decoded, tcpdump-like summaries, and a
 * fault in any layer reported without losing the layers before it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIPv4, parseMac } from '../../src/wire/address.js';
import { encodeArp, arpRequest } from '../../src/wire/arp.js';
import { dissect, dissectionToJson } from '../../src/wire/dissect.js';
import { encodeEthernet, ETHERTYPE } from '../../src/wire/ethernet.js';
import { encodeIcmp } from '../../src/wire/icmp.js';
import { encodeIPv4, IP_PROTOCOL, type IPv4Header } from '../../src/wire/ipv4.js';
import { encodeTcp, TCP_FLAG } from '../../src/wire/tcp.js';
import { encodeUdp } from '../../src/wire/udp.js';

const A = parseIPv4('10.0.0.1');
const B = parseIPv4('10.0.0.2');
const MAC_A = parseMac('02:00:00:00:00:01');
const MAC_B = parseMac('02:00:00:00:00:02');

function ipHeader(protocol: number, extra: Partial<IPv4Header> = {}): IPv4Header {
  return {
    dscp: 0, ecn: 0, identification: 7, dontFragment: true, moreFragments: false, reservedFlag: false,
    fragmentOffset: 0, ttl: 64, protocol, src: A, dst: B, options: new Uint8Array(0), ...extra,
  };
}
const eth = (payload: Uint8Array, vids: number[] = [], etherType: number = ETHERTYPE.IPV4) =>
  encodeEthernet({ dst: MAC_B, src: MAC_A, tags: vids.map((vid) => ({ tpid: 0x8100, pcp: 0, dei: false, vid })), etherType }, payload);

describe('dissect', () => {
  it('prints a TCP SYN like tcpdump, with its VLAN', () => {
    const tcp = encodeTcp(
      { srcPort: 40000, dstPort: 80, seq: 123, ack: 0, flags: TCP_FLAG.SYN, window: 64240, urgentPointer: 0,
        options: [{ kind: 'mss', value: 1460 }, { kind: 'sack-permitted' }] },
      new Uint8Array(0), { src: A, dst: B });
    const d = dissect(eth(encodeIPv4(ipHeader(IP_PROTOCOL.TCP), tcp), [42]));
    expect(d.error).toBeUndefined();
    expect(d.layers.map((l) => l.layer)).toEqual(['ethernet', 'ipv4', 'tcp']);
    expect(d.summary).toBe('vlan 42, p 0, IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 123, win 64240, options [mss 1460,sackOK,eol], length 0'); // padding shows as eol, as in tcpdump
    expect(d.details).toHaveLength(3);
  });

  it('prints ARP, UDP and ICMP', () => {
    expect(dissect(eth(encodeArp(arpRequest(MAC_A, A, B)), [], ETHERTYPE.ARP)).summary).toBe('ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28');
    const udp = encodeUdp({ srcPort: 5353, dstPort: 53 }, new Uint8Array(12), { src: A, dst: B });
    expect(dissect(eth(encodeIPv4(ipHeader(IP_PROTOCOL.UDP), udp))).summary).toBe('IP 10.0.0.1.5353 > 10.0.0.2.53: UDP, length 12');
    const icmp = encodeIcmp({ kind: 'echo-request', code: 0, identifier: 5, sequence: 1, data: new Uint8Array(56) });
    expect(dissect(eth(encodeIPv4(ipHeader(IP_PROTOCOL.ICMP), icmp))).summary).toBe('IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 5, seq 1, length 64');
  });

  it('names a later fragment instead of misreading its bytes as a transport header', () => {
    const d = dissect(eth(encodeIPv4(ipHeader(IP_PROTOCOL.UDP, { fragmentOffset: 1480, dontFragment: false }), new Uint8Array(100))));
    expect(d.error).toBeUndefined();
    expect(d.layers.map((l) => l.layer)).toEqual(['ethernet', 'ipv4']);
    expect(d.summary).toBe('IP 10.0.0.1 > 10.0.0.2: UDP (17) fragment, id 7, offset 1480, length 100');
  });

  it('keeps the layers before a fault and names the fault', () => {
    const udp = encodeUdp({ srcPort: 1, dstPort: 2 }, new Uint8Array(4), { src: A, dst: B });
    udp[6] = udp[6]! ^ 0xff; // break the UDP checksum
    const d = dissect(eth(encodeIPv4(ipHeader(IP_PROTOCOL.UDP), udp)));
    expect(d.layers.map((l) => l.layer)).toEqual(['ethernet', 'ipv4']);
    expect(d.error?.layer).toBe('udp');
    expect(d.error?.code).toBe('bad-checksum');
    expect(d.summary).toMatch(/^IP 10\.0\.0\.1 > 10\.0\.0\.2: UDP \[malformed udp: bad-checksum: /);
  });

  it('never throws on random bytes, and its JSON view always serialises', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const d = dissect(bytes);
        expect(typeof d.summary).toBe('string');
        JSON.stringify(dissectionToJson(d));
      }),
      { numRuns: 3000 },
    );
  });

  it('formats addresses in JSON the way ip prints them', () => {
    const icmp = encodeIcmp({ kind: 'echo-reply', code: 0, identifier: 1, sequence: 2, data: new Uint8Array(0) });
    const j = dissectionToJson(dissect(eth(encodeIPv4(ipHeader(IP_PROTOCOL.ICMP), icmp)))) as Record<string, Record<string, unknown>>;
    expect(j['ethernet']?.['src']).toBe('02:00:00:00:00:01');
    expect(j['ipv4']?.['dst']).toBe('10.0.0.2');
    expect(j['icmp']?.['kind']).toBe('echo-reply');
  });
});
