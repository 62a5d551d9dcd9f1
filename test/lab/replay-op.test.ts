/**
 * The `replay` operation (src/lab/replay-op.ts) on a lab built by hand in
 * memory: a switch, a gateway stack and a web stack on impaired in-memory
 * cables, on the virtual clock. Frames enter the switch as if web:eth0 had
 * sent them; the answer counts what was played, the switch ports' changes,
 * and what the switch and the stacks refused, by reason. Then once through
 * a real control socket (the wiring in control.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { impair } from '../../src/link/impair.js';
import { createPipe } from '../../src/link/pipe.js';
import { createStack, type Stack } from '../../src/stack.js';
import { Bridge } from '../../src/switch/bridge.js';
import { RealClock, VirtualClock, type Clock } from '../../src/time/index.js';
import type { LabView, LinkView } from '../../src/lab/lab-view.js';
import { replayIntoLab, stackDropCounters, type ReplayRequest } from '../../src/lab/replay-op.js';

const dir = mkdtempSync(join(tmpdir(), 'wirelab-replay-'));
process.env.WIRELAB_STATE_DIR = dir;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

function frame(len: number, dst: number[], type = 0x0800): Uint8Array {
  const f = new Uint8Array(len);
  f.set([...dst, 0x02, 0, 0, 0, 0, 0x0a, type >> 8, type & 0xff].slice(0, len));
  return f;
}

function pcap(frames: Uint8Array[], gapUs = 1000): Uint8Array {
  const out = new Uint8Array(24 + frames.reduce((n, f) => n + 16 + f.length, 0));
  const v = new DataView(out.buffer);
  v.setUint32(0, 0xa1b2c3d4, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setUint32(16, 65535, true);
  v.setUint32(20, 1, true);
  let off = 24;
  frames.forEach((f, i) => {
    v.setUint32(off + 4, i * gapUs, true);
    v.setUint32(off + 8, f.length, true);
    v.setUint32(off + 12, f.length, true);
    out.set(f, off + 16);
    off += 16 + f.length;
  });
  return out;
}

function write(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

interface HandLab extends LabView {
  gw: Stack;
}

function handLab(clock: Clock, name: string): HandLab {
  const bridge = new Bridge({ clock, name: 'front' });
  const links: LinkView[] = [];
  const stacks: Array<{ name: string; stack: Stack }> = [];
  const node = (n: string, addr: string): Stack => {
    const stack = createStack({ clock, name: n });
    const [host, sw] = createPipe(clock, { names: [`${n}-eth0-peer`, `${n}-eth0`] });
    const impaired = impair(sw, clock);
    bridge.addPort(impaired);
    stack.addInterface(host, { name: 'eth0', addresses: [addr], announce: false });
    links.push({ node: n, iface: 'eth0', network: 'front', switch: 'front', bridge, port: sw.name, impaired, kind: 'stack' });
    stacks.push({ name: n, stack });
    return stack;
  };
  const gw = node('front-gw', '10.0.0.1/24');
  node('web', '10.0.0.2/24');
  return {
    name,
    gw,
    switches: () => [{ name: 'front', bridge }],
    stacks: () => stacks,
    containers: () => [],
    networks: () => [{ name: 'front', subnet: '10.0.0.0/24', gateway: '10.0.0.1', switch: 'front', vlan: undefined }],
    links: () => links,
  };
}

/** Runs the virtual clock while `p` is pending (the file is read with real I/O). */
async function drive<T>(p: Promise<T>, clock: VirtualClock): Promise<T> {
  let settled = false;
  void p.then(() => (settled = true), () => (settled = true));
  while (!settled) {
    await new Promise((r) => setImmediate(r));
    clock.advance(5);
  }
  return p;
}

