/**
 * Packet-level tests in the manner of gVisor's packetimpact: the test plays
 * the peer with raw frames, builds exact segments with src/wire/tcp.ts,
 * injects them at a listening socket of the device under test (DUT) and
 * asserts on exactly what comes back.
 *
 *   - the DUT is a wirelab host on one end of an in-memory pipe; the test
 *     holds the other end;
 *   - the same scripts then run against the Linux kernel in a namespace,
 *     whose eth0 is a TAP the test holds (it answers ARP and injects), and
 *     the kernel's answers are compared with wirelab's: flags, where seq and
 *     ack point (relative to SND.NXT / RCV.NXT), whether the window is open,
 *     SACK blocks. Linux is the reference where RFC 9293 / 5961 leave room.
 *
 * Every script runs on a fresh connection (Linux rate-limits out-of-window
 * ACKs per socket, tcp_invalid_ratelimit = 500 ms, so one invalid segment per
 * connection keeps both DUTs unthrottled). Real clock: the kernel cannot run
 * on a virtual one, and the same script must drive both.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipe, type PipePort } from '../../src/link/pipe.js';
import type { Port, RxBatch } from '../../src/link/port.js';
import { openTap, type TapPort } from '../../src/link/tap.js';
import { Lab } from '../../src/lab/lab.js';
import type { Container } from '../../src/lab/netns.js';
import { createStack, type Stack } from '../../src/stack.js';
import { RealClock } from '../../src/time/index.js';
import { parseIPv4, parseMac, type IPv4Address, type Mac } from '../../src/wire/address.js';
import { ARP_OP, arpPacket, decodeArp, encodeArp } from '../../src/wire/arp.js';
import { ETHERTYPE, decodeEthernet, encodeEthernet } from '../../src/wire/ethernet.js';
import { IP_PROTOCOL, decodeIPv4, encodeIPv4 } from '../../src/wire/ipv4.js';
import { TCP_FLAG, computeTcpChecksum, decodeTcp, describeTcp, encodeTcp, formatTcpFlags, type TcpSegment } from '../../src/wire/tcp.js';
import { findTcpOption, linuxTcpOptions, type TcpOption, type TcpSackBlock } from '../../src/wire/tcp-options.js';
import { requireRoot } from '../helpers/netns.js';

// ---------------------------------------------------------------------------
// The peer: raw frames on a Port

interface Received {
  seg: TcpSegment;
  at: number;
  line: string;
}

/** Plays a host with raw frames: answers ARP for its address, collects the DUT's TCP segments. */
class RawPeer {
  private readonly queue: Received[] = [];
  private wake: (() => void) | null = null;
  /** Every segment in and out, as tcpdump lines, for failure messages. */
  readonly trace: string[] = [];
  private ipId = 1;

  constructor(
    readonly port: Port,
    readonly mac: Mac,
    readonly ip: IPv4Address,
    readonly dutMac: Mac,
    readonly dutIp: IPv4Address,
  ) {
    port.onReceive = (batch) => this.onBatch(batch);
  }

  private onBatch(b: RxBatch): void {
    for (let i = 0; i < b.count; i++) {
      const frame = b.buf.slice(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!); // owned copy
      const eth = decodeEthernet(frame);
      if (!eth.ok) continue;
      if (eth.value.etherType === ETHERTYPE.ARP) {
        const arp = decodeArp(eth.value.payload);
        if (arp.ok && arp.value.operation === ARP_OP.REQUEST && arp.value.targetIp === this.ip) {
          const reply = arpPacket(ARP_OP.REPLY, this.mac, this.ip, arp.value.senderMac, arp.value.senderIp);
          this.sendFrame(encodeEthernet({ dst: arp.value.senderMac, src: this.mac, tags: [], etherType: ETHERTYPE.ARP }, encodeArp(reply)));
        }
        continue;
      }
      if (eth.value.etherType !== ETHERTYPE.IPV4) continue;
      const ip = decodeIPv4(eth.value.payload);
      if (!ip.ok || ip.value.protocol !== IP_PROTOCOL.TCP || ip.value.src !== this.dutIp || ip.value.dst !== this.ip) continue;
      const tcp = decodeTcp(ip.value.payload, { src: ip.value.src, dst: ip.value.dst });
      if (!tcp.ok) {
        this.trace.push(`<< undecodable TCP from DUT: ${tcp.message}`);
        continue;
      }
      const line = `<< ${describeTcp(tcp.value)}`;
      this.trace.push(line);
      this.queue.push({ seg: tcp.value, at: Date.now(), line });
    }
    this.wake?.();
  }

