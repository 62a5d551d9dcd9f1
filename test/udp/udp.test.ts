/**
 * UdpLayer and UdpSocket against a fake IP layer on the virtual clock: the
 * fake records what is sent and the tests feed real UDP bytes (built with
 * src/wire) into `UdpLayer.input`. Expectations follow Linux's UDP and Node
 * 20's dgram (error codes, messages and errno values checked against Node).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/time/index.js';
import { type IPv4Address, parseIPv4 } from '../../src/wire/address.js';
import { encodeIPv4 } from '../../src/wire/ipv4.js';
import { decodeUdp, encodeUdp, udpChecksum } from '../../src/wire/udp.js';
import {
  type IpSender,
  type RemoteInfo,
  type UdpError,
  UdpLayer,
  type UdpSocket,
  udpErrorForIcmp,
} from '../../src/udp/index.js';

const ip = parseIPv4;
const HOST = ip('10.0.0.2'); // eth0, 10.0.0.0/24
const HOST2 = ip('10.0.1.2'); // eth1, 10.0.1.0/24
const PEER = ip('10.0.0.1');
const BCAST = ip('10.0.0.255');
const ALL_ONES = ip('255.255.255.255');

interface Sent {
  dst: IPv4Address;
  protocol: number;
  payload: Uint8Array;
  opts: { src?: IPv4Address; ttl?: number; broadcast?: boolean } | undefined;
}

class FakeIp implements IpSender {
  sent: Sent[] = [];
  unreachables: Uint8Array[] = [];
  result: 'sent' | 'queued' | Error = 'sent';
  sendIPv4(dst: IPv4Address, protocol: number, payload: Uint8Array, opts?: Sent['opts']): 'sent' | 'queued' | Error {
    this.sent.push({ dst, protocol, payload: payload.slice(), opts: opts && { ...opts } });
    return this.result;
  }
  localAddressFor(dst: IPv4Address): IPv4Address | undefined {
    if (dst >>> 24 === 192) return undefined; // no route to 192/8
    if (dst >>> 24 === 127) return ip('127.0.0.1');
    return (dst & 0xffffff00) >>> 0 === ip('10.0.1.0') ? HOST2 : HOST;
  }
  isLocalAddress(a: IPv4Address): boolean {
    return a === HOST || a === HOST2 || a === ip('127.0.0.1');
  }
  isBroadcast(a: IPv4Address): boolean {
    return a === ALL_ONES || a === BCAST || a === ip('10.0.1.255');
  }
  sendIcmpPortUnreachable(datagram: Uint8Array): void {
    this.unreachables.push(datagram);
  }
}

let clock: VirtualClock;
let fake: FakeIp;
let udp: UdpLayer;

/** Deterministic "random" for the ephemeral port search. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

beforeEach(() => {
  clock = new VirtualClock();
  fake = new FakeIp();
  udp = new UdpLayer(fake, clock, { random: seeded(1) });
});

const run = (): void => {
  clock.runUntilIdle();
};

function ipDatagram(src: IPv4Address, dst: IPv4Address, udpBytes: Uint8Array): Uint8Array {
  return encodeIPv4(
    {
      dscp: 0,
      ecn: 0,
      identification: 1,
      dontFragment: false,
      moreFragments: false,
      reservedFlag: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol: 17,
      src,
      dst,
      options: new Uint8Array(0),
    },
    udpBytes,
  );
}

/** Feeds one datagram into the layer as the IP layer would; returns the IP datagram. */
function feed(
  src: IPv4Address,
  srcPort: number,
  dst: IPv4Address,
  dstPort: number,
  payload: Uint8Array | string,
  checksum?: number,
): Uint8Array {
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = checksum === undefined ? { srcPort, dstPort } : { srcPort, dstPort, checksum };
  const u = encodeUdp(header, bytes, { src, dst });
  const whole = ipDatagram(src, dst, u);
  udp.input(src, dst, whole.subarray(20), whole);
  return whole;
}

/** Delivers everything the fake IP sent back into the layer (a loopback). */
function loop(): void {
  const sent = fake.sent;
  fake.sent = [];
  for (const s of sent) {
    const src = s.opts?.src ?? 0;
    udp.input(src, s.dst, s.payload, ipDatagram(src, s.dst, s.payload));
  }
}

function messages(sock: UdpSocket): Array<{ text: string; rinfo: RemoteInfo }> {
  const got: Array<{ text: string; rinfo: RemoteInfo }> = [];
  sock.on('message', (msg, rinfo) => got.push({ text: msg.toString('utf8'), rinfo }));
  return got;
}

function errors(sock: UdpSocket): UdpError[] {
  const got: UdpError[] = [];
  sock.on('error', (e) => got.push(e));
  return got;
}

