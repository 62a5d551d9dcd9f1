/**
 * `wirelab read` against captures tcpdump itself wrote, in a throwaway pair of
 * network namespaces, and against `tcpdump -r` reading the same files:
 *
 * - `tcpdump -i any` captures (LINKTYPE_LINUX_SLL2, and LINKTYPE_LINUX_SLL with
 *   `-y LINUX_SLL`) decode to the same lines tcpdump prints, with the
 *   interface index and direction in front;
 * - a real capture cut short (pcap, and pcapng converted by editcap) prints
 *   every complete frame tcpdump prints, then one warning, and exits 1 as
 *   tcpdump does; with -c reached first, no warning and exit 0, as tcpdump;
 * - `wirelab read big.pcap | head -1`: the reader goes away, wirelab stops
 *   quietly with exit 0 and nothing on stderr.
 *
 * Needs root, ip, tcpdump, ping and editcap; under CI=true a missing one fails
 * the suite instead of skipping it.
 */
import { spawn as nodeSpawn, execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCapture, readCaptureUntilFault } from '../../src/link/capture-reader.js';
import { createVethPair, destroyAll, exec, requireRoot, spawn, type VethPair } from '../helpers/netns.js';

const execFileAsync = promisify(execFile);

interface Run {
  stdout: string;
  stderr: string;
  code: number;
}