  private sendFrame(frame: Uint8Array): void {
    this.port.send(frame, 0, frame.length, -1);
    this.port.flush();
  }

  /** Sends one segment to the DUT; `badChecksum` flips bits in an otherwise correct checksum. */
  send(h: Omit<Parameters<typeof encodeTcp>[0], 'checksum'>, payload: Uint8Array = new Uint8Array(0), badChecksum = false): void {
    const pair = { src: this.ip, dst: this.dutIp };
    let seg = encodeTcp(h, payload, pair);
    if (badChecksum) seg = encodeTcp({ ...h, checksum: computeTcpChecksum(seg, pair) ^ 0x5a5a }, payload, pair);
    const decoded = decodeTcp(seg);
    if (decoded.ok) this.trace.push(`>> ${describeTcp(decoded.value)}${badChecksum ? ' [bad checksum]' : ''}`);
    const ip = encodeIPv4(
      {
        dscp: 0, ecn: 0, identification: this.ipId++ & 0xffff, dontFragment: true, moreFragments: false, reservedFlag: false,
        fragmentOffset: 0, ttl: 64, protocol: IP_PROTOCOL.TCP, src: this.ip, dst: this.dutIp, options: new Uint8Array(0),
      },
      seg,
    );
    this.sendFrame(encodeEthernet({ dst: this.dutMac, src: this.mac, tags: [], etherType: ETHERTYPE.IPV4 }, ip));
  }

  /** The next segment on `localPort` (from the DUT), or undefined after `timeoutMs`. */
  async next(localPort: number, timeoutMs: number): Promise<TcpSegment | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.queue.findIndex((r) => r.seg.dstPort === localPort);
      if (i >= 0) return this.queue.splice(i, 1)[0]!.seg;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.wake = null;
          resolve();
        }, left);
        this.wake = () => {
          clearTimeout(t);
          this.wake = null;
          resolve();
        };
      });
    }
  }

  /** Everything that arrives on `localPort` within `ms`. */
  async collect(localPort: number, ms: number): Promise<TcpSegment[]> {
    const out: TcpSegment[] = [];
    const end = Date.now() + ms;
    for (;;) {
      const s = await this.next(localPort, Math.max(0, end - Date.now()));
      if (s === undefined) return out;
      out.push(s);
    }
  }
}

// ---------------------------------------------------------------------------
// A connection the peer opened to the DUT, with both sides' sequence state

const PEER_WINDOW = 1000; // × 2^7 = 128000 bytes
const PEER_WSCALE = 7;

class PeerConn {
  /** Our SND.NXT = the DUT's RCV.NXT. */
  sndNxt: number;
  /** Our RCV.NXT = the DUT's SND.NXT. */
  rcvNxt = 0;
  dutWscale = 0;
  dutWindow = 0;
  sackOk = false;
  tsOk = false;
  private tsVal = 1_000_000;
  private tsEcr = 0;
  readonly localPort: number;

  constructor(
    readonly peer: RawPeer,
    readonly dutPort: number,
  ) {
    this.localPort = 40000 + (randomBytes(2).readUInt16BE(0) % 20000);
    this.sndNxt = randomBytes(4).readUInt32BE(0);
  }

  options(extra: { sack?: TcpSackBlock[] } = {}): TcpOption[] {
    return linuxTcpOptions({ ...(this.tsOk ? { timestamps: { value: this.tsVal++, echo: this.tsEcr } } : {}), ...extra });
  }

  /** Sends a segment of this connection (seq defaults to SND.NXT, ack to RCV.NXT with ACK set). */
  send(o: { flags: number; seq?: number; ack?: number; payload?: Uint8Array; badChecksum?: boolean; window?: number }): void {
    this.peer.send(
      {
        srcPort: this.localPort, dstPort: this.dutPort, seq: (o.seq ?? this.sndNxt) >>> 0,
        ack: o.flags & TCP_FLAG.ACK ? (o.ack ?? this.rcvNxt) >>> 0 : 0, flags: o.flags,
        window: o.window ?? PEER_WINDOW, options: this.options(),
      },
      o.payload,
      o.badChecksum ?? false,
    );
  }