function thrown(f: () => unknown): UdpError {
  try {
    f();
  } catch (e) {
    return e as UdpError;
  }
  throw new Error('expected a throw');
}

function sendResult(send: (cb: (e: UdpError | null, n: number) => void) => void): {
  err: UdpError | null | undefined;
  bytes: number | undefined;
} {
  const r: { err: UdpError | null | undefined; bytes: number | undefined } = { err: undefined, bytes: undefined };
  send((e, n) => {
    r.err = e;
    r.bytes = n;
  });
  run();
  return r;
}

describe('bind', () => {
  it("binds synchronously, emits 'listening' through the clock, calls the bind callback", () => {
    const s = udp.createSocket();
    const events: string[] = [];
    s.on('listening', () => events.push('listening'));
    s.bind(5000, '10.0.0.2', () => events.push('callback'));
    expect(s.address()).toEqual({ address: '10.0.0.2', family: 'IPv4', port: 5000 });
    expect(events).toEqual([]);
    run();
    expect(events).toEqual(['listening', 'callback']);
    expect(thrown(() => s.bind(5001)).code).toBe('ERR_SOCKET_ALREADY_BOUND');
  });

  it('bind forms: (), (port), (cb), ({port, address}), bad ports throw ERR_SOCKET_BAD_PORT', () => {
    const a = udp.createSocket().bind();
    expect(a.address().address).toBe('0.0.0.0');
    const b = udp.createSocket().bind(6000);
    expect(b.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 6000 });
    let called = 0;
    const c = udp.createSocket().bind(() => called++);
    const d = udp.createSocket().bind({ port: 6001, address: '10.0.1.2' });
    expect(d.address()).toEqual({ address: '10.0.1.2', family: 'IPv4', port: 6001 });
    run();
    expect(called).toBe(1);
    expect(c.address().port).toBeGreaterThanOrEqual(49152);
    const e = thrown(() => udp.createSocket().bind(70000));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.code).toBe('ERR_SOCKET_BAD_PORT');
    expect(e.message).toBe('Port should be >= 0 and < 65536. Received type number (70000).');
  });

  it('a specific address and 0.0.0.0 on one port conflict, in either order (EADDRINUSE as an error event)', () => {
    const specific = udp.createSocket().bind(5000, '10.0.0.2');
    const wildcard = udp.createSocket();
    const errs = errors(wildcard);
    let listened = false;
    wildcard.bind(5000, () => (listened = true));
    run();
    expect(errs).toHaveLength(1);
    const e = errs[0]!;
    expect(e.code).toBe('EADDRINUSE');
    expect(e.message).toBe('bind EADDRINUSE 0.0.0.0:5000');
    expect(e.errno).toBe(-98);
    expect(e.syscall).toBe('bind');
    expect(e.address).toBe('0.0.0.0');
    expect(e.port).toBe(5000);
    expect(listened).toBe(false);
    // Still unbound, as in Node: getsockname EBADF, and it may bind again.
    expect(thrown(() => wildcard.address()).code).toBe('EBADF');
    wildcard.bind(5001);
    expect(wildcard.address().port).toBe(5001);

    const w2 = udp.createSocket().bind(5100);
    const s2 = udp.createSocket();
    const errs2 = errors(s2);
    s2.bind(5100, '10.0.1.2');
    run();
    expect(errs2.map((x) => x.message)).toEqual(['bind EADDRINUSE 10.0.1.2:5100']);
    expect(specific.address().port).toBe(5000);
    expect(w2.address().port).toBe(5100);
  });

  it('two different specific addresses share a port; the same one twice conflicts; 0.0.0.0 twice conflicts', () => {
    udp.createSocket().bind(5000, '10.0.0.2');
    const other = udp.createSocket().bind(5000, '10.0.1.2');
    const same = udp.createSocket();
    const e1 = errors(same);
    same.bind(5000, '10.0.0.2');
    udp.createSocket().bind(5001);
    const w = udp.createSocket();
    const e2 = errors(w);
    w.bind(5001);
    run();
    expect(other.address()).toEqual({ address: '10.0.1.2', family: 'IPv4', port: 5000 });
    expect(e1.map((e) => e.code)).toEqual(['EADDRINUSE']);
    expect(e2.map((e) => e.code)).toEqual(['EADDRINUSE']);
  });

  it('reuseAddr shares a port only when both sockets set it', () => {
    const a = udp.createSocket({ reuseAddr: true }).bind(5000);
    const b = udp.createSocket({ reuseAddr: true }).bind(5000, '10.0.0.2');
    const c = udp.createSocket({ reuseAddr: true }).bind(5000);
    expect([a, b, c].map((s) => s.address().port)).toEqual([5000, 5000, 5000]);

    const plain = udp.createSocket();
    const errPlain = errors(plain);
    plain.bind(5000); // reuse on the others, not on this one
    udp.createSocket().bind(5200);
    const reusing = udp.createSocket({ reuseAddr: true });
    const errReusing = errors(reusing);
    reusing.bind(5200); // reuse on this one, not on the holder
    run();
    expect(errPlain.map((e) => e.code)).toEqual(['EADDRINUSE']);
    expect(errReusing.map((e) => e.code)).toEqual(['EADDRINUSE']);
  });

  it('an address that is not local gives EADDRNOTAVAIL; broadcast addresses may be bound', () => {
    const s = udp.createSocket();
    const errs = errors(s);
    s.bind(5000, '10.9.9.9');
    const b = udp.createSocket().bind(5000, '10.0.0.255');
    run();
    expect(errs.map((e) => [e.code, e.errno, e.message])).toEqual([
      ['EADDRNOTAVAIL', -99, 'bind EADDRNOTAVAIL 10.9.9.9:5000'],
    ]);
    expect(b.address().address).toBe('10.0.0.255');
  });

  it('ephemeral ports: random start, scan for a free one, unique over 3000 sockets, all in 49152-65535', () => {
    const ports: number[] = [];
    for (let i = 0; i < 3000; i++) ports.push(udp.createSocket().bind(0).address().port);
    expect(new Set(ports).size).toBe(3000);
    expect(Math.min(...ports)).toBeGreaterThanOrEqual(49152);
    expect(Math.max(...ports)).toBeLessThanOrEqual(65535);
    expect(udp.sockets()).toHaveLength(3000);

    // The scan: a fixed random start finds the next free port.
    const fixed = new UdpLayer(fake, clock, { random: () => 0.5 });
    expect(fixed.createSocket().bind().address().port).toBe(49152 + 8192);
    expect(fixed.createSocket().bind().address().port).toBe(49152 + 8193);
    fixed.createSocket().bind(49152 + 8195);
    expect(fixed.createSocket().bind().address().port).toBe(49152 + 8194);
    expect(fixed.createSocket().bind().address().port).toBe(49152 + 8196);
  });

  it('an exhausted ephemeral range gives EADDRINUSE', () => {
    const small = new UdpLayer(fake, clock, { random: () => 0.99, ephemeralPortRange: [40000, 40002] });
    const got = [0, 1, 2].map(() => small.createSocket().bind().address().port);
    expect(got.sort()).toEqual([40000, 40001, 40002]);
    const s = small.createSocket();
    const errs = errors(s);
    s.bind();
    run();
    expect(errs.map((e) => e.message)).toEqual(['bind EADDRINUSE 0.0.0.0']);
    // Implicit bind on send: the send callback gets the error.
    const t = small.createSocket();
    const r = sendResult((cb) => t.send('x', 9, '10.0.0.1', cb));
    expect(r.err?.code).toBe('EADDRINUSE');
  });
});