describe('replay into a lab', () => {
  it('frames enter the switch as if web:eth0 sent them: played, the port rx grows, runt and oversize refused by name', async () => {
    const clock = new VirtualClock();
    const lab = handLab(clock, 'hand');
    const frames = [
      frame(60, BROADCAST, 0x88b5), // flooded to the gateway, which does not speak 0x88b5
      frame(10, BROADCAST), // a runt: the switch drops it
      frame(3000, BROADCAST), // over the gateway's MTU: forwarded, then dropped by its stack
    ];
    const file = write('hand.pcap', pcap(frames));
    const req: ReplayRequest = { v: 1, op: 'replay', target: 'web:eth0', file, pace: 'max' };
    const { json, text } = await drive(replayIntoLab(lab, req), clock);
    expect(json).toMatchObject({ target: 'web:eth0', switch: 'front', port: 'web-eth0', pace: 'max', direction: 'all', skippedDirection: 0, frames: 3, played: 3, bytes: 3070, skipped: 0, fault: undefined });
    expect(json.ingress).toMatchObject({ rxFrames: 3, rxBytes: 3070, floods: 2, drops: { runt: 1 } });
    expect(json.ports.find((p) => p.link === 'front-gw:eth0')).toMatchObject({ txFrames: 2 });
    expect(json.refused).toEqual([
      { where: 'switch front port web-eth0 (web:eth0)', reason: 'runt', frames: 1 },
      { where: 'front-gw', reason: 'ip.oversize', frames: 1 },
      { where: 'front-gw', reason: 'eth0.unknownEtherType', frames: 1 },
    ]);
    expect(json.refusedFrames).toBe(3);
    expect(text).toMatch(/^replayed 3 of 3 frames \(3070 bytes\) into web:eth0 \(port web-eth0 of front\), pace max$/m);
    expect(text).toContain('  front-gw: ip.oversize 1');
    // The web stack saw nothing: the frames came from its side of the cable.
    expect((lab.stacks().find((s) => s.name === 'web')!.stack.interfaces[0]!.stats.rxFrames)).toBe(0);
  });

  it('recorded and scaled pace keep the gaps on the lab clock; a scale alone means scaled', async () => {
    const clock = new VirtualClock();
    const lab = handLab(clock, 'hand2');
    const file = write('gaps.pcap', pcap([frame(60, BROADCAST, 0x88b5), frame(60, BROADCAST, 0x88b5)], 400_000));
    const t0 = clock.now();
    const r = await drive(replayIntoLab(lab, { v: 1, op: 'replay', target: 'front:web-eth0', file, scale: 2 }), clock);
    expect(r.json).toMatchObject({ pace: 'scaled', scale: 2, played: 2, target: 'web:eth0' });
    expect(clock.now() - t0).toBeGreaterThanOrEqual(800);
  });

  it('a truncated file plays its complete frames and names the fault; an unreadable one and bad requests are errors', async () => {
    const clock = new VirtualClock();
    const lab = handLab(clock, 'hand3');
    const whole = pcap([frame(60, BROADCAST, 0x88b5), frame(60, BROADCAST, 0x88b5)]);
    const cut = write('cut.pcap', whole.subarray(0, whole.length - 20));
    const r = await drive(replayIntoLab(lab, { v: 1, op: 'replay', target: 'web', file: cut, pace: 'max' }), clock);
    expect(r.json.played).toBe(1);
    expect(r.json.fault).toMatch(/^pcap: truncated: record at offset 100/);
    expect(r.text).toMatch(/the file stops being readable there: pcap: truncated/);
    const junk = write('junk.pcap', new Uint8Array(64).fill(7));
    await expect(drive(replayIntoLab(lab, { v: 1, op: 'replay', target: 'web', file: junk }), clock)).rejects.toThrow(/junk\.pcap: not a capture wirelab can replay: pcap: unsupported: magic number 0x07070707/);
    await expect(replayIntoLab(lab, { v: 1, op: 'replay', target: 'web', file: 'rel.pcap' })).rejects.toThrow(/absolute path/);
    await expect(replayIntoLab(lab, { v: 1, op: 'replay', target: 'nosuch:eth0', file: cut })).rejects.toThrow(/no node "nosuch"/);
    await expect(replayIntoLab(lab, { v: 1, op: 'replay', target: 'front:nope', file: cut })).rejects.toThrow(/switch front has no port nope \(ports: front-gw-eth0, web-eth0\)/);
    await expect(replayIntoLab(lab, { v: 1, op: 'replay', file: cut })).rejects.toThrow(/replay needs a target/);
    await expect(replayIntoLab(lab, { v: 1, op: 'replay', target: 'web', file: cut, pace: 'warp' as never })).rejects.toThrow(/pace warp is not one of/);
    await expect(replayIntoLab(lab, { v: 1, op: 'replay', target: 'web', file: cut, direction: 'sideways' as never })).rejects.toThrow(/direction sideways is not one of all, out, in/);
    await expect(drive(replayIntoLab(lab, { v: 1, op: 'replay', target: 'web', file: join(dir, 'missing.pcap') }), clock)).rejects.toThrow(/cannot read .*missing\.pcap/);
  });

  it('stackDropCounters names every drops record and ARP refusals', () => {
    const m = stackDropCounters({ ip: { inReceives: 3, drops: { oversize: 1 } }, arp: { refusedSenderMac: 2, drops: {} }, interfaces: { eth0: { rxFrames: 1, drops: { runt: 4 } } } });
    expect([...m]).toEqual([['ip.oversize', 1], ['arp.refusedSenderMac', 2], ['eth0.runt', 4]]);
  });

  it('through the control socket: {op: "replay"} answers with the counters', async () => {
    const { ControlServer, request } = await import('../../src/lab/control.js');
    const clock = new RealClock();
    const lab = handLab(clock, `replay-${process.pid}`);
    const controlled = Object.assign(lab, {
      model: { name: lab.name, file: 'hand.yaml', networks: [{ name: 'front' }] },
      rows: () => [],
      down: () => Promise.resolve(),
      network: () => undefined,
    });
    const server = new ControlServer(controlled, () => undefined);
    await server.listen();
    try {
      const file = write('sock.pcap', pcap([frame(60, BROADCAST, 0x88b5), frame(10, BROADCAST)]));
      const r = await request<{ json: { played: number; ingress: { rxFrames: number }; refused: unknown[] } }>(lab.name, { v: 1, op: 'replay', target: 'web:eth0', file, pace: 'max' });
      expect(r.json.played).toBe(2);
      expect(r.json.ingress.rxFrames).toBe(2);
      expect(r.json.refused).toContainEqual({ where: 'switch front port web-eth0 (web:eth0)', reason: 'runt', frames: 1 });
    } finally {
      server.close();
      clock.close();
    }
  });
});