  /** Records what a DUT segment tells us (its TSval to echo, its window). */
  saw(s: TcpSegment): void {
    const ts = findTcpOption(s.options, 'timestamps');
    if (ts) this.tsEcr = ts.value;
    if (s.flags & TCP_FLAG.ACK) this.dutWindow = s.window * 2 ** (s.flags & TCP_FLAG.SYN ? 0 : this.dutWscale);
  }

  async next(timeoutMs: number): Promise<TcpSegment | undefined> {
    const s = await this.peer.next(this.localPort, timeoutMs);
    if (s) this.saw(s);
    return s;
  }

  async collect(ms: number): Promise<TcpSegment[]> {
    const all = await this.peer.collect(this.localPort, ms);
    for (const s of all) this.saw(s);
    return all;
  }

  /** SYN with Linux's options, SYN-ACK, ACK. */
  async open(): Promise<void> {
    const iss = this.sndNxt;
    this.peer.send({
      srcPort: this.localPort, dstPort: this.dutPort, seq: iss, ack: 0, flags: TCP_FLAG.SYN, window: 64240,
      options: linuxTcpOptions({ mss: 1460, sackPermitted: true, timestamps: { value: this.tsVal++, echo: 0 }, wscale: PEER_WSCALE }),
    });
    const synack = await this.next(3000);
    if (!synack || (synack.flags & (TCP_FLAG.SYN | TCP_FLAG.ACK | TCP_FLAG.RST)) !== (TCP_FLAG.SYN | TCP_FLAG.ACK)) {
      throw new Error(`no SYN-ACK:\n${this.peer.trace.join('\n')}`);
    }
    if (synack.ack !== ((iss + 1) >>> 0)) throw new Error(`SYN-ACK acks ${synack.ack}, not ISS+1 = ${(iss + 1) >>> 0}`);
    this.sndNxt = (iss + 1) >>> 0;
    this.rcvNxt = (synack.seq + 1) >>> 0;
    this.dutWscale = findTcpOption(synack.options, 'wscale')?.shift ?? 0;
    this.sackOk = findTcpOption(synack.options, 'sack-permitted') !== undefined;
    this.tsOk = findTcpOption(synack.options, 'timestamps') !== undefined;
    this.send({ flags: TCP_FLAG.ACK });
  }

  /** Sends `n` bytes at SND.NXT and waits for the ACK that covers them; returns that ACK. */
  async sendData(n: number): Promise<TcpSegment> {
    const end = (this.sndNxt + n) >>> 0;
    this.send({ flags: TCP_FLAG.ACK | TCP_FLAG.PSH, payload: new Uint8Array(n).fill(0x61) });
    this.sndNxt = end;
    for (;;) {
      const s = await this.next(1000);
      if (!s) throw new Error(`no ACK for ${n} bytes:\n${this.peer.trace.join('\n')}`);
      if (s.ack === end) return s;
    }
  }
}

// ---------------------------------------------------------------------------
// What an answer looks like, independent of ISNs and of who answered

interface Answer {
  flags: string;
  /** Where seq points: `SND.NXT` is the DUT's next sequence number (our RCV.NXT). */
  seq: string;
  /** Where ack points: `RCV.NXT` is the DUT's (our SND.NXT). */
  ack: string;
  windowOpen: boolean;
  sack: string[];
  len: number;
  /** Carries a timestamp option. */
  ts: boolean;
}

function rel(v: number, base: number, name: string): string {
  const d = (v - base) | 0;
  return d === 0 ? name : `${name}${d > 0 ? '+' : ''}${d}`;
}

function answer(c: PeerConn, s: TcpSegment, base: { sndNxt: number; rcvNxt: number }): Answer {
  const sack = findTcpOption(s.options, 'sack');
  return {
    flags: formatTcpFlags(s.flags & (TCP_FLAG.SYN | TCP_FLAG.ACK | TCP_FLAG.RST | TCP_FLAG.FIN)),
    seq: rel(s.seq, base.rcvNxt, 'SND.NXT'),
    ack: s.flags & TCP_FLAG.ACK ? rel(s.ack, base.sndNxt, 'RCV.NXT') : '-',
    windowOpen: s.window > 0,
    sack: (sack?.blocks ?? []).map((b) => `${rel(b.left, base.sndNxt, 'RCV.NXT')}..${rel(b.right, base.sndNxt, 'RCV.NXT')}`),
    len: s.payload.length,
    ts: findTcpOption(s.options, 'timestamps') !== undefined,
  };
}

