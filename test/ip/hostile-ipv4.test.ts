/**
 * IPv4 input as Linux's ip_rcv_core / ip_route_input_slow / ip_rcv_options
 * decide it, on the virtual clock: martian sources and destinations, IP
 * options (Parameter Problem pointing at the bad byte), source routes,
 * oversize frames, priority-tagged frames. Each case checks its counter in
 * `stack.ip.stats.drops`, the reply or silence, and the neighbour table.
 */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/time/index.js';
import { echoFrame, hostileHost, ipOptions, SUBNET_BROADCAST, TARGET_IP, TESTER_IP, tcpFrame } from '../helpers/hostile.js';

function setup(acceptSourceRoute = false) {
  const clock = new VirtualClock();
  const { host, tester } = hostileHost(clock);
  host.ip.acceptSourceRoute = acceptSourceRoute;
  const send = (...f: Uint8Array[]) => {
    tester.send(...f);
    clock.advance(10);
    return tester.take();
  };
  return { host, send };
}

const ECHO_REPLY = `${TARGET_IP} > ${TESTER_IP} icmp 0/0`;

describe('martian sources and destinations are dropped silently', () => {
  for (const [src, counter, dst] of [
    ['127.0.0.1', 'martianSourceLoopback', TARGET_IP],
    ['224.0.0.1', 'martianSourceMulticast', TARGET_IP],
    ['255.255.255.255', 'martianSourceBroadcast', TARGET_IP],
    ['0.0.0.0', 'martianSourceZero', TARGET_IP],
    ['0.1.2.3', 'martianSourceZero', TARGET_IP],
    [TARGET_IP, 'martianSourceLocal', TARGET_IP],
    [TESTER_IP, 'martianDestination', '127.0.0.1'],
    [TESTER_IP, 'martianDestination', '0.0.0.9'],
  ] as const) {
    it(`${src} → ${dst}: ${counter}`, () => {
      const { host, send } = setup();
      expect(send(echoFrame({ srcIp: src, dstIp: dst }))).toEqual([]);
      expect(host.ip.stats.drops[counter]).toBe(1);
      expect(host.icmp.stats.inMsgs).toBe(0);
      expect(host.neighbours.format()).toBe('');
    });
  }

  it('0.0.0.0 → 255.255.255.255 is broadcast input (DHCP), not martian', () => {
    const { host, send } = setup();
    expect(send(echoFrame({ srcIp: '0.0.0.0', dstIp: '255.255.255.255', dst: 'ff:ff:ff:ff:ff:ff' }))).toEqual([]);
    expect(host.icmp.stats.inEchos).toBe(1); // delivered; broadcast echo ignored (icmp_echo_ignore_broadcasts)
    expect(host.icmp.stats.drops.broadcastEcho).toBe(1);
  });

  it('LAND: a TCP SYN from our own address gets nothing', () => {
    const { host, send } = setup();
    expect(send(tcpFrame({ srcIp: TARGET_IP, srcPort: 9, dstPort: 9 }))).toEqual([]);
    expect(host.ip.stats.drops.martianSourceLocal).toBe(1);
  });

  it('as Linux: the subnet broadcast and 240/4 are not martian sources', () => {
    const { send } = setup();
    expect(send(echoFrame({ srcIp: SUBNET_BROADCAST }))).toEqual([`(link broadcast) ${TARGET_IP} > ${SUBNET_BROADCAST} icmp 0/0`]);
    expect(send(echoFrame({ srcIp: '240.0.0.1' }))).toEqual([`${TARGET_IP} > 240.0.0.1 icmp 0/0`]);
  });
});

describe('IP options (ip_options_compile)', () => {
  for (const [name, opts, ptr] of [
    ['length 1', ipOptions(7, 1, 0, 0), 20],
    ['overrunning the header', ipOptions(7, 12, 4, 0), 20],
    ['kind without a length byte at the end', ipOptions(1, 1, 1, 7), 23],
    ['record route pointer 2', ipOptions(7, 7, 2, 0, 0, 0, 0), 22],
    ['timestamp pointer 1', ipOptions(68, 8, 1, 0, 0, 0, 0, 0), 22],
    ['two record routes', ipOptions(7, 3, 4, 7, 3, 4, 0, 0), 23],
  ] as const) {
    it(`${name}: Parameter Problem pointing at byte ${ptr}, badOptions`, () => {
      const { host, send } = setup();
      expect(send(echoFrame({ options: opts }))).toEqual([`${TARGET_IP} > ${TESTER_IP} icmp 12/0 ptr ${ptr}`]);
      expect(host.ip.stats.drops.badOptions).toBe(1);
      expect(host.icmp.stats.inMsgs).toBe(0);
    });
  }

  it('unknown options and a valid record route are accepted', () => {
    const { send } = setup();
    expect(send(echoFrame({ options: ipOptions(30, 4, 0, 0) }), echoFrame({ options: ipOptions(7, 7, 4, 0, 0, 0, 0, 1) }))).toEqual([ECHO_REPLY, ECHO_REPLY]);
  });

  it('LSRR and SSRR are dropped silently (sourceRoute) unless acceptSourceRoute', () => {
    const lsrr = echoFrame({ options: ipOptions(131, 7, 4, 10, 230, 0, 1, 1) });
    const ssrr = echoFrame({ options: ipOptions(137, 7, 8, 10, 230, 0, 1, 1) });
    const off = setup();
    expect(off.send(lsrr, ssrr)).toEqual([]);
    expect(off.host.ip.stats.drops.sourceRoute).toBe(2);
    const on = setup(true);
    expect(on.send(lsrr, ssrr)).toEqual([ECHO_REPLY, ECHO_REPLY]);
  });
});

describe('link-layer edges', () => {
  it('a frame longer than MTU + header + one tag is dropped (oversize)', () => {
    const { host, send } = setup();
    const big = echoFrame();
    const frame = new Uint8Array(1500 + 18 + 1);
    frame.set(big);
    expect(send(frame)).toEqual([]);
    expect(host.ip.stats.drops.oversize).toBe(1);
    const fits = new Uint8Array(1500 + 18);
    fits.set(big);
    expect(send(fits)).toEqual([ECHO_REPLY]); // Ethernet padding after the datagram is ignored
  });

  it('a priority-tagged frame (VID 0) is taken as untagged; VID 5 is not for a host', () => {
    const { host, send } = setup();
    expect(send(echoFrame({ tags: [{ tpid: 0x8100, pcp: 5, dei: false, vid: 0 }] }))).toEqual([ECHO_REPLY]);
    expect(send(echoFrame({ tags: [{ tpid: 0x8100, pcp: 0, dei: false, vid: 5 }] }))).toEqual([]);
    expect(host.interfaces[0]!.stats.drops.vlanTagged).toBe(1);
  });

  it('a multicast Ethernet source is answered, as Linux does (the reply goes to the resolved MAC)', () => {
    const { send } = setup();
    expect(send(echoFrame({ src: '01:00:5e:00:00:01' }))).toEqual([ECHO_REPLY]);
  });
});
