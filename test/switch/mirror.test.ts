/**
 * Mirroring: one pcapng interface per mirrored port, named after it; ingress
 * frames as received (before classification, dropped ones included), egress
 * frames as sent (after tagging); subsets, ports added later, stopping. Read
 * back with readCapture, and with tshark when it is installed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/switch/bridge.js';
import { PcapngWriter, readCapture, type Capture } from '../../src/link/pcap.js';
import { decodeEthernet } from '../../src/wire/ethernet.js';
import { VirtualClock } from '../../src/time/index.js';
import { BROADCAST, FakePort, frame, mac } from './helpers.js';

async function capture(run: (writer: PcapngWriter) => void): Promise<Capture> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const writer = new PcapngWriter(out);
  run(writer);
  await writer.close();
  const r = readCapture(new Uint8Array(Buffer.concat(chunks)));
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

/** [interface name, VLAN id of the outer tag or null] per record. */
function summary(c: Capture): Array<[string | undefined, number | null]> {
  return c.records.map((r) => {
    const f = decodeEthernet(r.data);
    return [c.interfaces[r.interfaceId]!.name, f.ok ? (f.value.tags[0]?.vid ?? null) : null];
  });
}

function setup() {
  const clock = new VirtualClock({ startMs: 1000 });
  const bridge = new Bridge({ clock });
  const a = new FakePort('a10');
  const b = new FakePort('b20');
  const t = new FakePort('trunk');
  bridge.addPort(a, { mode: 'access', pvid: 10 });
  bridge.addPort(b, { mode: 'access', pvid: 20 });
  bridge.addPort(t, { mode: 'trunk', allowed: [10, 20] });
  return { clock, bridge, a, b, t };
}

const dir = mkdtempSync(join(tmpdir(), 'wirelab-mirror-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mirror', () => {
  it('writes each port as its own interface: ingress before classification, egress after tagging', async () => {
    const { clock, bridge, a, b, t } = setup();
    const c = await capture((w) => {
      const stop = bridge.mirror(w);
      a.inject([frame({ dst: BROADCAST, src: mac(1) })]);
      clock.advance(5);
      t.inject([frame({ dst: mac(1), src: mac(2), tags: [{ vid: 10, pcp: 4 }] })]);
      b.inject([frame({ dst: BROADCAST, src: mac(3), tags: [{ vid: 10 }] })]); // dropped: still on b20's wire
      stop();
      a.inject([frame({ dst: BROADCAST, src: mac(1) })]);
    });
    expect(c.format).toBe('pcapng');
    expect(c.interfaces.map((i) => i.name)).toEqual(['a10', 'b20', 'trunk']);
    expect(summary(c)).toEqual([
      ['a10', null],
      ['trunk', 10],
      ['trunk', 10],
      ['a10', null],
      ['b20', 10],
    ]);
    const epoch = 1_704_067_200_000_000_000n;
    expect(c.records.map((r) => r.timestampNs - epoch)).toEqual([1000, 1000, 1005, 1005, 1005].map((ms) => BigInt(ms) * 1_000_000n));
    const egressA = decodeEthernet(c.records[3]!.data);
    expect(egressA.ok && egressA.value.src).toBe(mac(2));
    expect(c.records[1]!.data.length).toBe(64);
  });

  it('mirrors a subset of ports; "all" picks up ports added later; a subset does not', async () => {
    const { bridge, a, t } = setup();
    const later = new FakePort('late');
    const c = await capture((w) => {
      bridge.mirror(w, ['trunk']);
      a.inject([frame({ dst: BROADCAST, src: mac(1) })]);
      bridge.addPort(later, { mode: 'access', pvid: 10 });
      a.inject([frame({ dst: BROADCAST, src: mac(1) })]);
    });
    expect(c.interfaces.map((i) => i.name)).toEqual(['trunk']);
    expect(summary(c)).toEqual([
      ['trunk', 10],
      ['trunk', 10],
    ]);
    expect(later.take()).toHaveLength(1);
    expect(t.take()).toHaveLength(2);
    expect(() => bridge.mirror(new PcapngWriter(new PassThrough()), ['nope'])).toThrow(/no port named nope/);

    const all = await capture((w) => {
      bridge.mirror(w);
      const newer = new FakePort('newer');
      bridge.addPort(newer, { mode: 'access', pvid: 10 });
      newer.inject([frame({ dst: mac(1), src: mac(9) })]);
    });
    expect(all.interfaces.map((i) => i.name)).toEqual(['a10', 'b20', 'trunk', 'late', 'newer']);
    expect(summary(all)).toEqual([
      ['newer', null],
      ['a10', null],
    ]);
  });

  it('tshark agrees: interface names and vlan.id per interface', async () => {
    const probe = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
    if (probe.status !== 0) return; // tshark-agrees.test.ts insists on tshark; here it is a bonus.
    const { bridge, a, t } = setup();
    const file = join(dir, 'mirror.pcapng');
    const writer = new PcapngWriter(file);
    bridge.mirror(writer);
    a.inject([frame({ dst: BROADCAST, src: mac(1) })]);
    t.inject([frame({ dst: mac(1), src: mac(2), tags: [{ vid: 10 }] })]);
    await writer.close();
    const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=/t', '-e', 'frame.interface_name', '-e', 'vlan.id'], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l !== '')).toEqual(['a10\t', 'trunk\t10', 'trunk\t10', 'a10\t']);
    expect(readFileSync(file).length).toBeGreaterThan(0);
  });
});