/** What one script observed: the replies to the probe, then to a follow-up that shows the connection's state. */
interface Outcome {
  replies: Answer[];
  followUp: Answer[];
  /** Checksum-error counter delta, where the script reads it. */
  counted?: number;
}

interface Dut {
  name: string;
  peer: RawPeer;
  port: number;
  /** The DUT's count of segments dropped for a bad TCP checksum. */
  badChecksums(): Promise<number>;
}

const QUIET_MS = 300;

/** The follow-up: valid data at SND.NXT. Alive → an ACK of it; reset → a RST. */
async function followUp(c: PeerConn, base: { sndNxt: number; rcvNxt: number }): Promise<Answer[]> {
  const end = (c.sndNxt + 10) >>> 0;
  c.send({ flags: TCP_FLAG.ACK | TCP_FLAG.PSH, payload: new Uint8Array(10).fill(0x62) });
  c.sndNxt = end;
  const out: Answer[] = [];
  for (;;) {
    const s = await c.next(out.length === 0 ? 1000 : 100);
    if (!s) return out;
    out.push(answer(c, s, base));
    if (s.flags & TCP_FLAG.RST || s.ack === end) return out;
  }
}

interface Script {
  name: string;
  run(c: PeerConn, dut: Dut): Promise<Outcome>;
  /** Open a connection first (default true). */
  open?: boolean;
  /** What wirelab must answer (RFC 9293 / 5961, Linux where they leave room). */
  expected: { replies: Partial<Answer>[]; followUp: Partial<Answer>[] };
}

const ALIVE = [{ flags: '.', seq: 'SND.NXT', ack: 'RCV.NXT+10' }];
const CHALLENGE_ACK = { flags: '.', seq: 'SND.NXT', ack: 'RCV.NXT', len: 0, windowOpen: true };

async function probe(c: PeerConn, send: (base: { sndNxt: number; rcvNxt: number }) => void): Promise<Outcome> {
  await c.sendData(1); // established, and the DUT's current window is known
  const base = { sndNxt: c.sndNxt, rcvNxt: c.rcvNxt };
  send(base);
  const replies = (await c.collect(QUIET_MS)).map((s) => answer(c, s, base));
  return { replies, followUp: await followUp(c, base) };
}

