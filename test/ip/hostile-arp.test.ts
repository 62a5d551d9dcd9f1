/**
 * ARP as Linux's arp_process defends it (arp_accept=0, arp_ignore=0), on the
 * virtual clock: each rule's counter, the reply or silence, and the
 * neighbour table afterwards. test/interop/hostile-kernel.test.ts proves the
 * same frames get the same treatment from the kernel.
 */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/time/index.js';
import { DEFEND_INTERVAL_MS } from '../../src/ip/arp.js';
import { arpFrame, hostileHost, OTHER_IP, OTHER_MAC, SUBNET_BROADCAST, TARGET_IP, TARGET_MAC } from '../helpers/hostile.js';

function setup() {
  const clock = new VirtualClock();
  const { host, tester } = hostileHost(clock);
  const send = (...f: Uint8Array[]) => {
    tester.send(...f);
    clock.advance(10);
    return tester.take();
  };
  return { clock, host, tester, send, table: () => host.neighbours.format() };
}

describe('ARP senders that can never be neighbours', () => {
  for (const [sender, counter] of [
    ['255.255.255.255', 'refusedSenderAddress'],
    ['224.0.0.1', 'refusedSenderAddress'],
    ['127.0.0.1', 'refusedSenderAddress'],
  ] as const) {
    it(`a request for us from ${sender}: no reply, no entry, ${counter}`, () => {
      const { host, send, table } = setup();
      expect(send(arpFrame({ senderMac: OTHER_MAC, senderIp: sender, targetIp: TARGET_IP }))).toEqual([]);
      expect(host.arp.stats[counter]).toBe(1);
      expect(table()).toBe('');
    });
  }

  it('the subnet broadcast as sender: answered (as Linux) but never learned', () => {
    const { host, send, table } = setup();
    expect(send(arpFrame({ senderMac: OTHER_MAC, senderIp: SUBNET_BROADCAST, targetIp: TARGET_IP }))).toEqual([`arp reply ${TARGET_IP} -> ${SUBNET_BROADCAST}`]);
    expect(host.arp.stats.refusedSenderAddress).toBe(1);
    expect(table()).toBe('');
  });

  it('a probe (sender 0.0.0.0) is answered and teaches nothing', () => {
    const { host, send, table } = setup();
    expect(send(arpFrame({ senderMac: OTHER_MAC, senderIp: '0.0.0.0', targetIp: TARGET_IP }))).toEqual([`arp reply ${TARGET_IP} -> 0.0.0.0`]);
    expect(host.arp.stats.repliesOut).toBe(1);
    expect(table()).toBe('');
  });

  it('a probe for another address: silence, counted (probeNotForUs)', () => {
    // Found by test/ip/hostile-property.test.ts: arp_process consumes it without a word; it was uncounted here.
    const { host, send, table } = setup();
    expect(send(arpFrame({ senderMac: OTHER_MAC, senderIp: '0.0.0.0', targetIp: OTHER_IP }))).toEqual([]);
    expect(host.arp.stats.drops.probeNotForUs).toBe(1);
    expect(table()).toBe('');
  });

  it('a multicast or loopback target is dropped whole (refusedTargetAddress)', () => {
    const { host, send, table } = setup();
    expect(send(arpFrame({ senderMac: OTHER_MAC, senderIp: OTHER_IP, targetIp: '127.0.0.1' }), arpFrame({ senderMac: OTHER_MAC, senderIp: OTHER_IP, targetIp: '224.0.0.5' }))).toEqual([]);
    expect(host.arp.stats.refusedTargetAddress).toBe(2);
    expect(table()).toBe('');
  });
});

