/**
 * TapPort against real TAP devices and the real kernel: opening and its
 * errors, frames from the kernel arriving in batches, frames from wirelab
 * arriving in the kernel (it answers them), handler faults counted, and
 * vnet_hdr mode with offload.
 *
 * Each TAP is opened in the root namespace (where this process runs) and
 * moved straight into a throwaway namespace before it gets an address, so
 * nothing routable ever appears in the root namespace; closing the fd deletes
 * the device wherever it is. Hand-written: the subject is our own addon.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createVethPair, destroyAll, exec, requireRoot, spawn, type VethPair } from '../helpers/netns.js';
import { openTap, type TapOptions, type TapPort } from '../../src/link/tap.js';
import { type RxBatch, VNET_HDR_LEN } from '../../src/link/port.js';
import { MAC_BROADCAST, type Mac, formatMac, parseIPv4, parseMac } from '../../src/wire/address.js';
import { ARP_OP, decodeArp, encodeArp } from '../../src/wire/arp.js';
import { ETHERTYPE, decodeEthernet, encodeEthernet } from '../../src/wire/ethernet.js';
import { decodeIcmp, encodeIcmp } from '../../src/wire/icmp.js';
import { IP_PROTOCOL, decodeIPv4, encodeIPv4, type IPv4Header } from '../../src/wire/ipv4.js';
import { fold32, pseudoHeaderSum } from '../../src/wire/checksum.js';
import { TCP_FLAG, decodeTcp, encodeTcp } from '../../src/wire/tcp.js';
import { encodeUdp } from '../../src/wire/udp.js';

const execFileAsync = promisify(execFile);
const cap = requireRoot(['ping', 'ethtool', 'python3']);

function tapName(): string {
  return `wlt${randomBytes(4).toString('hex')}`; // 11 bytes, under IFNAMSIZ
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Copies every frame of a batch (the bytes are borrowed). */
function collect(into: Uint8Array[], sizes: number[]): (b: RxBatch) => void {
  return (b) => {
    sizes.push(b.count);
    for (let i = 0; i < b.count; i++) into.push(b.buf.slice(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!));
  };
}

function arpFrame(op: number, srcMac: Mac, srcIp: number, dstMac: Mac, dstIp: number): Uint8Array {
  const arp = encodeArp({
    hardwareType: 1,
    protocolType: 0x0800,
    hardwareLength: 6,
    protocolLength: 4,
    operation: op,
    senderMac: srcMac,
    senderIp: srcIp,
    targetMac: op === ARP_OP.REQUEST ? 0 : dstMac,
    targetIp: dstIp,
  });
  return encodeEthernet({ dst: dstMac, src: srcMac, tags: [], etherType: ETHERTYPE.ARP }, arp);
}

function ipHeader(protocol: number, src: number, dst: number): IPv4Header {
  return {
    dscp: 0, ecn: 0, identification: 1, dontFragment: true, moreFragments: false, reservedFlag: false,
    fragmentOffset: 0, ttl: 64, protocol, src, dst, options: new Uint8Array(0),
  };
}

/** A 10-byte virtio_net_hdr (little-endian, as a TAP on x86 uses) followed by `frame`. */
function withVnetHdr(frame: Uint8Array, h: { flags: number; gsoType: number; hdrLen: number; gsoSize: number; csumStart: number; csumOffset: number }): Uint8Array {
  const out = new Uint8Array(VNET_HDR_LEN + frame.length);
  const v = new DataView(out.buffer);
  v.setUint8(0, h.flags);
  v.setUint8(1, h.gsoType);
  v.setUint16(2, h.hdrLen, true);
  v.setUint16(4, h.gsoSize, true);
  v.setUint16(6, h.csumStart, true);
  v.setUint16(8, h.csumOffset, true);
  out.set(frame, VNET_HDR_LEN);
  return out;
}

