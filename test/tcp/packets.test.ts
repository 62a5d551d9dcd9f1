/**
 * Packet-level tests (packetimpact style): a raw pipe end plays the peer,
 * injects exact segments built with src/wire/tcp.ts at a wirelab stack and
 * asserts exactly what comes back — RFC 5961 challenge ACKs for blind RSTs
 * and SYNs, out-of-window data, bad checksums, ACKs for unsent data, RSTs
 * for closed ports, SYN-ACK option layout, D-SACK and SACK blocks, PAWS.
 */
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { createPipe, type PipePort } from '../../src/link/pipe.js';
import { createStack, type Stack } from '../../src/stack.js';
import type { TcpConnection } from '../../src/tcp/connection.js';
import type { TcpOptions } from '../../src/tcp/state.js';
import { VirtualClock } from '../../src/time/index.js';
import { decodeEthernet, encodeEthernet, ETHERTYPE } from '../../src/wire/ethernet.js';
import { decodeIPv4, encodeIPv4, IP_PROTOCOL } from '../../src/wire/ipv4.js';
import { decodeTcp, encodeTcp, TCP_FLAG, type TcpHeader, type TcpSegment } from '../../src/wire/tcp.js';
import { findTcpOption, linuxTcpOptions, type TcpOptionRequest } from '../../src/wire/tcp-options.js';
import { A, B, Recorder } from './harness.js';

const RAW_MAC = 0x02000000aa01;
const { SYN, ACK, RST, FIN, PSH } = TCP_FLAG;

class RawPeer {
  readonly clock = new VirtualClock();
  readonly stack: Stack;
  readonly raw: PipePort;
  readonly rx: TcpSegment[] = [];
  server: TcpConnection | null = null;
  readonly app = new Recorder();
  /** Our next sequence number and the server's ISN + 1 after the handshake. */
  seq = 1000;
  srvNxt = 0;

  constructor(tcp: TcpOptions = {}) {
    const [raw, pb] = createPipe(this.clock);
    this.raw = raw;
    this.stack = createStack({ clock: this.clock, name: 'dut', seed: 5, tcp });
    this.stack.addInterface(pb, { addresses: ['10.0.0.2/24'], announce: false });
    this.stack.neighbours.addPermanent(A, RAW_MAC, 'eth0');
    raw.onReceive = (batch) => {
      for (let i = 0; i < batch.count; i++) {
        const frame = batch.buf.slice(batch.offsets[i]!, batch.offsets[i]! + batch.lengths[i]!);
        const eth = decodeEthernet(frame);
        if (!eth.ok || eth.value.etherType !== ETHERTYPE.IPV4) continue;
        const ip = decodeIPv4(eth.value.payload);
        if (!ip.ok || ip.value.protocol !== IP_PROTOCOL.TCP) continue;
        const seg = decodeTcp(ip.value.payload, { src: ip.value.src, dst: ip.value.dst });
        if (seg.ok) this.rx.push(seg.value);
      }
    };
    this.stack.tcpLayer.listen({ port: 80 }, (c) => {
      this.server = c;
      this.app.conn = c;
      c.handler = this.app;
    });
  }

  get stats() {
    return this.stack.tcpLayer.stats;
  }

  /** Sends one segment from 10.0.0.1 and lets the stack answer; returns what came back. */
  send(h: Partial<TcpHeader> & { flags: number }, payload = new Uint8Array(0), opts: { corrupt?: boolean } = {}): TcpSegment[] {
    const header: TcpHeader = { srcPort: 40000, dstPort: 80, seq: this.seq, ack: this.srvNxt, window: 65535, ...h };
    const tcp = encodeTcp(header, payload, { src: A, dst: B });
    if (opts.corrupt) tcp[16]! ^= 0x5a;
    const ip = encodeIPv4(
      { dscp: 0, ecn: 0, identification: 1, dontFragment: true, moreFragments: false, reservedFlag: false, fragmentOffset: 0, ttl: 64, protocol: 6, src: A, dst: B, options: new Uint8Array(0) },
      tcp,
    );
    const frame = encodeEthernet({ dst: this.stack.interfaces[0]!.mac, src: RAW_MAC, tags: [], etherType: ETHERTYPE.IPV4 }, ip);
    this.rx.length = 0;
    this.raw.send(frame, 0, frame.length, -1);
    this.clock.advance(1);
    return [...this.rx];
  }