const scripts: Script[] = [
  {
    name: 'blind RST in the window (seq = RCV.NXT + 1000): challenge ACK, connection survives',
    run: (c) => probe(c, (b) => c.send({ flags: TCP_FLAG.RST, seq: b.sndNxt + 1000 })),
    expected: { replies: [CHALLENGE_ACK], followUp: ALIVE },
  },
  {
    name: 'RST with ACK in the window (seq = RCV.NXT + 1): challenge ACK',
    run: (c) => probe(c, (b) => c.send({ flags: TCP_FLAG.RST | TCP_FLAG.ACK, seq: b.sndNxt + 1 })),
    expected: { replies: [CHALLENGE_ACK], followUp: ALIVE },
  },
  {
    name: 'RST exactly at RCV.NXT: the connection is reset silently; later data gets a RST',
    run: (c) => probe(c, (b) => c.send({ flags: TCP_FLAG.RST, seq: b.sndNxt })),
    expected: { replies: [], followUp: [{ flags: 'R', seq: 'SND.NXT', ack: '-', ts: false }] },
  },
  {
    name: 'RST outside the window: dropped without a reply',
    run: (c) => probe(c, (b) => c.send({ flags: TCP_FLAG.RST, seq: b.sndNxt + 0x40000000 })),
    expected: { replies: [], followUp: ALIVE },
  },
  {
    name: 'SYN in the window on an established connection: challenge ACK, connection survives',
    run: (c) => probe(c, (b) => c.send({ flags: TCP_FLAG.SYN, seq: b.sndNxt + 100 })),
    expected: { replies: [CHALLENGE_ACK], followUp: ALIVE },
  },
  {
    name: 'SYN at RCV.NXT on an established connection: challenge ACK',
    run: (c) => probe(c, (b) => c.send({ flags: TCP_FLAG.SYN, seq: b.sndNxt })),
    expected: { replies: [CHALLENGE_ACK], followUp: ALIVE },
  },
  {
    name: 'data beyond the right edge of the window: dropped and ACKed (ack stays RCV.NXT)',
    run: (c) =>
      probe(c, (b) =>
        c.send({ flags: TCP_FLAG.ACK | TCP_FLAG.PSH, seq: b.sndNxt + c.dutWindow + 1000, payload: new Uint8Array(100).fill(0x63) })),
    expected: { replies: [{ flags: '.', seq: 'SND.NXT', ack: 'RCV.NXT', len: 0, sack: [] }], followUp: ALIVE },
  },
  {
    name: 'an old duplicate (data below RCV.NXT): dropped and ACKed with a D-SACK block',
    run: async (c) => {
      await c.sendData(100);
      return probe(c, (b) => c.send({ flags: TCP_FLAG.ACK | TCP_FLAG.PSH, seq: b.sndNxt - 101, payload: new Uint8Array(100).fill(0x61) }));
    },
    expected: { replies: [{ flags: '.', seq: 'SND.NXT', ack: 'RCV.NXT', len: 0, sack: ['RCV.NXT-101..RCV.NXT-1'] }], followUp: ALIVE },
  },
  {
    name: 'bad TCP checksum: counted and ignored (the next segment is out of order)',
    run: async (c, dut) => {
      await c.sendData(1);
      const before = await dut.badChecksums();
      const base = { sndNxt: c.sndNxt, rcvNxt: c.rcvNxt };
      c.send({ flags: TCP_FLAG.ACK | TCP_FLAG.PSH, payload: new Uint8Array(100).fill(0x64), badChecksum: true });
      const replies = (await c.collect(QUIET_MS)).map((s) => answer(c, s, base));
      // Had the bad segment been taken, this one would be in order and ACKed to +200.
      c.send({ flags: TCP_FLAG.ACK | TCP_FLAG.PSH, seq: base.sndNxt + 100, payload: new Uint8Array(100).fill(0x65) });
      const after = (await c.collect(QUIET_MS)).map((s) => answer(c, s, base));
      return { replies, followUp: after, counted: (await dut.badChecksums()) - before };
    },
    expected: {
      replies: [],
      followUp: [{ flags: '.', seq: 'SND.NXT', ack: 'RCV.NXT', sack: ['RCV.NXT+100..RCV.NXT+200'] }],
    },
  },
  {
    name: 'an ACK of data never sent (SEG.ACK > SND.NXT): ignored, answered with an ACK (RFC 9293 §3.10.7.4, as Linux)',
    run: (c) => probe(c, (b) => c.send({ flags: TCP_FLAG.ACK, ack: b.rcvNxt + 5000 })),
    expected: { replies: [CHALLENGE_ACK], followUp: ALIVE },
  },
  {
    name: 'data carrying an ACK of data never sent: the segment is dropped (data not taken) and ACKed',
    run: (c) =>
      probe(c, (b) => c.send({ flags: TCP_FLAG.ACK | TCP_FLAG.PSH, ack: b.rcvNxt + 5000, payload: new Uint8Array(10).fill(0x66) })),
    // Not taken: the ACK stays at RCV.NXT, and the follow-up's 10 bytes at the same SND.NXT are what the DUT ACKs.
    expected: { replies: [CHALLENGE_ACK], followUp: ALIVE },
  },
  {
    name: 'an ACK older than SND.UNA − MAX.SND.WND: challenge ACK (RFC 5961 §5.2)',
    run: (c) => probe(c, (b) => c.send({ flags: TCP_FLAG.ACK, ack: b.rcvNxt - 0x20000000 })),
    expected: { replies: [CHALLENGE_ACK], followUp: ALIVE },
  },
  {
    name: 'two blind RSTs within 500 ms: one challenge ACK (Linux rate-limits per socket, tcp_invalid_ratelimit)',
    run: (c) =>
      probe(c, (b) => {
        c.send({ flags: TCP_FLAG.RST, seq: b.sndNxt + 1000 });
        c.send({ flags: TCP_FLAG.RST, seq: b.sndNxt + 2000 });
      }),
    expected: { replies: [CHALLENGE_ACK], followUp: ALIVE },
  },
  {
    name: 'two data segments beyond the window within 500 ms: both ACKed (Linux rate-limits only segments without data)',
    run: (c) =>
      probe(c, (b) => {
        for (const off of [1000, 3000]) {
          c.send({ flags: TCP_FLAG.ACK | TCP_FLAG.PSH, seq: b.sndNxt + c.dutWindow + off, payload: new Uint8Array(100).fill(0x67) });
        }
      }),
    expected: {
      replies: [
        { flags: '.', seq: 'SND.NXT', ack: 'RCV.NXT', len: 0 },
        { flags: '.', seq: 'SND.NXT', ack: 'RCV.NXT', len: 0 },
      ],
      followUp: ALIVE,
    },
  },
  {
    name: 'two pure ACKs of data never sent within 500 ms: one ACK (the same per-socket limit)',
    run: (c) =>
      probe(c, (b) => {
        c.send({ flags: TCP_FLAG.ACK, ack: b.rcvNxt + 5000 });
        c.send({ flags: TCP_FLAG.ACK, ack: b.rcvNxt + 6000 });
      }),
    expected: { replies: [CHALLENGE_ACK], followUp: ALIVE },
  },
  {
    name: 'two SYNs in the window within 500 ms: one challenge ACK (the same per-socket limit)',
    run: (c) =>
      probe(c, (b) => {
        c.send({ flags: TCP_FLAG.SYN, seq: b.sndNxt + 100 });
        c.send({ flags: TCP_FLAG.SYN, seq: b.sndNxt + 200 });
      }),
    expected: { replies: [CHALLENGE_ACK], followUp: ALIVE },
  },
  {
    name: 'a SYN to a port nobody listens on: RST+ACK, seq 0, ack ISS+1',
    open: false,
    run: async (c) => {
      const iss = c.sndNxt;
      c.peer.send({
        srcPort: c.localPort, dstPort: c.dutPort + 1, seq: iss, ack: 0, flags: TCP_FLAG.SYN, window: 64240,
        options: linuxTcpOptions({ mss: 1460, sackPermitted: true, timestamps: { value: 1, echo: 0 }, wscale: PEER_WSCALE }),
      });
      const base = { sndNxt: (iss + 1) >>> 0, rcvNxt: 0 }; // 'SND.NXT' below reads as seq 0
      const replies = (await c.collect(QUIET_MS)).map((s) => answer(c, s, base));
      return { replies, followUp: [] };
    },
    expected: { replies: [{ flags: 'R.', seq: 'SND.NXT', ack: 'RCV.NXT', windowOpen: false, ts: false, len: 0 }], followUp: [] },
  },
];

