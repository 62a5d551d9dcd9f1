/**
 * An offload pipe (`createPipe(clock, { offload: true })`) has veth's
 * offloads: TCP between two wirelab stacks crosses as 64 KB super-frames with
 * partial checksums, nobody computes a checksum, and the bytes still arrive
 * intact. Where real segments are needed they are made: a plain port on a
 * switch gets MTU-sized frames with complete checksums.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { impair } from '../../src/link/impair.js';
import { PcapngWriter, readCapture } from '../../src/link/pcap.js';
import { createPipe, type PipePort } from '../../src/link/pipe.js';
import { VNET_HDR_LEN, type Port, type RxBatch } from '../../src/link/port.js';
import { createStack } from '../../src/stack.js';
import { Bridge } from '../../src/switch/bridge.js';
import { VirtualClock } from '../../src/time/index.js';
import { internetChecksum } from '../../src/wire/checksum.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function pair(clock: VirtualClock, offload: boolean) {
  const [a, b] = createPipe(clock, { offload });
  const server = createStack({ clock, name: 'srv' });
  server.addInterface(a, { addresses: ['10.250.0.1/24'] });
  const client = createStack({ clock, name: 'cli' });
  client.addInterface(b, { addresses: ['10.250.0.2/24'] });
  return { a, b, server, client };
}

/**
 * A client on an offload pipe and a server on a second pipe (offload or not),
 * joined by a wirelab switch; `wrap` may put something (an impairment) in
 * front of the server's switch port.
 */
function switched<P extends Port = PipePort>(clock: VirtualClock, serverOffload: boolean, wrap: (p: PipePort) => P = (p) => p as unknown as P) {
  const bridge = new Bridge({ clock, name: 'sw' });
  const [cEnd, cPort] = createPipe(clock, { offload: true });
  const [sEnd, sPort] = createPipe(clock, { offload: serverOffload });
  const toServer = wrap(sPort);
  bridge.addPort(cPort);
  bridge.addPort(toServer);
  const client = createStack({ clock, name: 'cli' });
  client.addInterface(cEnd, { addresses: ['10.250.0.2/24'] });
  const server = createStack({ clock, name: 'srv' });
  server.addInterface(sEnd, { addresses: ['10.250.0.1/24'] });
  return { bridge, sEnd, sPort, toServer, client, server };
}

/** Sends `data` client → server over the socket API and runs the virtual clock until the server has it all. */
async function transfer(clock: VirtualClock, server: ReturnType<typeof createStack>, client: ReturnType<typeof createStack>, data: Uint8Array): Promise<Buffer> {
  const got: Buffer[] = [];
  let done = false;
  server.tcp
    .createServer((s) => {
      s.on('data', (d: Buffer) => got.push(d));
      s.on('end', () => (done = true));
    })
    .listen(80);
  const c = client.tcp.connect({ host: '10.250.0.1', port: 80 });
  c.end(data);
  for (let i = 0; i < 5000 && !done; i++) {
    clock.advance(1);
    await new Promise((r) => setImmediate(r));
  }
  return Buffer.concat(got);
}