describe('send and receive', () => {
  it('round trip through the IP layer: checksum computed and verified, rinfo, callback bytes', () => {
    const server = udp.createSocket().bind(7000);
    const got = messages(server);
    const client = udp.createSocket();
    const listening: number[] = [];
    client.on('listening', () => listening.push(client.address().port));
    const r = sendResult((cb) => client.send('héllo', 7000, '10.0.0.2', cb));
    expect(r).toEqual({ err: null, bytes: 6 }); // UTF-8
    const port = client.address().port;
    expect(listening).toEqual([port]); // the implicit bind emits 'listening', as Node does
    expect(port).toBeGreaterThanOrEqual(49152);

    expect(fake.sent).toHaveLength(1);
    const s = fake.sent[0]!;
    expect(s.dst).toBe(HOST);
    expect(s.protocol).toBe(17);
    expect(s.opts).toEqual({ src: HOST, broadcast: false });
    const d = decodeUdp(s.payload, { src: HOST, dst: HOST });
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value.srcPort).toBe(port);
    expect(d.value.dstPort).toBe(7000);
    expect(d.value.checksum).not.toBe(0);
    expect(Buffer.from(d.value.payload).toString()).toBe('héllo');

    loop();
    expect(got).toEqual([]); // delivered through the clock
    run();
    expect(got).toEqual([{ text: 'héllo', rinfo: { address: '10.0.0.2', family: 'IPv4', port, size: 6 } }]);
    expect(udp.stats.inDatagrams).toBe(1);
    expect(udp.stats.outDatagrams).toBe(1);
    expect(server.stats).toEqual({ received: 1, sent: 0, drops: 0 });
    expect(client.stats).toEqual({ received: 0, sent: 1, drops: 0 });
  });

  it('the source address follows the route when bound to 0.0.0.0, the bound address otherwise', () => {
    const w = udp.createSocket().bind(7000);
    w.send('a', 53, '10.0.1.9');
    const s = udp.createSocket().bind(7001, '10.0.0.2');
    s.send('b', 53, '10.0.1.9');
    expect(fake.sent.map((x) => x.opts?.src)).toEqual([HOST2, HOST]);
  });

  it('a message is a copy; a payload of 0 bytes is delivered', () => {
    const s = udp.createSocket().bind(7000);
    const got: Buffer[] = [];
    s.on('message', (m) => got.push(m));
    const whole = feed(PEER, 1234, HOST, 7000, 'abc');
    whole.fill(0); // the borrowed receive slab is reused
    feed(PEER, 1234, HOST, 7000, '');
    run();
    expect(got.map((b) => b.toString())).toEqual(['abc', '']);
    expect(Buffer.isBuffer(got[0])).toBe(true);
  });

  it('a computed checksum of 0 is sent as 0xffff', () => {
    const s = udp.createSocket().bind(1234, '10.0.0.2');
    const payload = new Uint8Array([1, 2, 3, 4, 5, 6, 0, 0]);
    const c = udpChecksum(encodeUdp({ srcPort: 1234, dstPort: 5678 }, payload, { src: HOST, dst: PEER }));
    payload[6] = c >>> 8;
    payload[7] = c & 0xff;
    s.send(payload, 5678, '10.0.0.1');
    expect(udpChecksum(fake.sent[0]!.payload)).toBe(0xffff);
    expect(decodeUdp(fake.sent[0]!.payload, { src: HOST, dst: PEER }).ok).toBe(true);
  });

  it('a zero checksum (none) is accepted', () => {
    const s = udp.createSocket().bind(7000);
    const got = messages(s);
    feed(PEER, 1234, HOST, 7000, 'no sum', 0);
    run();
    expect(got.map((m) => m.text)).toEqual(['no sum']);
    expect(udp.stats.drops.badChecksum).toBe(0);
  });

  it('a bad checksum is dropped and counted, with no ICMP', () => {
    const s = udp.createSocket().bind(7000);
    const got = messages(s);
    const u = encodeUdp({ srcPort: 1234, dstPort: 7000 }, Buffer.from('data'), { src: PEER, dst: HOST });
    u[9] = u[9]! ^ 0xff;
    udp.input(PEER, HOST, u, ipDatagram(PEER, HOST, u));
    const closed = encodeUdp({ srcPort: 1234, dstPort: 7999, checksum: 0x1234 }, Buffer.from('x'), { src: PEER, dst: HOST });
    udp.input(PEER, HOST, closed, ipDatagram(PEER, HOST, closed));
    run();
    expect(got).toEqual([]);
    expect(udp.stats.drops.badChecksum).toBe(2);
    expect(udp.stats.inErrors).toBe(2);
    expect(udp.stats.noPorts).toBe(0);
    expect(fake.unreachables).toEqual([]);
  });

  it('length errors are counted by kind', () => {
    udp.createSocket().bind(7000);
    udp.input(PEER, HOST, new Uint8Array(5), new Uint8Array(25));
    const u = encodeUdp({ srcPort: 1, dstPort: 7000, length: 100, checksum: 0 }, new Uint8Array(4), { src: PEER, dst: HOST });
    udp.input(PEER, HOST, u, ipDatagram(PEER, HOST, u));
    const v = encodeUdp({ srcPort: 1, dstPort: 7000, length: 7, checksum: 0 }, new Uint8Array(4), { src: PEER, dst: HOST });
    udp.input(PEER, HOST, v, ipDatagram(PEER, HOST, v));
    expect(udp.stats.drops).toEqual({ badChecksum: 0, badLength: 2, truncated: 1, rcvbuf: 0 });
    expect(udp.stats.inErrors).toBe(3);
  });

  it('the receive queue holds recvBufferFrames undelivered datagrams; more are dropped and counted', () => {
    const s = udp.createSocket({ recvBufferFrames: 3 }).bind(7000);
    const got = messages(s);
    for (let i = 0; i < 5; i++) feed(PEER, 1234, HOST, 7000, `m${i}`);
    expect(udp.sockets()[0]).toMatchObject({ recvQ: 6, recvQFrames: 3, drops: 2 });
    run();
    expect(got.map((m) => m.text)).toEqual(['m0', 'm1', 'm2']);
    expect(s.stats.drops).toBe(2);
    expect(udp.stats.drops.rcvbuf).toBe(2);
    expect(udp.stats.inErrors).toBe(2);
    expect(udp.stats.inDatagrams).toBe(3);
    // Drained: room again.
    feed(PEER, 1234, HOST, 7000, 'm5');
    run();
    expect(got.map((m) => m.text)).toEqual(['m0', 'm1', 'm2', 'm5']);
    expect(udp.sockets()[0]).toMatchObject({ recvQ: 0, recvQFrames: 0 });
  });

  it('send forms: offset/length, a list of buffers, the default address, setTTL', () => {
    const s = udp.createSocket().bind(7000);
    s.send(Buffer.from('0123456789'), 2, 3, 9, '10.0.0.1');
    s.send([Buffer.from('ab'), 'cd', new Uint8Array([0x65])], 9, '10.0.0.1');
    s.send('lo', 9); // Node's default destination: 127.0.0.1
    expect(s.setTTL(7)).toBe(7);
    s.send('ttl', 9, '10.0.0.1');
    const decoded = fake.sent.map((x) => {
      const d = decodeUdp(x.payload);
      return d.ok ? Buffer.from(d.value.payload).toString() : '?';
    });
    expect(decoded).toEqual(['234', 'abcde', 'lo', 'ttl']);
    expect(fake.sent.map((x) => x.dst)).toEqual([PEER, PEER, ip('127.0.0.1'), PEER]);
    expect(fake.sent[3]!.opts).toEqual({ src: HOST, broadcast: false, ttl: 7 });
    expect(thrown(() => s.setTTL(0)).code).toBe('EINVAL');
  });

  it('an unresolvable address fails with ENOTFOUND (callback, or an error event without one)', () => {
    const s = udp.createSocket().bind(7000);
    const errs = errors(s);
    const r = sendResult((cb) => s.send('x', 9, 'no.such.host', cb));
    expect(r.err?.code).toBe('ENOTFOUND');
    expect(r.err?.message).toBe('getaddrinfo ENOTFOUND no.such.host');
    s.send('x', 9, 'no.such.host');
    run();
    expect(errs.map((e) => e.code)).toEqual(['ENOTFOUND']);
  });

  it('an IP-layer error reaches the callback; without a callback it is dropped, as Node does', () => {
    const s = udp.createSocket().bind(7000);
    const errs = errors(s);
    fake.result = Object.assign(new Error('no buffer space'), { code: 'ENOBUFS' });
    const r = sendResult((cb) => s.send('x', 9, '10.0.0.1', cb));
    expect([r.err?.code, r.err?.message, r.err?.errno]).toEqual(['ENOBUFS', 'send ENOBUFS 10.0.0.1:9', -105]);
    s.send('x', 9, '10.0.0.1');
    run();
    expect(errs).toEqual([]);
    expect(udp.stats.sendErrors).toBe(2);
    expect(udp.stats.outDatagrams).toBe(0);
  });

  it('no route: ENETUNREACH', () => {
    const s = udp.createSocket().bind(7000);
    const r = sendResult((cb) => s.send('x', 9, '192.168.9.9', cb));
    expect(r.err?.message).toBe('send ENETUNREACH 192.168.9.9:9');
    expect(fake.sent).toEqual([]);
  });
});