  /** The three-way handshake with the given SYN options; returns the SYN-ACK. */
  handshake(options: TcpOptionRequest = { mss: 1460 }): TcpSegment {
    const [synAck] = this.send({ flags: SYN, ack: 0, options: linuxTcpOptions(options) });
    expect(synAck!.flags).toBe(SYN | ACK);
    this.seq++;
    this.srvNxt = (synAck!.seq + 1) >>> 0;
    const ts = options.timestamps ? { timestamps: { value: options.timestamps.value + 1, echo: tsVal(synAck!) } } : {};
    const back = this.send({ flags: ACK, options: linuxTcpOptions(ts) });
    expect(back).toEqual([]);
    expect(this.server?.state).toBe('ESTAB');
    return synAck!;
  }
}

function tsVal(s: TcpSegment): number {
  return findTcpOption(s.options, 'timestamps')?.value ?? 0;
}

/** The bare ACK an RFC 5961 challenge (or a duplicate ACK) is. */
function expectAck(out: TcpSegment[], peer: RawPeer): void {
  expect(out).toHaveLength(1);
  expect(out[0]!.flags).toBe(ACK);
  expect(out[0]!.seq).toBe(peer.srvNxt);
  expect(out[0]!.ack).toBe(peer.seq);
  expect(out[0]!.payload.length).toBe(0);
}

describe('packet level: an established connection', () => {
  let peer: RawPeer;
  beforeEach(() => {
    peer = new RawPeer();
    peer.handshake();
  });

  it('a blind RST inside the window earns a challenge ACK and changes nothing (RFC 5961 §3.2)', () => {
    const out = peer.send({ flags: RST, seq: peer.seq + 1000, ack: 0 });
    expectAck(out, peer);
    expect(peer.server!.state).toBe('ESTAB');
    expect(peer.stats.challengeAcks).toBe(1);
    expect(peer.stats.drops.rstInvalid).toBe(1);
  });

  it('a RST outside the window is dropped silently', () => {
    expect(peer.send({ flags: RST, seq: peer.seq + 1_000_000, ack: 0 })).toEqual([]);
    expect(peer.server!.state).toBe('ESTAB');
  });

  it('a RST exactly at RCV.NXT resets: ECONNRESET, no answer', () => {
    expect(peer.send({ flags: RST, ack: 0 })).toEqual([]);
    expect(peer.server!.state).toBe('CLOSED');
    expect(peer.app.closedWith?.code).toBe('ECONNRESET');
  });

  it('a SYN inside the window earns a challenge ACK (RFC 5961 §4.2)', () => {
    const out = peer.send({ flags: SYN, seq: peer.seq + 500, ack: 0, options: linuxTcpOptions({ mss: 1460 }) });
    expectAck(out, peer);
    expect(peer.server!.state).toBe('ESTAB');
    expect(peer.stats.drops.synInvalid).toBe(1);
  });

  it('data beyond the window is dropped and ACKed', () => {
    const out = peer.send({ flags: ACK | PSH, seq: peer.seq + 70_000 }, new Uint8Array(100));
    expectAck(out, peer);
    expect(peer.app.bytes).toBe(0);
    expect(peer.stats.drops.outOfWindow).toBe(1);
  });

  it('old data (left of the window) is dropped and ACKed', () => {
    peer.send({ flags: ACK | PSH }, new Uint8Array(100).fill(1));
    peer.seq += 100;
    peer.clock.advance(100);
    const out = peer.send({ flags: ACK | PSH, seq: peer.seq - 100 }, new Uint8Array(100).fill(2));
    expectAck(out, peer);
    expect(peer.app.bytes).toBe(100);
    expect(peer.app.chunks[0]![0]).toBe(1);
  });

  it('a bad checksum is counted and ignored', () => {
    expect(peer.send({ flags: ACK | PSH }, new Uint8Array(10), { corrupt: true })).toEqual([]);
    expect(peer.stats.drops.badChecksum).toBe(1);
    expect(peer.app.bytes).toBe(0);
    peer.send({ flags: ACK | PSH }, new TextEncoder().encode('0123456789'));
    peer.clock.advance(100);
    expect(peer.app.text()).toBe('0123456789');
  });

  it('an ACK for data never sent is ignored and answered with an ACK (RFC 9293 / RFC 5961 §5.2)', () => {
    const out = peer.send({ flags: ACK | PSH, ack: peer.srvNxt + 5000 }, new Uint8Array(10));
    expectAck(out, peer);
    expect(peer.app.bytes).toBe(0); // the whole segment was dropped
    expect(peer.stats.drops.ackUnsent).toBe(1);
    expect(peer.server!.state).toBe('ESTAB');
    expect(peer.server!.snd.sndUna).toBe(peer.srvNxt);
  });

  it('a segment without ACK is dropped', () => {
    expect(peer.send({ flags: PSH, ack: 0 }, new Uint8Array(10))).toEqual([]);
    expect(peer.stats.drops.noAck).toBe(1);
    expect(peer.app.bytes).toBe(0);
  });

  it('in-order data is delivered and ACKed after the delayed-ACK timer or every second segment', () => {
    const out = peer.send({ flags: ACK | PSH }, new Uint8Array(1460));
    peer.seq += 1460;
    // quick-ACK mode at the start of a connection: at once
    expectAck(out, peer);
    expect(peer.app.bytes).toBe(1460);
  });

  it('a FIN moves the server to CLOSE-WAIT with an immediate ACK; its close sends FIN', () => {
    const out = peer.send({ flags: ACK | FIN });
    peer.seq++;
    expectAck(out, peer);
    expect(peer.server!.state).toBe('CLOSE-WAIT');
    expect(peer.app.fin).toBe(true);
    peer.rx.length = 0;
    peer.server!.close();
    peer.clock.advance(1);
    expect(peer.rx).toHaveLength(1);
    expect(peer.rx[0]!.flags).toBe(FIN | ACK);
    expect(peer.rx[0]!.seq).toBe(peer.srvNxt);
    expect(peer.server!.state).toBe('LAST-ACK');
    expect(peer.send({ flags: ACK, ack: peer.srvNxt + 1 })).toEqual([]);
    expect(peer.server!.state).toBe('CLOSED');
  });
});