describe('offload pipe', () => {
  it('both ends are vnetHdr ports and a plain frame crosses with an empty header in front', () => {
    const clock = new VirtualClock();
    const [a, b] = createPipe(clock, { offload: true });
    expect(a.vnetHdr && b.vnetHdr).toBe(true);
    let seen: RxBatch | undefined;
    let head: number[] = [];
    b.onReceive = (batch) => {
      seen = batch;
      head = [...batch.buf.subarray(batch.offsets[0]! - VNET_HDR_LEN, batch.offsets[0]!)];
    };
    a.send(new Uint8Array(60).fill(7), 0, 60, -1);
    clock.advance(1);
    expect(seen?.vnetHdr).toBe(true);
    expect(seen?.lengths[0]).toBe(60);
    expect(head).toEqual(new Array(VNET_HDR_LEN).fill(0));
    expect(b.stats.rxBytes).toBe(60);
  });

  it('a frame over the MTU without GSO metadata is dropped as oversize on an offload port too (is_skb_forwardable)', () => {
    const clock = new VirtualClock();
    const { a, server } = pair(clock, true);
    const big = new Uint8Array(3000);
    big.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x99, 0x08, 0x00]);
    a.peer.send(big, 0, big.length, -1);
    clock.advance(1);
    expect(server.ip.stats.drops.oversize).toBe(1);
  });

  it('TCP crosses as super-frames with partial checksums, and 4 MB arrive intact', async () => {
    const clock = new VirtualClock();
    const { server, client, a } = pair(clock, true);
    const data = randomBytes(4 * 1024 * 1024);
    const got = await transfer(clock, server, client, data);
    expect(sha(got)).toBe(sha(data));
    expect(client.ip.stats.outGsoFrames).toBeGreaterThan(0);
    expect(server.ip.stats.inGsoFrames).toBeGreaterThan(0);
    // Far fewer frames than MSS-sized segments would take (4 MB / 1448 ≈ 2900).
    expect(a.stats.rxFrames).toBeLessThan(1000);
    expect(server.tcpLayer.stats.drops.badChecksum).toBe(0);
  });

  it('without offload the same transfer takes MSS-sized segments', async () => {
    const clock = new VirtualClock();
    const { server, client, a } = pair(clock, false);
    const data = randomBytes(1024 * 1024);
    const got = await transfer(clock, server, client, data);
    expect(sha(got)).toBe(sha(data));
    expect(client.ip.stats.outGsoFrames).toBe(0);
    expect(a.stats.rxFrames).toBeGreaterThan(700);
  });

  it('a switch between an offload pipe and a plain one segments the super-frames, each with a valid TCP checksum', async () => {
    const clock = new VirtualClock();
    const { sEnd, client, server } = switched(clock, false);
    const sizes: number[] = [];
    let badSums = 0;
    const deliver = sEnd.onReceive!;
    sEnd.onReceive = (batch, port) => {
      for (let i = 0; i < batch.count; i++) {
        const off = batch.offsets[i]!;
        const len = batch.lengths[i]!;
        sizes.push(len);
        const f = batch.buf.subarray(off, off + len);
        if (f[12] === 0x08 && f[13] === 0x00 && f[23] === 6) {
          const ihl = (f[14]! & 0x0f) * 4;
          const tcpLen = ((f[16]! << 8) | f[17]!) - ihl;
          const pseudo = new Uint8Array(12 + tcpLen);
          pseudo.set(f.subarray(26, 34), 0);
          pseudo[9] = 6;
          pseudo[10] = tcpLen >>> 8;
          pseudo[11] = tcpLen & 0xff;
          pseudo.set(f.subarray(14 + ihl, 14 + ihl + tcpLen), 12);
          if (internetChecksum(pseudo) !== 0) badSums++;
        }
      }
      deliver(batch, port);
    };
    const data = randomBytes(1024 * 1024);
    const got = await transfer(clock, server, client, data);
    expect(sha(got)).toBe(sha(data));
    expect(client.ip.stats.outGsoFrames).toBeGreaterThan(0);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1514);
    expect(badSums).toBe(0);
  });

  it('an impaired link cuts super-frames into the segments they stand for: loss hits segments, and 2 MB still arrive intact', async () => {
    const clock = new VirtualClock();
    const { toServer, client, server } = switched(clock, true, (p) => impair(p, clock, { loss: 0.01, delayMs: 5, seed: 7 }));
    const data = randomBytes(2 * 1024 * 1024);
    const got = await transfer(clock, server, client, data);
    expect(sha(got)).toBe(sha(data));
    expect(client.ip.stats.outGsoFrames).toBeGreaterThan(0);
    // What crossed the impaired port were segments (each counted by netem), not super-frames.
    expect(toServer.impairStats.sent).toBeGreaterThan(2 * 1024 * 1024 / 1500);
    expect(toServer.impairStats.lost).toBeGreaterThan(0);
    expect(server.ip.stats.inGsoFrames).toBe(0);
  });

  it('a capture of an offload link shows the super-frames with their checksums completed, and tshark finds none bad', async () => {
    const clock = new VirtualClock();
    const { bridge, sPort, client, server } = switched(clock, true);
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const writer = new PcapngWriter(out);
    const stop = bridge.mirror(writer, [sPort.name]);
    const data = randomBytes(512 * 1024);
    const got = await transfer(clock, server, client, data);
    stop();
    await writer.close();
    expect(sha(got)).toBe(sha(data));
    const bytes = Buffer.concat(chunks);
    const cap = readCapture(new Uint8Array(bytes));
    if (!cap.ok) throw new Error(cap.message);
    expect(Math.max(...cap.value.records.map((r) => r.data.length))).toBeGreaterThan(1514);
    const dir = mkdtempSync(join(tmpdir(), 'wirelab-offload-'));
    try {
      const file = join(dir, 'offload.pcapng');
      writeFileSync(file, bytes);
      const all = spawnSync('tshark', ['-r', file, '-o', 'tcp.check_checksum:TRUE', '-Y', 'tcp', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
      expect(all.status).toBe(0);
      const bad = spawnSync('tshark', ['-r', file, '-o', 'tcp.check_checksum:TRUE', '-Y', 'tcp.checksum.status == "Bad"', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
      expect(bad.status).toBe(0);
      expect(all.stdout.trim().split('\n').length).toBeGreaterThan(10);
      expect(bad.stdout.trim()).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
