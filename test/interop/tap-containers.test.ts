/**
 * Real packets through TAP: Linux network namespaces ("containers") whose
 * eth0 is a TAP that wirelab holds. The kernel is the peer for everything:
 * its ARP, its ping, its TCP (nc), its TSO.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTap, type TapPort } from '../../src/link/tap.js';
import type { Port, RxBatch } from '../../src/link/port.js';
import { Lab } from '../../src/lab/lab.js';
import type { Container } from '../../src/lab/netns.js';
import { formatMac, parseIPv4, parseMac } from '../../src/wire/address.js';
import { ARP_OP, arpPacket, decodeArp, encodeArp } from '../../src/wire/arp.js';
import { decodeEthernet, encodeEthernet, ETHERTYPE } from '../../src/wire/ethernet.js';
import { forward } from '../../src/link/forward.js';
import { requireRoot } from '../helpers/netns.js';

const cap = requireRoot(['ip', 'ping', 'nc', 'ethtool', 'sha256sum']);
const dir = mkdtempSync(join(tmpdir(), 'wl-tap-'));
const labs: Lab[] = [];
const ports: Port[] = [];

beforeAll(() => cap.assert());
afterAll(async () => {
  for (const l of labs) await l.close().catch(() => undefined);
  for (const p of ports) await p.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

const uid = () => randomBytes(3).toString('hex');

function tap(name: string, vnetHdr: boolean): TapPort {
  const p = openTap(name, { vnetHdr });
  ports.push(p);
  return p;
}

async function pair(vnetA: boolean, vnetB: boolean, net: string) {
  const id = uid();
  const ta = tap(`wlt${id}a`, vnetA);
  const tb = tap(`wlt${id}b`, vnetB);
  const lab = new Lab();
  labs.push(lab);
  const a = await lab.container({ link: ta.ifname, address: `${net}.1/24`, mac: '02:00:00:00:0a:01' });
  const b = await lab.container({ link: tb.ifname, address: `${net}.2/24`, mac: '02:00:00:00:0a:02' });
  return { ta, tb, a, b, lab };
}

/** Sends `bytes` from container `from` to `to` over TCP with nc and returns the SHA-256 that arrived. */
async function transfer(from: Container, to: Container, toIp: string, file: string): Promise<string> {
  const out = `${file}.received-${uid()}`;
  const server = to.spawn(['sh', '-c', `nc -l -p 5001 > ${out}`]);
  // nc -l has no "listening" line; wait until the socket is there.
  for (let i = 0; i < 100; i++) {
    const ss = await to.exec(['ss', '-ltnH', 'sport = :5001']);
    if (ss.stdout.includes('5001')) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await from.exec(['sh', '-c', `nc -N -w 10 ${toIp} 5001 < ${file}`], { timeoutMs: 120_000, check: true });
  await server.exited;
  const sum = await to.exec(['sha256sum', out], { check: true });
  rmSync(out, { force: true });
  return sum.stdout.split(' ')[0]!;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('TAP devices with the kernel as the peer', () => {
  it("answers the kernel's ARP request from TypeScript, and the container learns the MAC we chose", async () => {
    const id = uid();
    const t = tap(`wlt${id}x`, false);
    const lab = new Lab();
    labs.push(lab);
    const a = await lab.container({ link: t.ifname, address: '10.203.0.1/24', mac: '02:00:00:00:0b:01' });
    const chosen = parseMac('02:aa:bb:cc:dd:ee');
    const asked: string[] = [];
    t.onReceive = (batch: RxBatch) => {
      for (let i = 0; i < batch.count; i++) {
        const frame = batch.buf.subarray(batch.offsets[i]!, batch.offsets[i]! + batch.lengths[i]!);
        const e = decodeEthernet(frame);
        if (!e.ok || e.value.etherType !== ETHERTYPE.ARP) continue;
        const arp = decodeArp(e.value.payload);
        if (!arp.ok || arp.value.operation !== ARP_OP.REQUEST) continue;
        asked.push(formatMac(arp.value.senderMac));
        const reply = encodeEthernet(
          { dst: arp.value.senderMac, src: chosen, tags: [], etherType: ETHERTYPE.ARP },
          encodeArp(arpPacket(ARP_OP.REPLY, chosen, arp.value.targetIp, arp.value.senderMac, arp.value.senderIp)),
        );
        t.send(reply, 0, reply.length, -1);
      }
      t.flush();
    };
    await a.exec(['ping', '-c', '1', '-W', '1', '10.203.0.2']); // the reply to ping itself never comes; ARP does
    expect(asked).toContain('02:00:00:00:0b:01');
    const n = (await a.neighbours()).find((x) => x.address === '10.203.0.2');
    expect(n?.mac).toBe('02:aa:bb:cc:dd:ee');
    expect(n?.state.some((s) => ['REACHABLE', 'STALE', 'DELAY', 'PROBE'].includes(s))).toBe(true);
    expect(t.stats.rxFrames).toBeGreaterThan(0);
    expect(t.stats.txFrames).toBeGreaterThan(0);
    void parseIPv4;
  });

  const file = join(dir, 'payload-50M');
  beforeAll(() => writeFileSync(file, randomBytes(50 * 1024 * 1024)));

  for (const [name, vnetA, vnetB, net] of [
    ['plain TAPs', false, false, '10.204.0'],
    ['vnet_hdr TAPs with TSO', true, true, '10.205.0'],
    ['vnet_hdr on one side only (software segmentation)', true, false, '10.206.0'],
  ] as const) {
    it(`${name}: ping both ways and 50 MB of TCP each way arrive intact through the TypeScript forwarder`, async () => {
      const { ta, tb, a, b } = await pair(vnetA, vnetB, net);
      let largest = 0;
      const unforward = forward(ta, tb);
      // Watch frame sizes on A's side without touching the forwarder's path.
      const inner = ta.onReceive!;
      ta.onReceive = (batch, port) => {
        for (let i = 0; i < batch.count; i++) largest = Math.max(largest, batch.lengths[i]!);
        inner(batch, port);
      };
      await a.exec(['ping', '-c', '2', '-i', '0.2', '-W', '2', `${net}.2`], { check: true });
      await b.exec(['ping', '-c', '2', '-i', '0.2', '-W', '2', `${net}.1`], { check: true });
      const expected = sha256((await import('node:fs')).readFileSync(file));
      expect(await transfer(a, b, `${net}.2`, file)).toBe(expected);
      expect(await transfer(b, a, `${net}.1`, file)).toBe(expected);
      if (vnetA) {
        const k = await a.exec(['ethtool', '-k', 'eth0'], { check: true });
        expect(k.stdout).toMatch(/tcp-segmentation-offload: on/);
        // Frames larger than the 1500-byte MTU crossed wirelab as single frames.
        expect(largest).toBeGreaterThan(1514);
      } else {
        expect(largest).toBeLessThanOrEqual(1514);
      }
      expect(Object.keys(ta.stats.drops).filter((k) => k !== 'txQueueFull')).toEqual([]);
      unforward();
    }, 180_000);
  }
});