describe('packet level: no socket', () => {
  it('SYN to a closed port → RST|ACK with SEQ 0, ACK = SEG.SEQ + 1', () => {
    const peer = new RawPeer();
    const out = peer.send({ flags: SYN, dstPort: 81, seq: 5000, ack: 0 });
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ flags: RST | ACK, seq: 0, ack: 5001, srcPort: 81, dstPort: 40000 });
  });

  it('ACK to a closed port → RST with SEQ = SEG.ACK; a RST gets nothing', () => {
    const peer = new RawPeer();
    const out = peer.send({ flags: ACK | PSH, dstPort: 81, seq: 5000, ack: 777 }, new Uint8Array(5));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ flags: RST, seq: 777 });
    expect(peer.send({ flags: RST, dstPort: 81 })).toEqual([]);
    expect(peer.stats.drops.noSocket).toBe(2);
  });

  it('an ACK to a listener (no cookie outstanding) is answered with RST', () => {
    const peer = new RawPeer();
    const out = peer.send({ flags: ACK, seq: 5000, ack: 12345 });
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ flags: RST, seq: 12345 });
    expect(peer.stats.drops.ackToListener).toBe(1); // counted, as the property test asks of every refusal
  });

  it('a RST to a listener gets nothing and is counted (rstToListener, tcp_rcv_state_process)', () => {
    // Found by test/ip/hostile-property.test.ts: it was discarded without a counter.
    const peer = new RawPeer();
    expect(peer.send({ flags: RST, seq: 5000, ack: 0 })).toEqual([]);
    expect(peer.stats.drops.rstToListener).toBe(1);
  });

  it('in SYN-RECV, an ACK that is not for our SYN-ACK is reset and counted (tcp_check_req)', () => {
    // Found by test/ip/hostile-property.test.ts: the RST went out with no drop counted.
    const peer = new RawPeer();
    const [synAck] = peer.send({ flags: SYN, ack: 0 });
    peer.seq++;
    const out = peer.send({ flags: ACK, ack: synAck!.seq }); // acknowledges nothing of ours
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ flags: RST, seq: synAck!.seq });
    expect(peer.stats.drops.ackTooOld).toBe(1);
    const peer2 = new RawPeer();
    const [s2] = peer2.send({ flags: SYN, ack: 0 });
    peer2.seq++;
    expect(peer2.send({ flags: ACK, ack: (s2!.seq + 5) >>> 0 })).toHaveLength(1); // acknowledges data never sent
    expect(peer2.stats.drops.ackUnsent).toBe(1);
  });
});