describe('limits and permissions', () => {
  it('broadcast needs setBroadcast(true), else EACCES; setBroadcast before bind is EBADF as in Node', () => {
    const s = udp.createSocket();
    expect(thrown(() => s.setBroadcast(true)).message).toBe('setBroadcast EBADF');
    const r = sendResult((cb) => s.send('x', 9, '255.255.255.255', cb));
    expect([r.err?.code, r.err?.message, r.err?.errno, r.err?.syscall, r.err?.address, r.err?.port]).toEqual([
      'EACCES',
      'send EACCES 255.255.255.255:9',
      -13,
      'send',
      '255.255.255.255',
      9,
    ]);
    const r2 = sendResult((cb) => s.send('x', 9, '10.0.0.255', cb));
    expect(r2.err?.code).toBe('EACCES');
    expect(fake.sent).toEqual([]);
    s.setBroadcast(true);
    const r3 = sendResult((cb) => s.send('hi', 9, '255.255.255.255', cb));
    expect(r3).toEqual({ err: null, bytes: 2 });
    expect(fake.sent[0]!.opts).toEqual({ src: HOST, broadcast: true });
  });

  it('connect to a broadcast address without setBroadcast is EACCES', () => {
    const s = udp.createSocket().bind(7000);
    const got: Array<UdpError | undefined> = [];
    s.connect(9, '10.0.0.255', (e) => got.push(e));
    run();
    expect(got.map((e) => e?.message)).toEqual(['connect EACCES 10.0.0.255:9']);
    expect(thrown(() => s.remoteAddress()).code).toBe('ERR_SOCKET_DGRAM_NOT_CONNECTED');
  });

  it('65507 bytes is the largest datagram; 65508 gives EMSGSIZE', () => {
    const s = udp.createSocket().bind(7000);
    expect(sendResult((cb) => s.send(new Uint8Array(65507), 9, '10.0.0.1', cb))).toEqual({ err: null, bytes: 65507 });
    const r = sendResult((cb) => s.send(new Uint8Array(65508), 9, '10.0.0.1', cb));
    expect([r.err?.code, r.err?.message, r.err?.errno]).toEqual(['EMSGSIZE', 'send EMSGSIZE 10.0.0.1:9', -90]);
    s.connect(9, '10.0.0.1');
    run();
    const r2 = sendResult((cb) => s.send(new Uint8Array(70000), cb));
    expect(r2.err?.message).toBe('send EMSGSIZE'); // connected: no address in the message, as Node
    expect(fake.sent).toHaveLength(1);
  });
});

