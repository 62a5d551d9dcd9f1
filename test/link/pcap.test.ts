/**
 * pcap and pcapng: writer/reader round trips (fast-check), hostile input
 * (random bytes, every truncation, corruptions), hand-built big-endian
 * files, backpressure with a bounded buffer, and tshark reading every file
 * the tests write, including a pcapng stream piped live into `tshark -r -`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PcapngWriter,
  PcapWriter,
  readCapture,
  type Capture,
  type CaptureRecord,
  type TimestampResolution,
} from '../../src/link/pcap.js';

// ---------------------------------------------------------------------------
// Helpers

/** Ethernet frames with the local-experimental EtherType, so tshark dissects them as plain data. */
function ethernet(bytes: Uint8Array): Uint8Array {
  bytes[6] = (bytes[6] ?? 0) & 0xfe; // unicast source MAC
  bytes[12] = 0x88;
  bytes[13] = 0xb5;
  return bytes;
}
function frameOf(length: number, tag: number): Uint8Array {
  const b = new Uint8Array(length);
  for (let i = 0; i < length; i++) b[i] = (tag * 31 + i * 7) & 0xff;
  b.set([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2], 0);
  if (length >= 18) new DataView(b.buffer).setUint32(14, tag);
  return ethernet(b);
}
const frameArb = fc.uint8Array({ minLength: 14, maxLength: 1514 }).map(ethernet);
/** 2000-01-01 .. 2100-01-01 in ns: inside pcap's 32-bit seconds. */
const tsArb = fc.bigInt({ min: 946_684_800_000_000_000n, max: 4_102_444_800_000_000_000n });
const T0 = 1_704_067_200_000_000_000n; // 2024-01-01T00:00:00Z

function truncate(ns: bigint, res: TimestampResolution): bigint {
  return res === 'ns' ? ns : (ns / 1000n) * 1000n;
}

class Collector extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(Buffer.from(chunk));
    cb();
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function mustRead(bytes: Uint8Array): Capture {
  const r = readCapture(bytes);
  if (!r.ok) throw new Error(`${r.layer}: ${r.code}: ${r.message}`);
  return r.value;
}

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wirelab-pcap-'));
  const probe = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) throw new Error('tshark is required: apt-get install -y tshark');
});
afterAll(() => {
  // WIRELAB_KEEP_CAPTURES=1 keeps the files for a look in Wireshark.
  if (dir && !process.env.WIRELAB_KEEP_CAPTURES) rmSync(dir, { recursive: true, force: true });
});

const filteredStderr = (s: string): string =>
  s
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('Running as user'))
    .join('\n');

interface TsharkFrame {
  number: number;
  len: number;
  capLen: number;
  iface: string;
  epochNs: bigint;
}

function parseTsharkFields(stdout: string): TsharkFrame[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const [number, len, capLen, iface, epoch] = line.split('\t');
      const [sec, frac = ''] = (epoch ?? '').split('.');
      return {
        number: Number(number),
        len: Number(len),
        capLen: Number(capLen),
        iface: iface ?? '',
        epochNs: BigInt(sec ?? '0') * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9)),
      };
    });
}