describe('packet level: options', () => {
  it('the SYN-ACK mirrors a Linux SYN with Linux’s option layout', () => {
    const peer = new RawPeer();
    const [synAck] = peer.send({ flags: SYN, ack: 0, options: linuxTcpOptions({ mss: 1460, sackPermitted: true, timestamps: { value: 777, echo: 0 }, wscale: 7 }) });
    const ts = tsVal(synAck!);
    expect(synAck!.options).toEqual(linuxTcpOptions({ mss: 1460, sackPermitted: true, timestamps: { value: ts, echo: 777 }, wscale: 7 }));
    expect([...synAck!.optionBytes.subarray(0, 4)]).toEqual([2, 4, 5, 0xb4]);
    expect([...synAck!.optionBytes.subarray(16, 20)]).toEqual([1, 3, 3, 7]);
    expect(synAck!.window).toBe(65535);
    expect(synAck!.ack).toBe(1001);
  });

  it('a bare SYN (no options) gets a SYN-ACK with only the MSS; the peer is assumed to take 536', () => {
    const peer = new RawPeer();
    const [synAck] = peer.send({ flags: SYN, ack: 0 });
    expect(synAck!.options).toEqual([{ kind: 'mss', value: 1460 }]);
    peer.seq++;
    peer.srvNxt = synAck!.seq + 1;
    peer.send({ flags: ACK });
    expect(peer.server!.info().mss).toBe(536);
  });

  it('a retransmitted SYN in SYN-RECV gets the SYN-ACK again at once', () => {
    const peer = new RawPeer();
    const [a] = peer.send({ flags: SYN, ack: 0 });
    const [b] = peer.send({ flags: SYN, ack: 0 });
    expect(b).toMatchObject({ flags: SYN | ACK, seq: a!.seq, ack: 1001 });
  });

  it('SACK: a hole is reported at once; a duplicate is reported as D-SACK (RFC 2883)', () => {
    const peer = new RawPeer();
    peer.handshake({ mss: 1460, sackPermitted: true });
    const base = peer.seq;
    peer.send({ flags: ACK | PSH }, new Uint8Array(100));
    peer.clock.advance(200);
    const out = peer.send({ flags: ACK | PSH, seq: base + 200 }, new Uint8Array(100));
    expect(out).toHaveLength(1);
    expect(out[0]!.ack).toBe(base + 100);
    expect(findTcpOption(out[0]!.options, 'sack')?.blocks).toEqual([{ left: base + 200, right: base + 300 }]);
    const dup = peer.send({ flags: ACK | PSH, seq: base }, new Uint8Array(100));
    expect(findTcpOption(dup[0]!.options, 'sack')?.blocks).toEqual([
      { left: base, right: base + 100 },
      { left: base + 200, right: base + 300 },
    ]);
    const fill = peer.send({ flags: ACK | PSH, seq: base + 100 }, new Uint8Array(100));
    expect(fill[0]!.ack).toBe(base + 300);
    expect(findTcpOption(fill[0]!.options, 'sack')).toBeUndefined();
    expect(peer.app.bytes).toBe(300);
  });

  it('PAWS: a segment with an old timestamp is dropped and ACKed', () => {
    const peer = new RawPeer();
    peer.handshake({ mss: 1460, timestamps: { value: 1000, echo: 0 } });
    const opts = (v: number) => linuxTcpOptions({ timestamps: { value: v, echo: 0 } });
    peer.send({ flags: ACK | PSH, options: opts(2000) }, new Uint8Array(10));
    peer.seq += 10;
    peer.clock.advance(600);
    const out = peer.send({ flags: ACK | PSH, options: opts(1500) }, new Uint8Array(10));
    expect(out).toHaveLength(1);
    expect(out[0]!.flags).toBe(ACK);
    expect(out[0]!.ack).toBe(peer.seq);
    expect(peer.stats.drops.paws).toBe(1);
    expect(peer.app.bytes).toBe(10);
  });
});