describe("Node's ERR_ codes", () => {
  it('argument and state errors are thrown synchronously', () => {
    const s = udp.createSocket();
    const badPort = thrown(() => s.send('x'));
    expect([badPort.name, badPort.code, badPort.message]).toEqual([
      'RangeError',
      'ERR_SOCKET_BAD_PORT',
      'Port should be > 0 and < 65536. Received undefined.',
    ]);
    expect(thrown(() => s.send('x', 0, '10.0.0.1')).message).toBe(
      'Port should be > 0 and < 65536. Received type number (0).',
    );
    expect(thrown(() => s.send(42 as unknown as string, 9, '10.0.0.1')).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(thrown(() => s.remoteAddress()).code).toBe('ERR_SOCKET_DGRAM_NOT_CONNECTED');
    expect(thrown(() => s.disconnect()).message).toBe('Not connected');
    expect(thrown(() => s.address()).message).toBe('getsockname EBADF');

    s.connect(9, '10.0.0.1');
    expect(thrown(() => s.send('x', 9, '10.0.0.1')).code).toBe('ERR_SOCKET_DGRAM_IS_CONNECTED');
    expect(thrown(() => s.send('x', 9)).code).toBe('ERR_SOCKET_DGRAM_IS_CONNECTED');
    expect(thrown(() => s.send(Buffer.from('xyz'), 0, 3, 9, '10.0.0.1')).code).toBe('ERR_SOCKET_DGRAM_IS_CONNECTED');
    const again = thrown(() => s.connect(9, '10.0.0.1'));
    expect([again.code, again.message]).toEqual(['ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected']);

    s.close();
    for (const f of [() => s.send('x'), () => s.bind(), () => s.address(), () => s.close(), () => s.connect(9)]) {
      const e = thrown(f);
      expect([e.code, e.message]).toEqual(['ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running']);
    }
    run();
  });
});

describe('connect and demux', () => {
  it('connect on 0.0.0.0 fixes the local address to the route source; connect/disconnect events and state', () => {
    const s = udp.createSocket().bind(7000);
    const events: string[] = [];
    s.on('connect', () => events.push('connect'));
    s.connect(53, '10.0.1.9', () => events.push('callback'));
    expect(s.address()).toEqual({ address: '10.0.1.2', family: 'IPv4', port: 7000 });
    expect(s.remoteAddress()).toEqual({ address: '10.0.1.9', family: 'IPv4', port: 53 });
    run();
    expect(events).toEqual(['connect', 'callback']);
    const r = sendResult((cb) => s.send('q', cb));
    expect(r).toEqual({ err: null, bytes: 1 });
    expect(fake.sent[0]).toMatchObject({ dst: ip('10.0.1.9'), opts: { src: HOST2 } });
    s.disconnect();
    expect(s.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 7000 }); // the bound port is kept
  });

  it('disconnect releases a port the stack chose; the next send picks one again (Linux autobind)', () => {
    const s = udp.createSocket();
    s.connect(53, '10.0.0.1');
    const first = s.address().port;
    expect(first).toBeGreaterThanOrEqual(49152);
    s.disconnect();
    expect(s.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 0 });
    expect(udp.sockets()).toEqual([]);
    s.send('x', 53, '10.0.0.1');
    expect(s.address().port).toBeGreaterThanOrEqual(49152);
    expect(udp.sockets()).toHaveLength(1);
    run();
  });

  it('connect to an unroutable address: ENETUNREACH to the callback, or an error event', () => {
    const s = udp.createSocket().bind(7000);
    const errs = errors(s);
    const got: Array<UdpError | undefined> = [];
    s.connect(9, '192.168.1.1', (e) => got.push(e));
    s.connect(9, '192.168.1.2');
    run();
    expect(got.map((e) => e?.message)).toEqual(['connect ENETUNREACH 192.168.1.1:9']);
    expect(errs.map((e) => e.message)).toEqual(['connect ENETUNREACH 192.168.1.2:9']);
    expect(s.listenerCount('connect')).toBe(0);
  });

  it('most specific wins: connected 4-tuple > bound address > wildcard', () => {
    // Bound in the reverse order of precedence, so equal scores would go to the wildcard (bound last).
    const connected = udp.createSocket({ reuseAddr: true }).bind(7000, '10.0.0.2');
    connected.connect(9000, '10.0.0.1');
    const bound = udp.createSocket({ reuseAddr: true }).bind(7000, '10.0.0.2');
    const wildcard = udp.createSocket({ reuseAddr: true }).bind(7000);
    const got = { wildcard: messages(wildcard), bound: messages(bound), connected: messages(connected) };
    feed(PEER, 9000, HOST, 7000, 'from peer');
    feed(PEER, 9001, HOST, 7000, 'other port');
    feed(ip('10.0.0.7'), 9000, HOST, 7000, 'other host');
    feed(ip('10.0.1.9'), 9000, HOST2, 7000, 'to eth1');
    run();
    expect(got.connected.map((m) => m.text)).toEqual(['from peer']);
    expect(got.bound.map((m) => m.text)).toEqual(['other port', 'other host']);
    expect(got.wildcard.map((m) => m.text)).toEqual(['to eth1']);
  });

  it('a connected socket receives only from its peer; others get port unreachable', () => {
    const s = udp.createSocket().bind(7000);
    s.connect(9000, '10.0.0.1');
    const got = messages(s);
    feed(PEER, 9000, HOST, 7000, 'yes');
    const stray = feed(ip('10.0.0.7'), 9000, HOST, 7000, 'no');
    run();
    expect(got.map((m) => m.text)).toEqual(['yes']);
    expect(fake.unreachables).toEqual([stray]);
    expect(udp.stats.noPorts).toBe(1);
  });

  it('equal scores go to the socket bound last (Linux SO_REUSEADDR unicast)', () => {
    const a = udp.createSocket({ reuseAddr: true }).bind(7000);
    const b = udp.createSocket({ reuseAddr: true }).bind(7000);
    const got = { a: messages(a), b: messages(b) };
    feed(PEER, 1, HOST, 7000, 'u');
    run();
    expect([got.a.length, got.b.length]).toEqual([0, 1]);
    b.close();
    feed(PEER, 1, HOST, 7000, 'v');
    run();
    expect(got.a.map((m) => m.text)).toEqual(['v']);
  });

  it('broadcast goes to every matching socket, not to sockets bound to another address', () => {
    const a = udp.createSocket({ reuseAddr: true }).bind(67);
    const b = udp.createSocket({ reuseAddr: true }).bind(67);
    const onBcast = udp.createSocket({ reuseAddr: true }).bind(67, '10.0.0.255');
    const unicast = udp.createSocket({ reuseAddr: true }).bind(67, '10.0.0.2');
    const got = [a, b, onBcast, unicast].map((s) => messages(s));
    feed(PEER, 68, BCAST, 67, 'dhcp');
    feed(PEER, 68, ALL_ONES, 67, 'all');
    run();
    expect(got.map((g) => g.map((m) => m.text))).toEqual([['dhcp', 'all'], ['dhcp', 'all'], ['dhcp'], []]);
    expect(udp.stats.inDatagrams).toBe(5);
  });
});