describe('learning: only what Linux learns', () => {
  it('a request for our address creates a STALE entry and is answered', () => {
    const { send, table } = setup();
    expect(send(arpFrame({ senderMac: OTHER_MAC, senderIp: OTHER_IP, targetIp: TARGET_IP }))).toEqual([`arp reply ${TARGET_IP} -> ${OTHER_IP}`]);
    expect(table()).toBe(`${OTHER_IP} dev eth0 lladdr ${OTHER_MAC} STALE`);
  });

  it('an unsolicited reply and a gratuitous ARP create nothing (unsolicitedIgnored)', () => {
    const { host, send, table } = setup();
    send(arpFrame({ op: 'reply', senderMac: OTHER_MAC, senderIp: OTHER_IP, targetIp: TARGET_IP, targetMac: TARGET_MAC }));
    send(arpFrame({ senderMac: OTHER_MAC, senderIp: OTHER_IP, targetIp: OTHER_IP }));
    expect(host.arp.stats.unsolicitedIgnored).toBe(2);
    expect(table()).toBe('');
  });

  it('a gratuitous ARP updates an entry that exists (STALE, new MAC)', () => {
    const { send, table } = setup();
    send(arpFrame({ senderMac: OTHER_MAC, senderIp: OTHER_IP, targetIp: TARGET_IP }));
    send(arpFrame({ senderMac: '02:00:00:e6:00:77', senderIp: OTHER_IP, targetIp: OTHER_IP }));
    expect(table()).toBe(`${OTHER_IP} dev eth0 lladdr 02:00:00:e6:00:77 STALE`);
  });

  it('a unicast reply confirms an existing entry (REACHABLE); a broadcast reply does not (STALE)', () => {
    const { send, table } = setup();
    send(arpFrame({ senderMac: OTHER_MAC, senderIp: OTHER_IP, targetIp: TARGET_IP }));
    send(arpFrame({ op: 'reply', senderMac: OTHER_MAC, senderIp: OTHER_IP, targetIp: TARGET_IP, targetMac: TARGET_MAC }));
    expect(table()).toBe(`${OTHER_IP} dev eth0 lladdr ${OTHER_MAC} REACHABLE`);
    send(arpFrame({ op: 'reply', senderMac: '02:00:00:e6:00:78', senderIp: OTHER_IP, targetIp: TARGET_IP, dst: 'ff:ff:ff:ff:ff:ff' }));
    expect(table()).toBe(`${OTHER_IP} dev eth0 lladdr 02:00:00:e6:00:78 STALE`);
  });

  it('a group sender MAC is accepted as Linux does, and refused with refuseGroupSenderMac', () => {
    const { host, send, table } = setup();
    send(arpFrame({ src: OTHER_MAC, senderMac: '01:00:5e:00:00:01', senderIp: OTHER_IP, targetIp: TARGET_IP }));
    expect(table()).toBe(`${OTHER_IP} dev eth0 lladdr 01:00:5e:00:00:01 STALE`);
    host.neighbours.delete(OTHER_IP, 'eth0');
    host.arp.refuseGroupSenderMac = true;
    expect(send(arpFrame({ src: OTHER_MAC, senderMac: 'ff:ff:ff:ff:ff:ff', senderIp: OTHER_IP, targetIp: TARGET_IP }))).toEqual([]);
    expect(host.arp.stats.refusedSenderMac).toBe(1);
    expect(table()).toBe('');
  });
});

describe('conflicts (RFC 5227 §2.4)', () => {
  it('a claim on our address is counted, reported once, defended at most once per DEFEND_INTERVAL', () => {
    const { clock, host, send, table } = setup();
    const reports: string[] = [];
    host.arp.onConflict = (c) => reports.push(`${c.dev} ${c.mac}`);
    const claim = arpFrame({ senderMac: OTHER_MAC, senderIp: TARGET_IP, targetIp: TARGET_IP });
    expect(send(claim)).toEqual([`arp request ${TARGET_IP} -> ${TARGET_IP}`]);
    expect(send(claim, arpFrame({ op: 'reply', senderMac: OTHER_MAC, senderIp: TARGET_IP, targetIp: TARGET_IP, dst: 'ff:ff:ff:ff:ff:ff' }))).toEqual([]);
    expect(host.arp.stats.conflict).toBe(3);
    expect(host.arp.stats.defended).toBe(1);
    expect(reports).toHaveLength(1);
    clock.advance(DEFEND_INTERVAL_MS);
    expect(send(claim)).toEqual([`arp request ${TARGET_IP} -> ${TARGET_IP}`]);
    expect(host.arp.stats.defended).toBe(2);
    expect(table()).toBe('');
  });

  it('with defend off: the kernel silence', () => {
    const { host, send } = setup();
    host.arp.defend = false;
    expect(send(arpFrame({ senderMac: OTHER_MAC, senderIp: TARGET_IP, targetIp: TARGET_IP }))).toEqual([]);
    expect(host.arp.stats.conflict).toBe(1);
  });
});