async function runScript(dut: Dut, s: Script): Promise<Outcome & { trace: string }> {
  const c = new PeerConn(dut.peer, dut.port);
  const from = dut.peer.trace.length;
  if (s.open !== false) await c.open();
  const out = await s.run(c, dut);
  // Leave nothing half-open behind: a RST at exactly RCV.NXT.
  if (s.open !== false) c.send({ flags: TCP_FLAG.RST, seq: c.sndNxt });
  return { ...out, trace: dut.peer.trace.slice(from).join('\n') };
}

// ---------------------------------------------------------------------------
// DUTs

const clock = new RealClock();
const stacks: Stack[] = [];
const WL_PORT = 7007;

function wirelabDut(): Dut & { stack: Stack; pipe: [PipePort, PipePort] } {
  const pipe = createPipe(clock);
  const stack = createStack({ clock, name: 'dut' });
  stacks.push(stack);
  const dutIp = parseIPv4('10.232.0.1');
  const dutMac = parseMac('02:00:00:e8:00:01');
  stack.addInterface(pipe[0], { addresses: ['10.232.0.1/24'], mac: dutMac, announce: false });
  stack.tcpLayer.listen({ port: WL_PORT }, (conn) => {
    conn.handler = {
      data: (chunk) => conn.consumed(chunk.length),
      peerFin: () => undefined,
      writable: () => undefined,
      closed: () => undefined,
    };
  });
  const peer = new RawPeer(pipe[1], parseMac('02:00:00:e8:00:02'), parseIPv4('10.232.0.2'), dutMac, dutIp);
  return {
    name: 'wirelab',
    peer,
    port: WL_PORT,
    stack,
    pipe,
    badChecksums: async () => stack.tcpLayer.stats.drops.badChecksum,
  };
}