describe('ICMP', () => {
  it('port unreachable for a closed port, quoting the datagram; not for broadcast or multicast', () => {
    const whole = feed(PEER, 1234, HOST, 9999, 'anyone?');
    feed(PEER, 1234, BCAST, 9999, 'anyone?');
    feed(PEER, 1234, ALL_ONES, 9999, 'anyone?');
    feed(PEER, 1234, ip('224.0.0.251'), 5353, 'mdns');
    expect(fake.unreachables).toEqual([whole]);
    expect(udp.stats.noPorts).toBe(1);
    expect(udp.stats.ignoredMulti).toBe(3);
  });

  it('a connected socket gets ECONNREFUSED as an error event; an unconnected one ignores it', () => {
    const c = udp.createSocket().bind(40000);
    c.connect(53, '10.0.0.1');
    const u = udp.createSocket().bind(40001);
    const ce = errors(c);
    const ue = errors(u);
    const quote = { src: HOST, dst: PEER, srcPort: 40000, dstPort: 53 };
    expect(udp.icmpError(quote, 'ECONNREFUSED')).toBe(true);
    expect(udp.icmpError({ ...quote, srcPort: 40001 }, 'ECONNREFUSED')).toBe(false);
    expect(udp.icmpError({ ...quote, dstPort: 54 }, 'ECONNREFUSED')).toBe(false); // not its peer
    run();
    expect(ce.map((e) => [e.code, e.message, e.errno, e.syscall])).toEqual([
      ['ECONNREFUSED', 'recvmsg ECONNREFUSED', -111, 'recvmsg'],
    ]);
    expect(ue).toEqual([]);
    expect(udp.stats.icmpErrorsReported).toBe(1);
    expect(udp.stats.icmpErrorsIgnored).toBe(2);
    // Reported once: the socket works on.
    expect(sendResult((cb) => c.send('again', cb))).toEqual({ err: null, bytes: 5 });
  });

  it('a pending ICMP error fails the next send instead (and is reported only once)', () => {
    const c = udp.createSocket().bind(40000);
    c.connect(53, '10.0.0.1');
    const ce = errors(c);
    udp.icmpError({ src: HOST, dst: PEER, srcPort: 40000, dstPort: 53 }, 'ECONNREFUSED');
    const r = sendResult((cb) => c.send('x', cb));
    expect(r.err?.message).toBe('send ECONNREFUSED');
    expect(ce).toEqual([]);
    expect(fake.sent).toEqual([]);
  });

  it('soft errors are ignored; udpErrorForIcmp follows Linux', () => {
    const c = udp.createSocket().bind(40000);
    c.connect(53, '10.0.0.1');
    const ce = errors(c);
    const soft = udpErrorForIcmp(11, 0)!;
    expect(soft).toEqual({ code: 'EHOSTUNREACH', hard: false });
    expect(udp.icmpError({ src: HOST, dst: PEER, srcPort: 40000, dstPort: 53 }, soft.code, soft)).toBe(false);
    run();
    expect(ce).toEqual([]);
    expect(udpErrorForIcmp(3, 3)).toEqual({ code: 'ECONNREFUSED', hard: true });
    expect(udpErrorForIcmp(3, 1)).toEqual({ code: 'EHOSTUNREACH', hard: true });
    expect(udpErrorForIcmp(3, 0)).toEqual({ code: 'ENETUNREACH', hard: true });
    expect(udpErrorForIcmp(3, 4)).toEqual({ code: 'EMSGSIZE', hard: true });
    expect(udpErrorForIcmp(0, 0)).toBeUndefined();
  });
});