const FIELDS = ['-T', 'fields', '-e', 'frame.number', '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'frame.interface_name', '-e', 'frame.time_epoch'];

/** tshark reads `file` without error or expert warnings and sees exactly `expected`. */
/** `iface: null` skips the name check (see the two-section test). */
function checkWithTshark(file: string, expected: Array<{ len: number; capLen: number; iface?: string | null; ns: bigint }>): void {
  const fields = spawnSync('tshark', ['-r', file, ...FIELDS], { encoding: 'utf8', maxBuffer: 64 << 20 });
  expect(filteredStderr(fields.stderr), `tshark stderr for ${file}`).toBe('');
  expect(fields.status).toBe(0);
  const frames = parseTsharkFields(fields.stdout);
  expect(frames.length).toBe(expected.length);
  frames.forEach((f, i) => {
    const e = expected[i]!;
    expect({ n: f.number, len: f.len, capLen: f.capLen, iface: e.iface === null ? null : f.iface, ns: f.epochNs }).toEqual({
      n: i + 1,
      len: e.len,
      capLen: e.capLen,
      iface: e.iface === null ? null : (e.iface ?? ''),
      ns: e.ns,
    });
  });
  const expert = spawnSync('tshark', ['-r', file, '-z', 'expert', '-q'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  expect(expert.status).toBe(0);
  expect(filteredStderr(expert.stderr)).toBe('');
  expect(expert.stdout).not.toMatch(/Errors|Warns|Malformed/);
  const capinfos = spawnSync('capinfos', ['-c', file], { encoding: 'utf8' });
  expect(capinfos.status).toBe(0);
  expect(capinfos.stdout).toMatch(new RegExp(`Number of packets:\\s+${expected.length}\\b`));
}

// ---------------------------------------------------------------------------
// Round trips (in memory, fast-check)

describe('round trips', () => {
  it('pcap, us and ns: frames, lengths and timestamps come back', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<TimestampResolution>('us', 'ns'),
        fc.array(fc.record({ frame: frameArb, ts: tsArb }), { maxLength: 30 }),
        fc.option(fc.integer({ min: 14, max: 2000 }), { nil: undefined }),
        async (resolution, recs, snaplen) => {
          const out = new Collector();
          const w = new PcapWriter(out, { resolution, ...(snaplen === undefined ? {} : { snaplen }) });
          for (const r of recs) expect(w.write(r.frame, r.ts)).toBe(true);
          await w.close();
          const bytes = out.bytes;
          expect(w.stats).toEqual({ frames: recs.length, bytes: bytes.length, dropped: 0 });
          const cap = mustRead(bytes);
          expect(cap.format).toBe('pcap');
          expect(cap.interfaces).toEqual([{ linkType: 1, snaplen: snaplen ?? 262144, tsResolution: resolution === 'ns' ? 1e9 : 1e6 }]);
          expect(cap.records.length).toBe(recs.length);
          cap.records.forEach((rec, i) => {
            const { frame, ts } = recs[i]!;
            const captured = Math.min(frame.length, snaplen ?? Infinity);
            expect(rec.interfaceId).toBe(0);
            expect(rec.originalLength).toBe(frame.length);
            expect(rec.capturedLength).toBe(captured);
            expect(Buffer.from(rec.data).equals(Buffer.from(frame.subarray(0, captured)))).toBe(true);
            expect(rec.timestampNs).toBe(truncate(ts, resolution));
          });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('pcapng with several interfaces of both resolutions: frames, ids, names and times come back', async () => {
    const ifaceArb = fc.record({
      name: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 }).filter((s) => !s.endsWith('\0')),
      tsResolution: fc.constantFrom<TimestampResolution>('us', 'ns'),
      snaplen: fc.option(fc.integer({ min: 14, max: 3000 }), { nil: undefined }),
      description: fc.option(fc.string({ maxLength: 40 }).filter((s) => !s.endsWith('\0')), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(ifaceArb, { minLength: 1, maxLength: 6 }),
        fc.array(fc.record({ frame: frameArb, ts: tsArb, ifc: fc.nat(5) }), { maxLength: 30 }),
        async (ifaces, recs) => {
          const out = new Collector();
          const w = new PcapngWriter(out);
          ifaces.forEach((ifc, i) => expect(w.addInterface(ifc)).toBe(i));
          for (const r of recs) expect(w.write(r.frame, r.ts, r.ifc % ifaces.length)).toBe(true);
          await w.close();
          const bytes = out.bytes;
          expect(w.stats).toEqual({ frames: recs.length, bytes: bytes.length, dropped: 0 });
          const cap = mustRead(bytes);
          expect(cap.format).toBe('pcapng');
          expect(cap.interfaces.map((i) => [i.name, i.description, i.snaplen, i.tsResolution])).toEqual(
            ifaces.map((i) => [i.name, i.description, i.snaplen ?? 262144, i.tsResolution === 'ns' ? 1e9 : 1e6]),
          );
          expect(cap.records.length).toBe(recs.length);
          cap.records.forEach((rec, k) => {
            const { frame, ts, ifc } = recs[k]!;
            const id = ifc % ifaces.length;
            const captured = Math.min(frame.length, ifaces[id]!.snaplen ?? Infinity);
            expect(rec.interfaceId).toBe(id);
            expect(rec.originalLength).toBe(frame.length);
            expect(rec.capturedLength).toBe(captured);
            expect(Buffer.from(rec.data).equals(Buffer.from(frame.subarray(0, captured)))).toBe(true);
            expect(rec.timestampNs).toBe(truncate(ts, ifaces[id]!.tsResolution));
          });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('takes timestamps from the injected now() when none is given, and copies borrowed frames', async () => {
    let t = T0;
    const out = new Collector();
    const w = new PcapngWriter(out, { now: () => (t += 1_500n), interfaces: [{ name: 'p0', tsResolution: 'ns' }] });
    const borrowed = frameOf(64, 1);
    w.write(borrowed);
    borrowed.fill(0xee); // the caller reuses its buffer at once
    w.write(frameOf(64, 2));
    await w.close();
    const cap = mustRead(out.bytes);
    expect(cap.records.map((r) => r.timestampNs)).toEqual([T0 + 1_500n, T0 + 3_000n]);
    expect(Buffer.from(cap.records[0]!.data).equals(Buffer.from(frameOf(64, 1)))).toBe(true);
  });

  it('the default timestamp is the wall clock', async () => {
    const out = new Collector();
    const w = new PcapWriter(out, { resolution: 'ns' });
    w.write(frameOf(60, 0));
    await w.close();
    const ns = mustRead(out.bytes).records[0]!.timestampNs;
    expect(Math.abs(Number(ns / 1_000_000n) - Date.now())).toBeLessThan(60_000);
  });

  it('drops, never throws: unknown interface, negative id, writes after close', async () => {
    const out = new Collector();
    const w = new PcapngWriter(out);
    expect(w.write(frameOf(60, 0), T0)).toBe(true); // auto-adds interface 0
    expect(w.interfaceCount).toBe(1);
    expect(w.write(frameOf(60, 0), T0, 3)).toBe(false);
    expect(w.write(frameOf(60, 0), T0, -1)).toBe(false);
    await w.close();
    expect(w.write(frameOf(60, 0), T0)).toBe(false);
    expect(w.stats.frames).toBe(1);
    expect(w.stats.dropped).toBe(3);
    const cap = mustRead(out.bytes);
    expect(cap.interfaces[0]!.name).toBe('wirelab0');
    expect(cap.records.length).toBe(1);
  });
});

// ---------------------------------------------------------------------------
// Backpressure

/** A destination that accepts bytes only while not stalled. */
class Stallable extends Writable {
  readonly chunks: Buffer[] = [];
  stalled = true;
  private pending: Array<() => void> = [];
  constructor() {
    super({ highWaterMark: 4096 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(Buffer.from(chunk));
    if (this.stalled) this.pending.push(() => cb());
    else setImmediate(cb);
  }
  resume(): void {
    this.stalled = false;
    for (const cb of this.pending.splice(0)) setImmediate(cb);
  }
}

describe('backpressure', () => {
  it('buffers up to the bound, drops whole frames past it, and delivers the rest intact after drain', async () => {
    const dest = new Stallable();
    const w = new PcapWriter(dest, { maxBufferedBytes: 30_000 });
    const accepted: number[] = [];
    for (let i = 0; i < 200; i++) {
      if (w.write(frameOf(1000, i), T0 + BigInt(i) * 1000n)) accepted.push(i);
      if (i % 10 === 9) await new Promise((r) => setImmediate(r));
    }
    expect(w.stats.dropped).toBeGreaterThan(0);
    expect(w.stats.frames + w.stats.dropped).toBe(200);
    expect(accepted.length).toBe(w.stats.frames);
    dest.resume();
    // Once drained, frames are accepted again.
    await w.flush();
    expect(w.write(frameOf(1000, 999), T0)).toBe(true);
    accepted.push(999);
    await w.close();
    const cap = mustRead(Buffer.concat(dest.chunks));
    expect(cap.records.map((r) => new DataView(r.data.buffer, r.data.byteOffset).getUint32(14))).toEqual(accepted);
  });
});

describe('destination failures', () => {
  it('a destination that fails (EPIPE) is reported through `error`; writes are dropped, nothing throws', async () => {
    const broken = new Writable({
      write(_chunk, _enc, cb) {
        cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const w = new PcapngWriter(broken, { interfaces: [{ name: 'p0' }] });
    expect(w.write(frameOf(60, 0), T0)).toBe(true);
    await w.flush();
    expect(w.error?.message).toBe('write EPIPE');
    expect(w.write(frameOf(60, 1), T0)).toBe(false);
    await w.close();
    expect(w.addInterface({ name: 'late' })).toBe(-1);
    expect(w.stats.dropped).toBe(1);
  });

  it('a file path that cannot be created fails at construction', () => {
    expect(() => new PcapWriter(join(dir, 'no-such-dir', 'x.pcap'))).toThrow(/ENOENT/);
  });
});

// ---------------------------------------------------------------------------
// Files, checked by tshark

describe('files read by tshark', () => {
  for (const resolution of ['us', 'ns'] as const) {
    it(`pcap (${resolution}) file: tshark agrees on count, lengths and times; snaplen truncates`, async () => {
      const file = join(dir, `round-${resolution}.pcap`);
      const w = new PcapWriter(file, { resolution, snaplen: 1000 });
      const sample = fc.sample(fc.record({ frame: frameArb, ts: tsArb }), { numRuns: 40, seed: 42 });
      sample.push({ frame: frameOf(1514, 7), ts: T0 + 123_456_789n });
      for (const r of sample) w.write(r.frame, r.ts);
      await w.close();
      expect(statSync(file).size).toBe(w.stats.bytes);
      const cap = mustRead(readFileSync(file));
      expect(cap.records.at(-1)).toMatchObject({ capturedLength: 1000, originalLength: 1514 });
      checkWithTshark(
        file,
        sample.map((r) => ({ len: r.frame.length, capLen: Math.min(1000, r.frame.length), ns: truncate(r.ts, resolution) })),
      );
    });
  }

  it('pcapng file with four switch ports at mixed resolutions: tshark sees every port name', async () => {
    const file = join(dir, 'switch.pcapng');
    const ports = [
      { name: 'sw0-p1', tsResolution: 'ns' as const },
      { name: 'sw0-p2', tsResolution: 'us' as const, description: 'uplink' },
      { name: 'sw0-p3', tsResolution: 'ns' as const, snaplen: 128 },
      { name: 'sw0-p4' },
    ];
    const w = new PcapngWriter(file, { interfaces: ports });
    const expected: Array<{ len: number; capLen: number; iface: string; ns: bigint }> = [];
    const sample = fc.sample(fc.record({ frame: frameArb, ts: tsArb, port: fc.nat(3) }), { numRuns: 60, seed: 7 });
    for (const r of sample) {
      expect(w.write(r.frame, r.ts, r.port)).toBe(true);
      const p = ports[r.port]!;
      expected.push({
        len: r.frame.length,
        capLen: Math.min(r.frame.length, p.snaplen ?? Infinity),
        iface: p.name,
        ns: truncate(r.ts, p.tsResolution ?? 'us'),
      });
    }
    // An interface added after frames were written is fine too.
    const late = w.addInterface({ name: 'late0', tsResolution: 'ns' });
    w.write(frameOf(60, 1), T0 + 1n, late);
    expected.push({ len: 60, capLen: 60, iface: 'late0', ns: T0 + 1n });
    await w.close();
    expect(statSync(file).size).toBe(w.stats.bytes);
    checkWithTshark(file, expected);
  });

  it('two pcapng sections in one file: interface ids are offset past the first section', async () => {
    const a = new Collector();
    const wa = new PcapngWriter(a, { interfaces: [{ name: 'a0' }, { name: 'a1' }] });
    wa.write(frameOf(60, 1), T0, 1);
    await wa.close();
    const b = new Collector();
    const wb = new PcapngWriter(b, { interfaces: [{ name: 'b0', tsResolution: 'ns' }] });
    wb.write(frameOf(70, 2), T0 + 5n, 0);
    await wb.close();
    const file = join(dir, 'sections.pcapng');
    writeFileSync(file, Buffer.concat([a.bytes, b.bytes]));
    const cap = mustRead(readFileSync(file));
    expect(cap.interfaces.map((i) => i.name)).toEqual(['a0', 'a1', 'b0']);
    expect(cap.records.map((r) => r.interfaceId)).toEqual([1, 2]);
    // tshark 4.0 resolves a later section's interface name against the first
    // section's list (it prints "a0" here), so the name of frame 2 is not compared.
    checkWithTshark(file, [
      { len: 60, capLen: 60, iface: 'a1', ns: T0 },
      { len: 70, capLen: 70, iface: null, ns: T0 + 5n },
    ]);
  });

  /**
   * Streams pcapng through a PassThrough (standing in for process.stdout)
   * into a tshark child and checks that tshark prints the first frames while
   * the stream is still open, then that several megabytes arrive complete.
   */
  async function streamInto(tsharkArgs: string[], viaShellPipe: boolean): Promise<void> {
    // Node gives a child a socketpair for stdin, which `tshark -r -` refuses
    // ("special file or socket"); `wirelab | tshark -r -` in a shell gets a
    // real pipe, so that case goes through `cat |` to get one too.
    const child = viaShellPipe
      ? spawn('sh', ['-c', `cat | exec tshark ${tsharkArgs.join(' ')}`], { stdio: ['pipe', 'pipe', 'pipe'] })
      : spawn('tshark', tsharkArgs, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: dir } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const lines = (): number => stdout.split('\n').filter((l) => l).length;
    try {
      const pass = new PassThrough({ highWaterMark: 16 * 1024 });
      pass.pipe(child.stdin);
      const w = new PcapngWriter(pass, { interfaces: [{ name: 'live0', tsResolution: 'ns' }, { name: 'live1' }] });

      for (let i = 0; i < 5; i++) w.write(frameOf(100, i), T0 + BigInt(i), 0);
      await w.flush();
      const deadline = Date.now() + 30_000;
      while (lines() < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(lines(), `tshark printed the first frames before the stream ended; stderr: ${stderr}`).toBe(5);

      const N = 3000; // 4.5 MB: enough to make the pipe push back
      for (let i = 5; i < N; i++) {
        w.write(frameOf(1500, i), T0 + BigInt(i) * 1000n, i % 2);
        if (i % 200 === 0) await w.flush();
      }
      await w.close();
      expect(await exited).toBe(0);
      expect(w.stats.dropped).toBe(0);
      const frames = parseTsharkFields(stdout);
      expect(frames.length).toBe(N);
      expect(frames.slice(0, 5).every((f) => f.len === 100 && f.iface === 'live0')).toBe(true);
      expect(frames[N - 1]).toMatchObject({ number: N, len: 1500, iface: `live${(N - 1) % 2}`, epochNs: T0 + BigInt(N - 1) * 1000n });
      expect(stderr).not.toMatch(/error|cut short|malformed/i);
    } finally {
      if (child.exitCode === null) child.kill();
    }
  }

  it('pcapng streamed through a PassThrough (like stdout) is read live by `tshark -r -`', async () => {
    await streamInto(['-l', '-r', '-', ...FIELDS], true);
  });

  it('pcapng streamed through a PassThrough is captured live by `tshark -i -` (as `wireshark -k -i -` does)', async () => {
    await streamInto(['-l', '-i', '-', ...FIELDS], false);
  });
});

// ---------------------------------------------------------------------------
// Hand-built big-endian files, and the rarer pcapng blocks

function pad4(n: number): number {
  return (n + 3) & ~3;
}
/** A pcapng block: type, total length, body padded to 32 bits, trailing length. */
function block(type: number, body: Uint8Array, le: boolean): Uint8Array {
  const len = 12 + pad4(body.length);
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  v.setUint32(0, type, le);
  v.setUint32(4, len, le);
  b.set(body, 8);
  v.setUint32(len - 4, len, le);
  return b;
}
function fields(le: boolean, spec: Array<[bits: 8 | 16 | 32, value: number] | Uint8Array>): Uint8Array {
  const parts: number[] = [];
  for (const s of spec) {
    if (s instanceof Uint8Array) {
      parts.push(...s);
      continue;
    }
    const [bits, value] = s;
    const b = new Uint8Array(bits / 8);
    const v = new DataView(b.buffer);
    if (bits === 8) v.setUint8(0, value);
    else if (bits === 16) v.setUint16(0, value, le);
    else v.setUint32(0, value, le);
    parts.push(...b);
  }
  return Uint8Array.from(parts);
}
function option(le: boolean, code: number, value: Uint8Array): Uint8Array {
  const b = new Uint8Array(4 + pad4(value.length));
  b.set(fields(le, [[16, code], [16, value.length]]));
  b.set(value, 4);
  return b;
}
const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

function shb(le: boolean): Uint8Array {
  return block(0x0a0d0d0a, fields(le, [[32, 0x1a2b3c4d], [16, 1], [16, 0], [32, 0xffffffff], [32, 0xffffffff]]), le);
}
function idb(le: boolean, name: string, tsresol: number, snaplen = 65535): Uint8Array {
  return block(
    1,
    concat(fields(le, [[16, 1], [16, 0], [32, snaplen]]), option(le, 2, text(name)), option(le, 9, Uint8Array.of(tsresol)), fields(le, [[32, 0]])),
    le,
  );
}
function epb(le: boolean, ifc: number, units: bigint, frame: Uint8Array): Uint8Array {
  return block(
    6,
    concat(
      fields(le, [[32, ifc], [32, Number(units >> 32n)], [32, Number(units & 0xffffffffn)], [32, frame.length], [32, frame.length]]),
      frame,
      new Uint8Array(pad4(frame.length) - frame.length),
    ),
    le,
  );
}
function classicPcap(le: boolean, nanos: boolean, recs: Array<{ sec: number; frac: number; frame: Uint8Array }>): Uint8Array {
  const parts = [fields(le, [[32, nanos ? 0xa1b23c4d : 0xa1b2c3d4], [16, 2], [16, 4], [32, 0], [32, 0], [32, 65535], [32, 1]])];
  for (const r of recs) parts.push(fields(le, [[32, r.sec], [32, r.frac], [32, r.frame.length], [32, r.frame.length]]), r.frame);
  return concat(...parts);
}

describe('hand-built files', () => {
  for (const nanos of [false, true]) {
    it(`big-endian pcap (${nanos ? 'ns' : 'us'}) is read, by us and by tshark`, () => {
      const recs = [
        { sec: 1_704_067_200, frac: nanos ? 123_456_789 : 123_456, frame: frameOf(60, 1) },
        { sec: 1_704_067_201, frac: 7, frame: frameOf(14, 2) },
      ];
      const bytes = classicPcap(false, nanos, recs);
      const cap = mustRead(bytes);
      const scale = nanos ? 1n : 1000n;
      expect(cap.interfaces).toEqual([{ linkType: 1, snaplen: 65535, tsResolution: nanos ? 1e9 : 1e6 }]);
      expect(cap.records.map((r) => [r.timestampNs, r.capturedLength])).toEqual(
        recs.map((r) => [BigInt(r.sec) * 1_000_000_000n + BigInt(r.frac) * scale, r.frame.length]),
      );
      const file = join(dir, `big-endian-${nanos ? 'ns' : 'us'}.pcap`);
      writeFileSync(file, bytes);
      checkWithTshark(
        file,
        recs.map((r) => ({ len: r.frame.length, capLen: r.frame.length, ns: BigInt(r.sec) * 1_000_000_000n + BigInt(r.frac) * scale })),
      );
    });
  }

  it('big-endian pcapng with millisecond and 2^-20 s resolutions, an unknown block and a simple packet block', () => {
    const le = false;
    const f1 = frameOf(64, 1);
    const f2 = frameOf(90, 2);
    const f3 = frameOf(70, 3);
    const bytes = concat(
      shb(le),
      idb(le, 'be-ms', 3),
      block(0x80000123, fields(le, [[32, 1], [32, 2]]), le), // local-use block type: skipped
      idb(le, 'be-pow2', 0x80 | 20),
      epb(le, 0, 1_704_067_200_123n, f1),
      epb(le, 1, 1_704_067_200n * 2n ** 20n + 2n ** 19n, f2),
      block(3, concat(fields(le, [[32, f3.length]]), f3, new Uint8Array(pad4(f3.length) - f3.length)), le),
    );
    const cap = mustRead(bytes);
    expect(cap.interfaces.map((i) => [i.name, i.tsResolution, i.snaplen])).toEqual([
      ['be-ms', 1e3, 65535],
      ['be-pow2', 2 ** 20, 65535],
    ]);
    expect(cap.records.map((r) => [r.interfaceId, r.timestampNs, r.capturedLength])).toEqual([
      [0, 1_704_067_200_123_000_000n, 64],
      [1, 1_704_067_200_500_000_000n, 90],
      [0, 0n, 70],
    ]);
    expect(Buffer.from(cap.records[2]!.data).equals(Buffer.from(f3))).toBe(true);
    // tshark on the same file, without the simple packet block (it has no timestamp to compare).
    const file = join(dir, 'big-endian.pcapng');
    writeFileSync(file, bytes.subarray(0, bytes.length - (12 + 4 + pad4(f3.length))));
    checkWithTshark(file, [
      { len: 64, capLen: 64, iface: 'be-ms', ns: 1_704_067_200_123_000_000n },
      { len: 90, capLen: 90, iface: 'be-pow2', ns: 1_704_067_200_500_000_000n },
    ]);
  });
});

// ---------------------------------------------------------------------------
// Hostile input

async function validPcapng(): Promise<Uint8Array> {
  const out = new Collector();
  const w = new PcapngWriter(out, { interfaces: [{ name: 'h0' }, { name: 'h1', tsResolution: 'ns', description: 'x' }] });
  for (let i = 0; i < 8; i++) w.write(frameOf(14 + i * 9, i), T0 + BigInt(i), i % 2);
  await w.close();
  return out.bytes;
}
async function validPcap(resolution: TimestampResolution): Promise<Uint8Array> {
  const out = new Collector();
  const w = new PcapWriter(out, { resolution });
  for (let i = 0; i < 8; i++) w.write(frameOf(14 + i * 9, i), T0 + BigInt(i));
  await w.close();
  return out.bytes;
}
/** Offsets where a block or record ends, from a successful read's point of view. */
function boundaries(bytes: Uint8Array, pcapng: boolean): number[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset);
  const out: number[] = [];
  let off = pcapng ? 0 : 24;
  if (!pcapng) out.push(24);
  while (off < bytes.length) {
    off += pcapng ? v.getUint32(off + 4, true) : 16 + v.getUint32(off + 8, true);
    out.push(off);
  }
  return out;
}

function expectWellFormedResult(r: ReturnType<typeof readCapture>, bytes: Uint8Array): void {
  if (r.ok) {
    for (const rec of r.value.records) {
      expect(rec.data.length).toBe(rec.capturedLength);
      expect(rec.data.buffer).toBe(bytes.buffer);
      expect(rec.interfaceId).toBeLessThan(r.value.interfaces.length);
    }
  } else {
    expect(['pcap', 'pcapng']).toContain(r.layer);
    expect(r.message.length).toBeGreaterThan(0);
  }
}

describe('hostile input never throws', () => {
  it('random bytes, alone or after a valid file header', async () => {
    const heads = [new Uint8Array(0), (await validPcap('us')).subarray(0, 24), (await validPcap('ns')).subarray(0, 40), (await validPcapng()).subarray(0, 60), shb(false)];
    fc.assert(
      fc.property(fc.nat(heads.length - 1), fc.uint8Array({ maxLength: 600 }), (h, tail) => {
        const bytes = concat(heads[h]!, tail);
        expectWellFormedResult(readCapture(bytes), bytes);
      }),
      { numRuns: 3000 },
    );
  });

  it('corrupted bytes of valid files', async () => {
    const files = [await validPcapng(), await validPcap('us'), await validPcap('ns')];
    fc.assert(
      fc.property(fc.nat(2), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 6 }), (f, edits) => {
        const bytes = Uint8Array.from(files[f]!);
        for (const [pos, value] of edits) bytes[pos % bytes.length] = value;
        expectWellFormedResult(readCapture(bytes), bytes);
      }),
      { numRuns: 3000 },
    );
  });

  it('every truncation of a valid pcapng or pcap: ok exactly at block boundaries, a typed error elsewhere', async () => {
    for (const [bytes, pcapng] of [
      [await validPcapng(), true],
      [await validPcap('us'), false],
      [await validPcap('ns'), false],
    ] as const) {
      const ends = new Set(boundaries(bytes, pcapng));
      const full = mustRead(bytes).records;
      for (let n = 0; n <= bytes.length; n++) {
        const cut = bytes.subarray(0, n);
        const r = readCapture(cut);
        expectWellFormedResult(r, bytes);
        expect(r.ok, `truncated to ${n}`).toBe(ends.has(n));
        if (r.ok) expect(r.value.records).toEqual(full.slice(0, r.value.records.length));
        else expect(r.code).toBe('truncated');
      }
    }
  });

  it('names the fault: short block, block past the end, mismatched trailing length, interface out of range', () => {
    const le = true;
    const good = concat(shb(le), idb(le, 'x', 6), epb(le, 0, 1n, frameOf(20, 0)));
    expect(mustRead(good).records.length).toBe(1);

    const short = concat(shb(le), fields(le, [[32, 6], [32, 8], [32, 8]]));
    expect(readCapture(short)).toMatchObject({ ok: false, layer: 'pcapng', code: 'bad-length' });

    const past = concat(shb(le), idb(le, 'x', 6), fields(le, [[32, 6], [32, 4096], [32, 0]]));
    expect(readCapture(past)).toMatchObject({ ok: false, layer: 'pcapng', code: 'truncated' });

    const mismatched = Uint8Array.from(good);
    mismatched[mismatched.length - 1] = 0x7f;
    const m = readCapture(mismatched);
    expect(m).toMatchObject({ ok: false, layer: 'pcapng', code: 'bad-length' });
    expect(!m.ok && m.message).toMatch(/trailing length/);

    const outOfRange = concat(shb(le), idb(le, 'x', 6), epb(le, 5, 1n, frameOf(20, 0)));
    const o = readCapture(outOfRange);
    expect(o.ok).toBe(false);
    expect(!o.ok && o.message).toMatch(/interface id 5/);

    const capturedTooLong = Uint8Array.from(good);
    new DataView(capturedTooLong.buffer).setUint32(good.length - epb(le, 0, 1n, frameOf(20, 0)).length + 20, 4000, true);
    expect(readCapture(capturedTooLong)).toMatchObject({ ok: false, code: 'bad-length' });

    const badOption = concat(shb(le), block(1, concat(fields(le, [[16, 1], [16, 0], [32, 0]]), fields(le, [[16, 2], [16, 200]])), le));
    expect(readCapture(badOption)).toMatchObject({ ok: false, code: 'bad-option' });

    expect(readCapture(Uint8Array.of(1, 2, 3, 4, 5))).toMatchObject({ ok: false, code: 'unsupported' });
    expect(readCapture(new Uint8Array(2))).toMatchObject({ ok: false, code: 'truncated' });
    expect(readCapture(concat(idb(le, 'x', 6)))).toMatchObject({ ok: false, code: 'unsupported' });
  });

  it('a record ending exactly at the end of the file, and an empty capture, are fine', async () => {
    const out = new Collector();
    await new PcapngWriter(out).close();
    const empty: Capture = mustRead(out.bytes);
    expect(empty).toEqual({ format: 'pcapng', interfaces: [], records: [] as CaptureRecord[] });
  });
});