describe('packet level: TIME-WAIT', () => {
  it('a retransmitted FIN in TIME-WAIT is ACKed again', () => {
    const peer = new RawPeer();
    peer.handshake();
    peer.server!.close();
    peer.clock.advance(1);
    const fin = peer.rx.find((s) => s.flags & FIN)!;
    expect(peer.server!.state).toBe('FIN-WAIT-1');
    peer.send({ flags: ACK, ack: fin.seq + 1 });
    expect(peer.server!.state).toBe('FIN-WAIT-2');
    peer.srvNxt = fin.seq + 1;
    const a1 = peer.send({ flags: FIN | ACK });
    // The FIN's ACK out, a TIME-WAIT record holds the 4-tuple; the connection object is gone.
    expect(peer.stack.tcpLayer.socketState(peer.server!)).toBe('TIME-WAIT');
    expect(peer.server!.state).toBe('CLOSED');
    peer.seq++;
    expectAck(a1, peer);
    peer.clock.advance(10_000);
    expect(peer.stack.tcpLayer.socketState(peer.server!)).toBe('TIME-WAIT');
    const a2 = peer.send({ flags: FIN | ACK, seq: peer.seq - 1 });
    expectAck(a2, peer);
    // … and restarts 2·MSL: 60 s after this FIN, not after the first one.
    peer.clock.advance(55_000);
    expect(peer.stack.tcpLayer.socketState(peer.server!)).toBe('TIME-WAIT');
    peer.clock.advance(5_001);
    expect(peer.stack.tcpLayer.socketState(peer.server!)).toBe('CLOSED');
  });

  it('a TIME-WAIT record ACKs a stray segment at most once per 500 ms, and an in-window RST ends it', () => {
    const peer = new RawPeer();
    peer.handshake();
    peer.server!.close();
    peer.clock.advance(1);
    const fin = peer.rx.find((s) => s.flags & FIN)!;
    peer.send({ flags: ACK, ack: fin.seq + 1 });
    peer.srvNxt = fin.seq + 1;
    peer.send({ flags: FIN | ACK });
    peer.seq++;
    peer.clock.advance(1000);
    expect(peer.stack.tcpLayer.socketState(peer.server!)).toBe('TIME-WAIT');
    expectAck(peer.send({ flags: ACK, seq: peer.seq + 5000 }), peer);
    expect(peer.send({ flags: ACK, seq: peer.seq + 6000 })).toEqual([]);
    peer.clock.advance(500);
    expectAck(peer.send({ flags: ACK, seq: peer.seq + 7000 }), peer);
    expect(peer.send({ flags: RST, seq: peer.seq + 1 })).toEqual([]);
    expect(peer.stack.tcpLayer.socketState(peer.server!)).toBe('TIME-WAIT');
    expect(peer.send({ flags: RST })).toEqual([]);
    expect(peer.stack.tcpLayer.socketState(peer.server!)).toBe('CLOSED');
  });
});

describe('packet level: hostile input never throws', () => {
  it('random segments (any flags, numbers, option bytes, payload) at an established connection and a listener', () => {
    const peer = new RawPeer({});
    peer.handshake({ mss: 1460, sackPermitted: true, timestamps: { value: 5, echo: 0 }, wscale: 7 });
    const near = (base: number) => fc.integer({ min: -70_000, max: 70_000 }).map((d) => (base + d) >>> 0);
    fc.assert(
      fc.property(
        fc.record({
          flags: fc.integer({ min: 0, max: 0x1ff }),
          seq: fc.oneof(near(peer.seq), fc.integer({ min: 0, max: 0xffffffff })),
          ack: fc.oneof(near(peer.srvNxt), fc.integer({ min: 0, max: 0xffffffff })),
          window: fc.integer({ min: 0, max: 0xffff }),
          dstPort: fc.constantFrom(80, 81),
          words: fc.integer({ min: 0, max: 10 }),
        }),
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 1600 }),
        (h, optionBytes, payload) => {
          const opts = new Uint8Array(h.words * 4);
          opts.set(optionBytes.subarray(0, opts.length));
          peer.send({ flags: h.flags, seq: h.seq, ack: h.ack, window: h.window, dstPort: h.dstPort, optionBytes: opts }, payload);
          peer.clock.advance(50);
        },
      ),
      { numRuns: 400, seed: 99 },
    );
    // Raw garbage straight into the layer, too.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        peer.stack.tcpLayer.input(A, B, bytes);
      }),
      { numRuns: 400, seed: 7 },
    );
    const st = peer.stats;
    expect(st.drops.truncated + st.drops.badHeader + st.drops.badChecksum).toBeGreaterThan(0);
    // Still a working stack: a fresh connection opens.
    const again = new RawPeer({});
    again.handshake();
    expect(again.server!.state).toBe('ESTAB');
  });
});

describe('loopback', () => {
  it('a host connects to itself through its own address', () => {
    const peer = new RawPeer();
    const r = new Recorder();
    const c = peer.stack.tcpLayer.connect({ remoteAddress: B, remotePort: 80 }, r);
    r.conn = c;
    for (let i = 0; i < 20 && !r.isEstablished; i++) peer.clock.advance(1);
    expect(r.isEstablished).toBe(true);
    c.write(new TextEncoder().encode('to myself'));
    for (let i = 0; i < 20 && peer.app.bytes < 9; i++) peer.clock.advance(1);
    expect(peer.app.text()).toBe('to myself');
    expect(peer.stack.tcpLayer.connections()).toHaveLength(2);
  });
});