describe('close, addresses, listing', () => {
  it("close frees the port, emits 'close' through the clock, and drops what was waiting", () => {
    const s = udp.createSocket().bind(7000);
    const got = messages(s);
    const events: string[] = [];
    feed(PEER, 1, HOST, 7000, 'late');
    s.close(() => events.push('callback'));
    s.on('close', () => events.push('close'));
    expect(events).toEqual([]);
    run();
    expect(events).toEqual(['callback', 'close']);
    expect(got).toEqual([]);
    const again = udp.createSocket();
    const errs = errors(again);
    again.bind(7000);
    run();
    expect(errs).toEqual([]);
    expect(again.address().port).toBe(7000);
    again.close();
    feed(PEER, 1, HOST, 7000, 'nobody');
    expect(fake.unreachables).toHaveLength(1);
    expect(udp.sockets()).toEqual([]);
  });

  it("a socket closed before 'listening' never emits it", () => {
    const s = udp.createSocket().bind(7000);
    let listened = false;
    s.on('listening', () => (listened = true));
    s.close();
    run();
    expect(listened).toBe(false);
  });

  it('sockets() and format() read like ss -uan', () => {
    udp.createSocket().bind(53);
    const c = udp.createSocket().bind(49999);
    c.connect(5353, '10.0.1.77');
    udp.createSocket().bind(7000, '10.0.0.2');
    feed(PEER, 1, HOST, 7000, 'queued!');
    expect(udp.sockets()).toEqual([
      { state: 'UNCONN', local: { address: '0.0.0.0', port: 53 }, recvQ: 0, sendQ: 0, recvQFrames: 0, drops: 0 },
      {
        state: 'ESTAB',
        local: { address: '10.0.1.2', port: 49999 },
        remote: { address: '10.0.1.77', port: 5353 },
        recvQ: 0,
        sendQ: 0,
        recvQFrames: 0,
        drops: 0,
      },
      { state: 'UNCONN', local: { address: '10.0.0.2', port: 7000 }, recvQ: 7, sendQ: 0, recvQFrames: 1, drops: 0 },
    ]);
    expect(udp.format()).toBe(
      [
        'State  Recv-Q Send-Q Local Address:Port  Peer Address:Port',
        'UNCONN 0      0            0.0.0.0:53         0.0.0.0:*',
        'ESTAB  0      0           10.0.1.2:49999    10.0.1.77:5353',
        'UNCONN 7      0           10.0.0.2:7000       0.0.0.0:*',
      ].join('\n'),
    );
    run();
  });

  it('createSocket takes a message listener, like dgram.createSocket(type, listener)', () => {
    const got: string[] = [];
    udp.createSocket('udp4', (m) => got.push(m.toString())).bind(7000);
    feed(PEER, 1, HOST, 7000, 'hi');
    run();
    expect(got).toEqual(['hi']);
  });
});