function echoRequestFrame(srcMac: Mac, srcIp: number, dstMac: Mac, dstIp: number, id: number, seq: number): Uint8Array {
  const icmp = encodeIcmp({ kind: 'echo-request', identifier: id, sequence: seq, data: new Uint8Array(32).fill(0x5a) });
  const ip = encodeIPv4(
    {
      dscp: 0, ecn: 0, identification: seq, dontFragment: true, moreFragments: false, reservedFlag: false,
      fragmentOffset: 0, ttl: 64, protocol: IP_PROTOCOL.ICMP, src: srcIp, dst: dstIp, options: new Uint8Array(0),
    },
    icmp,
  );
  return encodeEthernet({ dst: dstMac, src: srcMac, tags: [], etherType: ETHERTYPE.IPV4 }, ip);
}

interface ArpSeen { op: number; senderIp: number; targetIp: number; senderMac: Mac }
function arps(frames: readonly Uint8Array[]): ArpSeen[] {
  const out: ArpSeen[] = [];
  for (const f of frames) {
    const eth = decodeEthernet(f);
    if (!eth.ok || eth.value.etherType !== ETHERTYPE.ARP) continue;
    const a = decodeArp(eth.value.payload);
    if (a.ok) out.push({ op: a.value.operation, senderIp: a.value.senderIp, targetIp: a.value.targetIp, senderMac: a.value.senderMac });
  }
  return out;
}

function echoReplies(frames: readonly Uint8Array[], id: number): number[] {
  const seqs: number[] = [];
  for (const f of frames) {
    const eth = decodeEthernet(f);
    if (!eth.ok || eth.value.etherType !== ETHERTYPE.IPV4) continue;
    const ip = decodeIPv4(eth.value.payload);
    if (!ip.ok || ip.value.protocol !== IP_PROTOCOL.ICMP) continue;
    const m = decodeIcmp(ip.value.payload);
    if (m.ok && m.value.kind === 'echo-reply' && m.value.identifier === id) seqs.push(m.value.sequence);
  }
  return seqs;
}

