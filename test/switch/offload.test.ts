/**
 * Offloads survive VLAN rewrites end to end: a TSO super-frame (NEEDS_CSUM,
 * GSO_TCPV4) from a vnet batch has its tag pushed or popped by the bridge and
 * goes out of a plain in-memory pipe, which segments it in software; and a
 * plain NEEDS_CSUM frame, whose checksum the pipe completes at the
 * csum_start the bridge moved. Everything must arrive with the right tagging
 * and with IPv4 and TCP checksums that verify.
 */
import { describe, expect, it } from 'vitest';
import { Bridge } from '../../src/switch/bridge.js';
import { createPipe } from '../../src/link/pipe.js';
import { VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4, writeVnetHdr } from '../../src/link/gso.js';
import type { RxBatch } from '../../src/link/port.js';
import { parseIPv4 } from '../../src/wire/address.js';
import { fold32, pseudoHeaderSum } from '../../src/wire/checksum.js';
import { ETHERTYPE, decodeEthernet, encodeEthernet, type VlanTag } from '../../src/wire/ethernet.js';
import { IP_PROTOCOL, decodeIPv4, encodeIPv4 } from '../../src/wire/ipv4.js';
import { decodeTcp, encodeTcp } from '../../src/wire/tcp.js';
import { VirtualClock } from '../../src/time/index.js';
import { FakePort, mac } from './helpers.js';

const SRC = parseIPv4('10.9.0.1');
const DST = parseIPv4('10.9.0.2');
const MSS = 1000;

/** A TCP super-frame as Linux hands it to a vnet TAP: partial checksum, gso_size MSS. */
function tso(payloadLen: number, tags: VlanTag[], gso = true): { frame: Uint8Array; vnet: Uint8Array; payload: Uint8Array } {
  const payload = Uint8Array.from({ length: payloadLen }, (_, i) => (i * 7 + 3) & 0xff);
  const tcp = encodeTcp(
    {
      srcPort: 40000,
      dstPort: 80,
      seq: 1000,
      ack: 1,
      flags: 0x18,
      window: 500,
      optionBytes: new Uint8Array(0),
      checksum: fold32(pseudoHeaderSum(SRC, DST, IP_PROTOCOL.TCP, 20 + payloadLen)),
    },
    payload,
    { src: SRC, dst: DST },
  );
  const ip = encodeIPv4(
    {
      dscp: 0,
      ecn: 0,
      identification: 7,
      dontFragment: true,
      moreFragments: false,
      reservedFlag: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol: IP_PROTOCOL.TCP,
      src: SRC,
      dst: DST,
      options: new Uint8Array(0),
    },
    tcp,
  );
  const frame = encodeEthernet({ dst: mac(2), src: mac(1), tags, etherType: ETHERTYPE.IPV4 }, ip);
  const l2 = 14 + 4 * tags.length;
  const vnet = new Uint8Array(10);
  writeVnetHdr(
    { flags: VNET_HDR_F_NEEDS_CSUM, gsoType: gso ? VNET_HDR_GSO_TCPV4 : 0, hdrLen: l2 + 40, gsoSize: gso ? MSS : 0, csumStart: l2 + 20, csumOffset: 16 },
    vnet,
    0,
  );
  return { frame, vnet, payload };
}

function run(ingress: 'access' | 'trunk', payloadLen = 2500, gso = true) {
  const clock = new VirtualClock();
  const bridge = new Bridge({ clock });
  const src = new FakePort('src', true);
  const [sw, far] = createPipe(clock, { names: ['sw', 'far'] });
  const got: Uint8Array[] = [];
  far.onReceive = (b: RxBatch) => {
    for (let i = 0; i < b.count; i++) got.push(b.buf.slice(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!));
  };
  if (ingress === 'access') {
    bridge.addPort(src, { mode: 'access', pvid: 10 });
    bridge.addPort(sw, { mode: 'trunk', allowed: [10] });
  } else {
    bridge.addPort(src, { mode: 'trunk', allowed: [10] });
    bridge.addPort(sw, { mode: 'access', pvid: 10 });
  }
  const t = tso(payloadLen, ingress === 'access' ? [] : [{ tpid: 0x8100, pcp: 3, dei: false, vid: 10 }], gso);
  src.inject([t.frame], [t.vnet]);
  clock.advance(1);
  return { got, payload: t.payload, bridge };
}

describe('offloads across a VLAN rewrite', () => {
  for (const ingress of ['access', 'trunk'] as const) {
    it(`${ingress} → ${ingress === 'access' ? 'trunk (tag pushed)' : 'access (tag popped)'}: a TSO frame arrives as valid segments`, () => {
      const { got, payload, bridge } = run(ingress);
      expect(got.map((f) => f.length)).toEqual(
        ingress === 'access' ? [1058, 1058, 558] : [1054, 1054, 554],
      );
      const joined: number[] = [];
      for (const f of got) {
        const eth = decodeEthernet(f);
        if (!eth.ok) throw new Error(eth.message);
        expect(eth.value.tags.map((tag) => tag.vid)).toEqual(ingress === 'access' ? [10] : []);
        const ip = decodeIPv4(eth.value.payload);
        if (!ip.ok) throw new Error(ip.message);
        const tcp = decodeTcp(ip.value.payload, { src: SRC, dst: DST, verifyChecksum: true });
        if (!tcp.ok) throw new Error(tcp.message);
        joined.push(...tcp.value.payload);
      }
      expect(Uint8Array.from(joined)).toEqual(payload);
      expect(bridge.portCounters('sw').txFrames).toBe(1);
    });
  }

  for (const ingress of ['access', 'trunk'] as const) {
    it(`${ingress}: a NEEDS_CSUM frame (no GSO) is completed at the moved csum_start`, () => {
      const { got } = run(ingress, 300, false);
      expect(got).toHaveLength(1);
      const eth = decodeEthernet(got[0]!);
      if (!eth.ok) throw new Error(eth.message);
      expect(eth.value.tags.length).toBe(ingress === 'access' ? 1 : 0);
      const ip = decodeIPv4(eth.value.payload);
      if (!ip.ok) throw new Error(ip.message);
      const tcp = decodeTcp(ip.value.payload, { src: SRC, dst: DST, verifyChecksum: true });
      expect(tcp.ok, tcp.ok ? '' : tcp.message).toBe(true);
    });
  }
});