async function run(argv: string[]): Promise<Run> {
  try {
    const r = await execFileAsync(argv[0]!, argv.slice(1), { timeout: 30_000, maxBuffer: 64 << 20 });
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

const wirelab = (...args: string[]): Promise<Run> =>
  run([process.execPath, '--import', 'tsx', 'src/cli/main.ts', ...args]);

const lines = (s: string): string[] => s.split('\n').filter(Boolean);

/** One `wirelab read` line of a cooked capture: interface index (SLL2 only), direction, packet. */
const OURS = /^\s*(\d+)\s+\d+\.\d{6} (?:if(\d+)\s+)?(In|Out|B|M|P)\s+(.*)$/;

const capability = requireRoot(['tcpdump', 'ping', 'editcap']);

describe.skipIf(capability.skip)('wirelab read on real tcpdump captures', () => {
  let pair: VethPair;
  let dir: string;
  /** ifindex → name inside namespace A, where the captures are made. */
  const names = new Map<number, string>();
  let sll2Path: string;
  let sllPath: string;

  /** `tcpdump -i any … -w path` in A around `ping` from A to B; resolves when tcpdump has flushed and exited. */
  async function captureAny(path: string, extra: string[], pingArgs: string[], expectNoDrops = true): Promise<void> {
    const td = spawn(pair.a.ns, ['tcpdump', '-i', 'any', '-n', '-U', '--immediate-mode', '-s', '0', ...extra, '-w', path, 'icmp or arp']);
    await td.waitForOutput(/listening on/, 5_000);
    await exec(pair.a.ns, ['ping', ...pingArgs, pair.b.ip], { check: true, timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 300));
    const r = await td.kill('SIGINT', 3_000);
    expect(r.signal, r.stderr).not.toBe('SIGKILL');
    if (expectNoDrops) expect(r.stderr).toMatch(/\b0 packets dropped by kernel/);
  }

  /** `tcpdump -n -r` inside A, so tcpdump names interfaces as A knows them. */
  const tcpdumpRead = (path: string, ...args: string[]): Promise<Run> =>
    run(['ip', 'netns', 'exec', pair.a.ns, 'tcpdump', '-n', '-r', path, ...args]);

  beforeAll(async () => {
    capability.assert();
    dir = mkdtempSync(join(tmpdir(), 'wl-read-'));
    pair = await createVethPair();
    const links = JSON.parse((await exec(pair.a.ns, ['ip', '-j', 'link', 'show'], { check: true })).stdout) as Array<{
      ifindex: number;
      ifname: string;
    }>;
    for (const l of links) names.set(l.ifindex, l.ifname);
    sll2Path = join(dir, 'any-sll2.pcap');
    sllPath = join(dir, 'any-sll.pcap');
    await captureAny(sll2Path, [], ['-c', '3', '-i', '0.2', '-W', '2']);
    await captureAny(sllPath, ['-y', 'LINUX_SLL'], ['-c', '2', '-i', '0.2', '-W', '2']);
  });

  afterAll(async () => {
    await pair?.destroy();
    await destroyAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('decodes a tcpdump -i any capture (LINUX_SLL2) into the lines tcpdump -r prints, interface index and direction first', async () => {
    const cap = readCapture(readFileSync(sll2Path));
    expect(cap.ok && cap.value.interfaces[0]!.linkType).toBe(276);

    const td = await tcpdumpRead(sll2Path);
    expect(td.code).toBe(0);
    expect(td.stderr).toContain('LINUX_SLL2');
    const ours = await wirelab('read', sll2Path);
    expect(ours.code, ours.stderr).toBe(0);
    expect(ours.stderr).toBe('');

    const theirs = lines(td.stdout).map((l) => /^\S+ (\S+)\s+(In|Out|B|M|P)\s+(.*)$/.exec(l));
    const mine = lines(ours.stdout).map((l) => OURS.exec(l));
    expect(mine.length).toBe(theirs.length);
    expect(mine.every(Boolean), ours.stdout).toBe(true);
    for (const [i, t] of theirs.entries()) {
      const m = mine[i]!;
      expect(t, td.stdout).not.toBeNull();
      expect(names.get(Number(m[2]))).toBe(t![1]);
      expect(m[3]).toBe(t![2]);
      if (/^(IP|ARP) /.test(t![3]!)) expect(m[4]).toBe(t![3]);
    }
    // The ping itself, each way, on A's veth end.
    const veth = [...names].find(([, n]) => n === pair.a.iface)![0];
    const text = ours.stdout;
    for (let seq = 1; seq <= 3; seq++) {
      expect(text).toMatch(new RegExp(`if${veth}\\s+Out IP ${pair.a.ip} > ${pair.b.ip}: ICMP echo request, id \\d+, seq ${seq}, length 64`));
      expect(text).toMatch(new RegExp(`if${veth}\\s+In  IP ${pair.b.ip} > ${pair.a.ip}: ICMP echo reply, id \\d+, seq ${seq}, length 64`));
    }

    const json = await wirelab('read', sll2Path, '--json');
    expect(json.code).toBe(0);
    const objs = lines(json.stdout).map((l) => JSON.parse(l) as {
      linkType: number;
      summary: string;
      sll2: { interfaceIndex: number; direction: string; protocolType: number; arphrdType: number };
      icmp?: { kind: string };
    });
    const request = objs.find((o) => o.icmp?.kind === 'echo-request')!;
    expect(request).toMatchObject({
      linkType: 276,
      sll2: { interfaceIndex: veth, direction: 'Out', protocolType: 0x0800, arphrdType: 1 },
    });
  });

  it('decodes a LINUX_SLL (v1) capture: direction, then the packet as tcpdump prints it', async () => {
    const td = await tcpdumpRead(sllPath);
    expect(td.stderr).toContain('LINUX_SLL ');
    const ours = await wirelab('read', sllPath);
    expect(ours.code, ours.stderr).toBe(0);
    const theirs = lines(td.stdout).map((l) => l.replace(/^\S+ /, ''));
    const mine = lines(ours.stdout).map((l) => OURS.exec(l));
    expect(mine.length).toBe(theirs.length);
    for (const [i, t] of theirs.entries()) {
      expect(mine[i]?.[2]).toBeUndefined(); // SLL has no interface index
      if (/^(IP|ARP) /.test(t)) expect(mine[i]![4]).toBe(t);
    }
    expect(ours.stdout).toMatch(new RegExp(`Out IP ${pair.a.ip} > ${pair.b.ip}: ICMP echo request`));
    expect(ours.stdout).toMatch(new RegExp(`In  IP ${pair.b.ip} > ${pair.a.ip}: ICMP echo reply`));
  });

  describe('a capture cut short', () => {
    /** Byte offsets of the pcap's records. */
    function recordOffsets(bytes: Uint8Array): number[] {
      const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const out: number[] = [];
      for (let off = 24; off < bytes.length; off += 16 + v.getUint32(off + 8, true)) out.push(off);
      return out;
    }

    it('reads every complete record before the cut, at every cut offset, and says where it stopped', () => {
      const bytes = readFileSync(sll2Path);
      const offsets = recordOffsets(bytes);
      const whole = readCapture(bytes);
      expect(whole.ok).toBe(true);
      for (let cut = 24; cut < bytes.length; cut++) {
        const part = bytes.subarray(0, cut);
        const r = readCaptureUntilFault(part);
        if (!r.ok) throw new Error(`cut at ${cut}: ${r.message}`);
        const complete = offsets.filter((o, i) => (offsets[i + 1] ?? bytes.length) <= cut).length;
        expect(r.value.records.length, `cut at ${cut}`).toBe(complete);
        const boundary = offsets.includes(cut);
        expect(r.value.stopped === undefined, `cut at ${cut}`).toBe(boundary);
        if (!boundary) {
          expect(r.value.stopped).toMatchObject({ code: 'truncated', offset: offsets[complete] });
          expect(readCapture(part).ok).toBe(false);
        }
      }
    });

    for (const where of ['record data', 'record header'] as const) {
      it(`prints the frames tcpdump prints, then one warning, exit 1 like tcpdump (cut in the ${where})`, async () => {
        const bytes = readFileSync(sll2Path);
        const offsets = recordOffsets(bytes);
        const last = offsets.at(-1)!;
        const cut = where === 'record data' ? last + 16 + 10 : last + 7;
        const path = join(dir, `cut-${where.replace(' ', '-')}.pcap`);
        writeFileSync(path, bytes.subarray(0, cut));

        const td = await tcpdumpRead(path);
        expect(td.code).toBe(1);
        expect(td.stderr).toMatch(/tcpdump: pcap_loop: truncated dump file; tried to read \d+ (captured|header) bytes, only got \d+/);

        for (const json of [false, true]) {
          const ours = await wirelab('read', path, ...(json ? ['--json'] : []));
          expect(ours.code).toBe(td.code);
          expect(lines(ours.stdout)).toHaveLength(offsets.length - 1);
          expect(lines(ours.stdout)).toHaveLength(lines(td.stdout).length);
          const warning = lines(ours.stderr);
          expect(warning).toHaveLength(1);
          expect(warning[0]).toContain(`wirelab: warning: ${path}: truncated capture, stopped at byte ${last} of ${cut} after ${offsets.length - 1} complete frames`);
          expect(warning[0]).toMatch(where === 'record data' ? /has \d+ captured bytes, 10 left/ : /needs 16 bytes, 7 left/);
        }

        // -c reached before the cut: no warning, exit 0 (tcpdump does the same).
        const tdCount = await tcpdumpRead(path, '-c', '2');
        const count = await wirelab('read', path, '-c', '2');
        expect([count.code, tdCount.code]).toEqual([0, 0]);
        expect(count.stderr).toBe('');
        expect(lines(count.stdout)).toHaveLength(2);
      });
    }

    it('pcapng (editcap of the real capture) cut inside a block: same frames as tcpdump, one warning, exit 1', async () => {
      const ng = join(dir, 'any.pcapng');
      await execFileAsync('editcap', ['-F', 'pcapng', sll2Path, ng]);
      const bytes = readFileSync(ng);
      const whole = readCaptureUntilFault(bytes);
      if (!whole.ok) throw new Error(whole.message);
      expect(whole.value.format).toBe('pcapng');
      const n = whole.value.records.length;
      const lastStart = whole.value.records.at(-1)!.data.byteOffset - bytes.byteOffset - 28;
      const cut = join(dir, 'cut.pcapng');
      writeFileSync(cut, bytes.subarray(0, lastStart + 40));

      const td = await tcpdumpRead(cut);
      expect(td.code).toBe(1);
      expect(td.stderr).toMatch(/truncated pcapng dump file/);
      const ours = await wirelab('read', cut);
      expect(ours.code).toBe(1);
      expect(lines(ours.stdout)).toHaveLength(n - 1);
      expect(lines(ours.stdout)).toHaveLength(lines(td.stdout).length);
      expect(lines(ours.stderr)).toEqual([
        expect.stringContaining(`wirelab: warning: ${cut}: truncated capture, stopped at byte ${lastStart} of ${lastStart + 40} after ${n - 1} complete frames: pcapng: truncated:`),
      ]);
    });
  });

  it('stops quietly, exit 0, when the reader of its output goes away (read … | head -1)', async () => {
    const big = join(dir, 'flood.pcap');
    // Thousands of frames: far more output than a pipe holds, so wirelab is
    // still writing when its reader closes the pipe.
    await captureAny(big, [], ['-f', '-c', '2000', '-W', '2'], false);
    for (const json of [false, true]) {
      const child = nodeSpawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'read', big, ...(json ? ['--json'] : [])], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const first = await new Promise<string>((resolve, reject) => {
        let got = '';
        child.stdout.on('data', (b: Buffer) => {
          got += b.toString();
          const nl = got.indexOf('\n');
          if (nl >= 0) {
            child.stdout.destroy(); // what head does after its first line
            resolve(got.slice(0, nl));
          }
        });
        child.on('error', reject);
      });
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
        child.on('close', (c, s) => resolve([c, s])),
      );
      expect(first).toMatch(json ? /^\{"number":1,/ : /^\s+1\s+0\.000000 /);
      expect(stderr).toBe('');
      expect([code, signal]).toEqual([0, null]);
    }
  });
});

describe('wirelab read on a link type it does not decode', () => {
  it('prints one clear line per frame (and a JSON object with the link type), never a crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wl-read-lt-'));
    try {
      // A classic pcap, link type 147 (LINKTYPE_USER0), two 3-byte records.
      const header = Buffer.alloc(24);
      header.writeUInt32LE(0xa1b2c3d4, 0);
      header.writeUInt16LE(2, 4);
      header.writeUInt16LE(4, 6);
      header.writeUInt32LE(65535, 16);
      header.writeUInt32LE(147, 20);
      const rec = (sec: number): Buffer => {
        const r = Buffer.alloc(19);
        r.writeUInt32LE(sec, 0);
        r.writeUInt32LE(3, 8);
        r.writeUInt32LE(3, 12);
        r.set([1, 2, 3], 16);
        return r;
      };
      const path = join(dir, 'user0.pcap');
      writeFileSync(path, Buffer.concat([header, rec(1), rec(2)]));
      const r = await wirelab('read', path);
      expect(r.code).toBe(0);
      expect(lines(r.stdout)).toEqual([
        '   1    0.000000 link type 147 not decoded (wirelab decodes 1 Ethernet, 113 Linux SLL, 276 Linux SLL2), 3 bytes',
        '   2    1.000000 link type 147 not decoded (wirelab decodes 1 Ethernet, 113 Linux SLL, 276 Linux SLL2), 3 bytes',
      ]);
      const j = await wirelab('read', path, '--json');
      expect(j.code).toBe(0);
      expect(lines(j.stdout).map((l) => JSON.parse(l) as unknown)).toEqual([
        expect.objectContaining({ number: 1, linkType: 147, summary: expect.stringContaining('link type 147 not decoded') }),
        expect.objectContaining({ number: 2, linkType: 147 }),
      ]);
      // A cooked record too short for its header: a malformed line, not a crash.
      header.writeUInt32LE(276, 20);
      writeFileSync(path, Buffer.concat([header, rec(1)]));
      const short = await wirelab('read', path);
      expect(short.code).toBe(0);
      expect(short.stdout).toContain('[malformed sll2: truncated: header needs 20 bytes, frame has 3]');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
