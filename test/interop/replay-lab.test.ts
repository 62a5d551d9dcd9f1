/**
 * `wirelab replay` into a running lab of real containers, as a user types
 * it: bring up examples/labs/quickstart.yaml, capture 20 frames of web's
 * link while curling the published port, replay them into web:eth0 at max
 * pace (only web's own frames with --direction out, reaching the gateway;
 * then all 20 played, the switch port's rx grew by them); then a hand-made
 * capture with a runt and an over-MTU frame, reported refused by the switch
 * ('runt') and the gateway's stack ('ip.oversize'); then `down`.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/netns.js';
import { wirelab as runCli, type CliResult } from '../helpers/cli.js';
import type { ReplayResult } from '../../src/lab/replay-op.js';

const run = promisify(execFile);
const cap = requireRoot(['curl', 'python3']);
const wirelab = (...args: string[]): Promise<CliResult> => runCli(args, { timeoutMs: 120_000 });
const dir = mkdtempSync(join(tmpdir(), 'wirelab-replay-lab-'));

/** A little-endian microsecond pcap of Ethernet frames. */
function pcap(frames: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(24 + frames.reduce((n, f) => n + 16 + f.length, 0));
  const v = new DataView(out.buffer);
  v.setUint32(0, 0xa1b2c3d4, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setUint32(16, 65535, true);
  v.setUint32(20, 1, true);
  let off = 24;
  frames.forEach((f, i) => {
    v.setUint32(off + 4, i * 1000, true);
    v.setUint32(off + 8, f.length, true);
    v.setUint32(off + 12, f.length, true);
    out.set(f, off + 16);
    off += 16 + f.length;
  });
  return out;
}

describe.skipIf(cap.skip)('wirelab replay into a running lab', () => {
  beforeAll(async () => {
    cap.assert();
    await wirelab('down', 'quickstart');
    const up = await wirelab('up', '-d', '-f', 'examples/labs/quickstart.yaml');
    expect(up.code, up.stdout + up.stderr).toBe(0);
  });
  afterAll(async () => {
    await wirelab('down', 'quickstart');
    rmSync(dir, { recursive: true, force: true });
  });

  it('captures 20 frames of web:eth0 and replays them into it: 20 played, the switch port took in 20 more', async () => {
    const file = join(dir, 'web.pcapng');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'capture', 'web:eth0', '-c', '20', '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    let exited = false;
    const code = new Promise<number | null>((r) => child.once('exit', (c) => ((exited = true), r(c))));
    const t0 = Date.now();
    while (!/capturing on/.test(err) && !exited && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 20 && !exited; i++) {
      await run('curl', ['-sS', '-o', '/dev/null', '--retry', '5', '--retry-connrefused', 'http://127.0.0.1:8080/']);
    }
    expect(await code, err).toBe(0);
    expect(statSync(file).size).toBeGreaterThan(0);

    // Only what web sent (the capture marks directions as web sees them): it reaches the gateway, nothing is on the wrong segment.
    const out = await wirelab('replay', file, '--into', 'web:eth0', '--pace', 'max', '--direction', 'out', '--json');
    expect(out.code, out.stderr).toBe(0);
    const sent = JSON.parse(out.stdout) as ReplayResult;
    expect(sent.played).toBeGreaterThan(0);
    expect(sent.played + sent.skippedDirection).toBe(20);
    expect(sent.refused.filter((x) => x.reason === 'sameSegment')).toEqual([]);
    expect(sent.ports.find((p) => p.link === 'front-gw:eth0')?.txFrames).toBeGreaterThanOrEqual(sent.played);

    // Everything, both directions, as recorded.
    const r = await wirelab('replay', file, '--into', 'web:eth0', '--pace', 'max', '--json');
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as ReplayResult;
    expect(res).toMatchObject({ target: 'web:eth0', switch: 'front', pace: 'max', frames: 20, played: 20, skipped: 0 });
    expect(res.fault).toBeUndefined();
    // The switch port's rx counts what entered it while the replay ran: the 20 frames (and anything web
    // itself sent in those milliseconds, e.g. an answer to a reset from the gateway).
    expect(res.ingress.rxFrames).toBeGreaterThanOrEqual(20);
    expect(res.ingress.rxFrames).toBeLessThan(30);
    // The frames toward web, replayed from web's own side, are on the segment they came from.
    expect(res.refused.some((x) => x.reason === 'sameSegment' && x.where.includes('(web:eth0)'))).toBe(true);

    const text = await wirelab('replay', file, '--into', 'web:eth0', '--pace', 'max');
    expect(text.stdout).toMatch(/^replayed 20 of 20 frames \(\d+ bytes\) into web:eth0 \(port \S+ of front\), pace max$/m);
  });

  it('a runt and an over-MTU frame are played as recorded and reported refused with their reasons', async () => {
    const runt = new Uint8Array(10).fill(0xff);
    const big = new Uint8Array(3000);
    big.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x99, 0x08, 0x00]);
    const file = join(dir, 'hostile.pcap');
    writeFileSync(file, pcap([runt, big]));
    const r = await wirelab('replay', file, '--into', 'web:eth0', '--pace', 'max', '--json', '--lab', 'quickstart');
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as ReplayResult;
    expect(res).toMatchObject({ played: 2, bytes: 3010 });
    expect(res.ingress.drops.runt).toBe(1);
    expect(res.refused).toContainEqual({ where: `switch front port ${res.port} (web:eth0)`, reason: 'runt', frames: 1 });
    expect(res.refused.some((x) => x.reason === 'ip.oversize' && x.frames === 1)).toBe(true);
  });

  it('refuses a file that is no capture, naming the fault, before anything plays', async () => {
    const file = join(dir, 'junk.pcap');
    writeFileSync(file, 'not a capture at all');
    const r = await wirelab('replay', file, '--into', 'web:eth0');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is not a capture wirelab can replay: pcap: unsupported: magic number/);
  });
});