describe.skipIf(cap.skip)('TapPort on real TAP devices', () => {
  let pair: VethPair | undefined;
  let ns = '';
  const ports: TapPort[] = [];
  // Subnets 10.199.1-127.0/24 are left to tests by the netns helper; one per TAP.
  let nextSubnet = 1 + (randomBytes(1)[0]! % 64);

  function open(name: string, opts?: TapOptions): TapPort {
    const p = openTap(name, opts);
    ports.push(p);
    return p;
  }

  /** Moves the TAP into the test namespace, gives it .1/24 of a fresh subnet, brings it up. */
  async function plug(port: TapPort): Promise<{ hostIp: number; peerIp: number; hostMac: Mac; subnet: string }> {
    const subnet = `10.199.${nextSubnet++}`;
    await execFileAsync('ip', ['link', 'set', 'dev', port.ifname, 'netns', ns]);
    await exec(ns, ['ip', 'addr', 'add', `${subnet}.1/24`, 'dev', port.ifname], { check: true });
    await exec(ns, ['ip', 'link', 'set', 'dev', port.ifname, 'up'], { check: true });
    const link = await exec(ns, ['ip', '-j', 'link', 'show', 'dev', port.ifname], { check: true });
    const hostMac = parseMac((JSON.parse(link.stdout) as Array<{ address: string }>)[0]!.address);
    return { hostIp: parseIPv4(`${subnet}.1`), peerIp: parseIPv4(`${subnet}.2`), hostMac, subnet };
  }

  beforeAll(async () => {
    cap.assert();
    pair = await createVethPair();
    ns = pair.a.ns;
  });

  afterAll(async () => {
    for (const p of ports) await p.close().catch(() => {});
    await pair?.destroy();
    await destroyAll();
  });

  it('opens, reports the kernel name, and closes idempotently (the device goes away)', async () => {
    const name = tapName();
    const port = open(name);
    expect(port.ifname).toBe(name);
    expect(port.name).toBe(name);
    expect(port.vnetHdr).toBe(false);
    expect((await execFileAsync('ip', ['link', 'show', 'dev', name])).stdout).toContain(name);
    await port.close();
    await port.close();
    expect(port.isClosed).toBe(true);
    const gone = spawnSync('ip', ['link', 'show', 'dev', name]);
    expect(gone.status).not.toBe(0);
    expect(port.send(new Uint8Array(60), 0, 60, -1)).toBe(false);
    expect(port.stats.drops.closed).toBe(1);
  });

  it('refuses a name already open without multi-queue with EBUSY and advice', () => {
    const name = tapName();
    open(name);
    let err: (Error & { code?: string; syscall?: string }) | undefined;
    try {
      open(name);
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err).toBeInstanceOf(Error);
    expect(err?.code).toBe('EBUSY');
    expect(err?.syscall).toBe('TUNSETIFF');
    expect(err?.message).toContain(`"${name}"`);
    expect(err?.message).toMatch(/in use: pick another or delete it with `ip link del /);
  });

  it('opens the same name twice with multi-queue', async () => {
    const name = tapName();
    const q1 = open(name, { multiQueue: true });
    const q2 = open(name, { multiQueue: true });
    expect(q2.ifname).toBe(q1.ifname);
    await q1.close();
    await q2.close();
  });

  it('rejects a name longer than 15 bytes with EINVAL and says why', () => {
    const name = `wlt${'x'.repeat(20)}`;
    expect(() => openTap(name)).toThrow(/1 to 15 bytes .*this one is 23/);
    try {
      openTap(name);
    } catch (e) {
      expect((e as { code?: string }).code).toBe('EINVAL');
    }
    expect(() => openTap('wl/bad')).toThrow(/cannot contain/);
  });

  it('counts a write on a down link as txError:EIO and keeps going', async () => {
    const port = open(tapName()); // never brought up
    const frame = arpFrame(ARP_OP.REQUEST, parseMac('02:00:00:00:00:01'), 0, MAC_BROADCAST, 0);
    expect(port.send(frame, 0, frame.length, -1)).toBe(true);
    expect(port.send(frame, 0, frame.length, -1)).toBe(true);
    port.flush();
    expect(port.stats.drops['txError:EIO']).toBe(2);
    expect(port.stats.txFrames).toBe(0);
  });

  it('delivers the kernel’s ARP requests through onReceive', async () => {
    const port = open(tapName());
    const frames: Uint8Array[] = [];
    const sizes: number[] = [];
    port.onReceive = collect(frames, sizes);
    const { hostIp, peerIp, subnet } = await plug(port);
    await exec(ns, ['ping', '-c', '3', '-i', '0.3', '-W', '1', `${subnet}.2`]);
    const who = arps(frames).filter((a) => a.op === ARP_OP.REQUEST && a.targetIp === peerIp);
    expect(who.length).toBeGreaterThanOrEqual(1);
    expect(who[0]!.senderIp).toBe(hostIp);
    expect(port.stats.rxFrames).toBe(frames.length);
    expect(port.stats.rxBytes).toBe(frames.reduce((s, f) => s + f.length, 0));
    expect(sizes.every((n) => n >= 1)).toBe(true);
  });

  it('reads a burst that queued while the loop was busy as one batch', async () => {
    const port = open(tapName(), { batchFrames: 64 });
    const frames: Uint8Array[] = [];
    const sizes: number[] = [];
    port.onReceive = collect(frames, sizes);
    const { subnet } = await plug(port);
    await exec(ns, ['ip', 'neigh', 'replace', `${subnet}.2`, 'lladdr', '02:00:00:00:00:02', 'dev', port.ifname, 'nud', 'permanent'], { check: true });
    // spawnSync blocks this thread: all 20 echo requests wait in the TAP's queue.
    const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', '20', '-i', '0.002', '-w', '1', `${subnet}.2`]);
    expect(r.error).toBeUndefined();
    await waitFor(() => frames.length >= 20, '20 echo requests');
    expect(Math.max(...sizes)).toBeGreaterThanOrEqual(2);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(frames.length);
  });

  it('sends frames the kernel answers: ARP request → reply + neighbour entry, echo request → echo reply', async () => {
    const port = open(tapName(), { txQueueFrames: 4 });
    const frames: Uint8Array[] = [];
    port.onReceive = collect(frames, []);
    const { hostIp, peerIp, hostMac, subnet } = await plug(port);
    const myMac = parseMac(`02:77:${randomBytes(4).toString('hex').match(/../g)!.join(':')}`);

    // More frames than the queue holds in one tick: the queue flushes itself to make room.
    const who = arpFrame(ARP_OP.REQUEST, myMac, peerIp, MAC_BROADCAST, hostIp);
    for (let i = 0; i < 6; i++) expect(port.send(who, 0, who.length, -1)).toBe(true);
    await waitFor(() => arps(frames).some((a) => a.op === ARP_OP.REPLY && a.targetIp === peerIp), 'an ARP reply');
    expect(port.stats.txFrames).toBe(6);
    expect(port.stats.txBytes).toBe(6 * who.length);
    expect(port.stats.drops).toEqual({});
    const reply = arps(frames).find((a) => a.op === ARP_OP.REPLY)!;
    expect(reply.senderMac).toBe(hostMac);
    const neigh = await exec(ns, ['ip', 'neigh', 'show', `${subnet}.2`, 'dev', port.ifname], { check: true });
    expect(neigh.stdout).toContain(formatMac(myMac));

    const id = 0x4242;
    for (let seq = 1; seq <= 3; seq++) {
      const ping = echoRequestFrame(myMac, peerIp, hostMac, hostIp, id, seq);
      port.send(ping, 0, ping.length, -1);
    }
    port.flush();
    await waitFor(() => echoReplies(frames, id).length === 3, 'three echo replies');
    expect(echoReplies(frames, id)).toEqual([1, 2, 3]);
    const link = await exec(ns, ['ip', '-s', '-j', 'link', 'show', 'dev', port.ifname], { check: true });
    const rxPackets = (JSON.parse(link.stdout) as Array<{ stats64: { rx: { packets: number } } }>)[0]!.stats64.rx.packets;
    expect(rxPackets).toBeGreaterThanOrEqual(9);
  });

  it('counts a throwing handler, keeps the error, and keeps receiving', async () => {
    const port = open(tapName());
    port.onReceive = () => {
      throw new Error('handler boom');
    };
    const { hostIp, peerIp } = await plug(port);
    const myMac = parseMac('02:00:5e:00:01:02');
    const who = arpFrame(ARP_OP.REQUEST, myMac, peerIp, MAC_BROADCAST, hostIp);
    port.send(who, 0, who.length, -1);
    await waitFor(() => (port.stats.drops.handlerError ?? 0) >= 1, 'a counted handler error');
    expect((port.lastError as Error).message).toBe('handler boom');

    const frames: Uint8Array[] = [];
    port.onReceive = collect(frames, []);
    port.send(who, 0, who.length, -1);
    await waitFor(() => arps(frames).some((a) => a.op === ARP_OP.REPLY), 'an ARP reply after the fault');
  });

  it('completes partial checksums and segments GSO frames for a device without vnet_hdr', async () => {
    const port = open(tapName());
    const frames: Uint8Array[] = [];
    port.onReceive = collect(frames, []);
    const { hostIp, peerIp, hostMac, subnet } = await plug(port);
    const myMac = parseMac('02:00:5e:00:01:04');
    await exec(ns, ['ip', 'neigh', 'replace', `${subnet}.2`, 'lladdr', formatMac(myMac), 'dev', port.ifname, 'nud', 'permanent'], { check: true });

    // UDP with only the pseudo-header sum in its checksum field (NEEDS_CSUM): the
    // kernel drops it unless the port completed the sum.
    const listener = spawn(ns, ['python3', '-u', '-c', [
      'import socket',
      's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      `s.bind(('${subnet}.1', 5555))`,
      "print('ready', flush=True)",
      'data, _ = s.recvfrom(2000)',
      "print('got', len(data), data[:5].decode(), flush=True)",
    ].join('\n')]);
    await listener.waitForOutput(/ready/);
    const payload = new TextEncoder().encode('hello from a partial checksum');
    const udp = encodeUdp({ srcPort: 4444, dstPort: 5555 }, payload, { src: peerIp, dst: hostIp });
    const partial = fold32(pseudoHeaderSum(peerIp, hostIp, IP_PROTOCOL.UDP, udp.length));
    udp[6] = partial >>> 8;
    udp[7] = partial & 0xff;
    const udpFrame = encodeEthernet({ dst: hostMac, src: myMac, tags: [], etherType: ETHERTYPE.IPV4 }, encodeIPv4(ipHeader(IP_PROTOCOL.UDP, peerIp, hostIp), udp));
    const udpVnet = withVnetHdr(udpFrame, { flags: 1, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 34, csumOffset: 6 });
    expect(port.send(udpVnet, VNET_HDR_LEN, udpFrame.length, 0)).toBe(true);
    await listener.waitForOutput(/got 29 hello/);
    // The caller's bytes are untouched (they may be queued on other ports too).
    expect(udpVnet[VNET_HDR_LEN + 34 + 6]).toBe(partial >>> 8);

    // A 3000-byte TCP GSO frame (gso_size 1000) to a closed port: the kernel
    // answers each of the three segments it accepted with a RST.
    const tcp = encodeTcp(
      { srcPort: 40000, dstPort: 9, seq: 1000, ack: 777, flags: TCP_FLAG.ACK | TCP_FLAG.PSH, window: 512 },
      new Uint8Array(3000).fill(0x61),
      { src: peerIp, dst: hostIp },
    );
    const tcpFrame = encodeEthernet({ dst: hostMac, src: myMac, tags: [], etherType: ETHERTYPE.IPV4 }, encodeIPv4(ipHeader(IP_PROTOCOL.TCP, peerIp, hostIp), tcp));
    const gso = withVnetHdr(tcpFrame, { flags: 1, gsoType: 1, hdrLen: 54, gsoSize: 1000, csumStart: 34, csumOffset: 16 });
    expect(port.send(gso, VNET_HDR_LEN, tcpFrame.length, 0)).toBe(true);
    const rsts = (): number[] => {
      const acks: number[] = [];
      for (const f of frames) {
        const eth = decodeEthernet(f);
        if (!eth.ok || eth.value.etherType !== ETHERTYPE.IPV4) continue;
        const ip = decodeIPv4(eth.value.payload);
        if (!ip.ok || ip.value.protocol !== IP_PROTOCOL.TCP) continue;
        const seg = decodeTcp(ip.value.payload, { src: ip.value.src, dst: ip.value.dst });
        if (seg.ok && (seg.value.flags & TCP_FLAG.RST) !== 0) acks.push(seg.value.seq);
      }
      return acks;
    };
    await waitFor(() => rsts().length === 3, 'three RSTs');
    expect(rsts()).toEqual([777, 777, 777]);
    expect(port.stats.txFrames).toBe(4);
    expect(port.stats.drops).toEqual({});
  });

  it('stops reading, once and counted, when the device is deleted under it', async () => {
    const port = open(tapName());
    port.onReceive = () => {};
    await plug(port);
    await exec(ns, ['ip', 'link', 'del', 'dev', port.ifname], { check: true });
    await waitFor(() => port.rxErrno !== 0, 'the read error');
    const cpu = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 300));
    const used = process.cpuUsage(cpu);
    expect(used.user + used.system).toBeLessThan(150_000); // no spinning on a dead fd
    expect(Object.keys(port.stats.drops).filter((k) => k.startsWith('rxError:'))).toHaveLength(1);
    port.send(new Uint8Array(60), 0, 60, -1);
    port.flush();
    expect(Object.keys(port.stats.drops).some((k) => k.startsWith('txError:'))).toBe(true);
  });

  describe('vnet_hdr mode', () => {
    it('turns on TSO in the kernel, hands out frames with a 10-byte header, and takes both kinds of frame', async () => {
      const port = open(tapName(), { vnetHdr: true });
      expect(port.vnetHdr).toBe(true);
      expect(port.offload).toBe(true);
      const frames: Uint8Array[] = [];
      const headers: Uint8Array[] = [];
      let sawVnetBatch = false;
      port.onReceive = (b) => {
        sawVnetBatch ||= b.vnetHdr;
        for (let i = 0; i < b.count; i++) {
          const off = b.offsets[i]!;
          expect(off).toBeGreaterThanOrEqual(VNET_HDR_LEN);
          headers.push(b.buf.slice(off - VNET_HDR_LEN, off));
          frames.push(b.buf.slice(off, off + b.lengths[i]!));
        }
      };
      const { hostIp, peerIp, hostMac, subnet } = await plug(port);
      const features = await exec(ns, ['ethtool', '-k', port.ifname], { check: true });
      expect(features.stdout).toMatch(/^tcp-segmentation-offload: on/m);
      expect(features.stdout).toMatch(/^tx-checksumming: on/m);

      // Frames from the kernel: ARP requests for .2 (plain, zero header) ...
      await exec(ns, ['ping', '-c', '1', '-W', '1', `${subnet}.2`]);
      await waitFor(() => arps(frames).some((a) => a.op === ARP_OP.REQUEST), 'an ARP request');
      expect(sawVnetBatch).toBe(true);
      const arpIdx = frames.findIndex((f) => {
        const eth = decodeEthernet(f);
        return eth.ok && eth.value.etherType === ETHERTYPE.ARP;
      });
      expect(Array.from(headers[arpIdx]!)).toEqual(new Array<number>(VNET_HDR_LEN).fill(0));

      // ... and a UDP datagram, whose checksum the kernel leaves to us (VIRTIO_NET_HDR_F_NEEDS_CSUM).
      await exec(ns, ['ip', 'neigh', 'replace', `${subnet}.2`, 'lladdr', '02:00:00:00:00:02', 'dev', port.ifname, 'nud', 'permanent'], { check: true });
      await exec(ns, ['python3', '-c', `import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x' * 100, ('${subnet}.2', 9))`], { check: true });
      await waitFor(() => headers.some((h) => (h[0]! & 1) === 1), 'a NEEDS_CSUM frame');
      const h = headers.find((x) => (x[0]! & 1) === 1)!;
      const view = new DataView(h.buffer, h.byteOffset, h.byteLength);
      expect(view.getUint16(6, true)).toBe(14 + 20); // csum_start: the UDP header
      expect(view.getUint16(8, true)).toBe(6); // csum_offset: UDP checksum field
      await exec(ns, ['ip', 'neigh', 'del', `${subnet}.2`, 'dev', port.ifname]);

      // Frames to the kernel: a plain one (the port prefixes a zero header) ...
      const myMac = parseMac('02:00:5e:00:01:03');
      const who = arpFrame(ARP_OP.REQUEST, myMac, peerIp, MAC_BROADCAST, hostIp);
      port.send(who, 0, who.length, -1);
      await waitFor(() => arps(frames).some((a) => a.op === ARP_OP.REPLY), 'an ARP reply');
      // ... and one carrying its own header right before it.
      const ping = echoRequestFrame(myMac, peerIp, hostMac, hostIp, 0x77, 1);
      const withHdr = new Uint8Array(VNET_HDR_LEN + ping.length);
      withHdr.set(ping, VNET_HDR_LEN);
      port.send(withHdr, VNET_HDR_LEN, ping.length, 0);
      await waitFor(() => echoReplies(frames, 0x77).length === 1, 'an echo reply');
      expect(port.stats.txFrames).toBe(2);
      expect(port.stats.txBytes).toBe(who.length + ping.length);
      expect(port.stats.drops).toEqual({});
    });

    it('receives the kernel’s TCP segmentation offload frames whole, with their GSO metadata', async () => {
      const port = open(tapName(), { vnetHdr: true });
      const { hostIp, peerIp, hostMac, subnet } = await plug(port);
      const myMac = parseMac('02:00:5e:00:01:05');
      await exec(ns, ['ip', 'neigh', 'replace', `${subnet}.2`, 'lladdr', formatMac(myMac), 'dev', port.ifname, 'nud', 'permanent'], { check: true });
      // Just enough of a TCP peer: answer the SYN, then watch the data arrive.
      const big: Array<{ gsoType: number; gsoSize: number; length: number }> = [];
      port.onReceive = (b) => {
        for (let i = 0; i < b.count; i++) {
          const off = b.offsets[i]!;
          const eth = decodeEthernet(b.buf.subarray(off, off + b.lengths[i]!));
          if (!eth.ok || eth.value.etherType !== ETHERTYPE.IPV4) continue;
          const ip = decodeIPv4(eth.value.payload);
          if (!ip.ok || ip.value.protocol !== IP_PROTOCOL.TCP) continue;
          const seg = decodeTcp(ip.value.payload); // checksum partial (offloaded): not verified
          if (!seg.ok || seg.value.dstPort !== 7777) continue;
          const h = new DataView(b.buf.buffer, b.buf.byteOffset + off - VNET_HDR_LEN, VNET_HDR_LEN);
          if (h.getUint8(1) !== 0) big.push({ gsoType: h.getUint8(1), gsoSize: h.getUint16(4, true), length: b.lengths[i]! });
          if (seg.value.flags === TCP_FLAG.SYN) {
            const synAck = encodeTcp(
              { srcPort: 7777, dstPort: seg.value.srcPort, seq: 5000, ack: (seg.value.seq + 1) >>> 0, flags: TCP_FLAG.SYN | TCP_FLAG.ACK, window: 65535, options: [{ kind: 'mss', value: 1460 }] },
              new Uint8Array(0),
              { src: peerIp, dst: hostIp },
            );
            const f = encodeEthernet({ dst: hostMac, src: myMac, tags: [], etherType: ETHERTYPE.IPV4 }, encodeIPv4(ipHeader(IP_PROTOCOL.TCP, peerIp, hostIp), synAck));
            port.send(f, 0, f.length, -1);
          }
        }
      };
      const sender = spawn(ns, ['python3', '-c', `import socket; s = socket.create_connection(('${subnet}.2', 7777), timeout=5); s.sendall(b'a' * 60000)`]);
      try {
        await waitFor(() => big.length > 0, 'a GSO frame');
      } finally {
        await sender.kill('SIGKILL');
      }
      expect(big[0]!.gsoType).toBe(1); // VIRTIO_NET_HDR_GSO_TCPV4
      expect(big[0]!.gsoSize).toBe(1460);
      expect(big[0]!.length).toBeGreaterThan(1514); // larger than any frame on the wire
    });

    it('offload can be declined: no TSO on the device', async () => {
      const port = open(tapName(), { vnetHdr: true, offload: false });
      await plug(port);
      const features = await exec(ns, ['ethtool', '-k', port.ifname], { check: true });
      expect(features.stdout).toMatch(/^tcp-segmentation-offload: off/m);
    });
  });
});