afterAll(() => {
  for (const s of stacks) s.close();
  clock.close();
});

describe('packetimpact: wirelab as the device under test', () => {
  let dut: ReturnType<typeof wirelabDut>;
  beforeAll(() => {
    dut = wirelabDut();
  });

  for (const s of scripts) {
    it(s.name, async () => {
      const o = await runScript(dut, s);
      const why = `trace:\n${o.trace}`;
      expect(o.replies, why).toHaveLength(s.expected.replies.length);
      o.replies.forEach((r, i) => expect(r, why).toMatchObject(s.expected.replies[i]!));
      expect(o.followUp.length, why).toBeGreaterThanOrEqual(s.expected.followUp.length);
      if (s.expected.followUp.length > 0) expect(o.followUp[0], why).toMatchObject(s.expected.followUp[0]!);
      if (o.counted !== undefined) expect(o.counted, `${why}\nbad-checksum counter`).toBe(1);
    });
  }

});

// ---------------------------------------------------------------------------
// The same scripts against Linux, answers compared

const cap = requireRoot(['python3']);

const LISTENER = (port: number) => `
import socket, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', ${port}))
s.listen(64)
print('ready', flush=True)
keep = []
def drain(c):
    try:
        while c.recv(65536):
            pass
    except OSError:
        pass
while True:
    c, _ = s.accept()
    keep.append(c)
    threading.Thread(target=drain, args=(c,), daemon=True).start()
`;

describe.skipIf(cap.skip)('packetimpact: the same scripts against the Linux kernel, answers compared', () => {
  const lab = new Lab();
  let tap: TapPort | undefined;
  let container: Container;
  let kernel: Dut;
  let wirelab: Dut | undefined;
  const KPORT = 7008;

  beforeAll(async () => {
    cap.assert();
    const name = `wlpi${randomBytes(3).toString('hex')}`;
    tap = openTap(name);
    container = await lab.container({
      link: name,
      address: '10.233.0.1/24',
      mac: '02:00:00:e9:00:01',
      sysctls: { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' },
    });
    const listener = container.spawn(['python3', '-c', LISTENER(KPORT)]);
    await listener.waitForOutput(/ready/, 10_000);
    const peer = new RawPeer(tap, parseMac('02:00:00:e9:00:02'), parseIPv4('10.233.0.2'), parseMac('02:00:00:e9:00:01'), parseIPv4('10.233.0.1'));
    kernel = {
      name: 'linux',
      peer,
      port: KPORT,
      badChecksums: async () => {
        const r = await container.exec(['cat', '/proc/net/snmp'], { check: true });
        const lines = r.stdout.split('\n').filter((l) => l.startsWith('Tcp:'));
        const keys = lines[0]!.split(/\s+/);
        const vals = lines[1]!.split(/\s+/);
        return Number(vals[keys.indexOf('InCsumErrors')]);
      },
    };
  }, 60_000);

  afterAll(async () => {
    await lab.close().catch(() => undefined);
    await tap?.close().catch(() => undefined);
  });

  for (const s of scripts) {
    it(`same answer as Linux: ${s.name}`, async () => {
      const k = await runScript(kernel, s);
      if (process.env.PI_SHOW_KERNEL) console.log(`${s.name}\n${JSON.stringify({ replies: k.replies, followUp: k.followUp, counted: k.counted })}\n${k.trace}`);
      wirelab ??= wirelabDut();
      const w = await runScript(wirelab, s);
      const why = `Linux:\n${k.trace}\n\nwirelab:\n${w.trace}`;
      // The kernel's answers must be what the script expects of wirelab too (the reference is right)…
      expect(k.replies, why).toHaveLength(s.expected.replies.length);
      // …and wirelab's must be the kernel's, field by field.
      expect(w.replies, why).toEqual(k.replies);
      expect(w.followUp[0], why).toEqual(k.followUp[0]);
      if (k.counted !== undefined) {
        expect(k.counted, `${why}\nLinux InCsumErrors`).toBe(1);
        expect(w.counted, `${why}\nwirelab bad-checksum counter`).toBe(1);
      }
    });
  }
});
