/**
 * The `wirelab` command as a user runs it: read a capture, decode a frame,
 * and clear errors (non-zero exit, a sentence naming the problem) for
 * missing files, broken captures and flags that make no sense.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { wirelab as run, type CliResult } from '../helpers/cli.js';
import { PcapngWriter } from '../../src/link/pcap.js';
import { arpRequest, encodeArp } from '../../src/wire/arp.js';
import { parseIPv4, parseMac } from '../../src/wire/address.js';
import { encodeEthernet, ETHERTYPE } from '../../src/wire/ethernet.js';

const dir = mkdtempSync(join(tmpdir(), 'wl-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const wirelab = (...args: string[]): Promise<CliResult> => run(args);

const arpFrame = encodeEthernet(
  { dst: parseMac('ff:ff:ff:ff:ff:ff'), src: parseMac('02:00:00:00:00:01'), tags: [], etherType: ETHERTYPE.ARP },
  encodeArp(arpRequest(parseMac('02:00:00:00:00:01'), parseIPv4('10.0.0.1'), parseIPv4('10.0.0.2'))),
);

describe('wirelab CLI', () => {
  it('read prints one tcpdump-like line per frame, naming the port when there are several', async () => {
    const path = join(dir, 'two-ports.pcapng');
    const w = new PcapngWriter(path);
    w.addInterface({ name: 'port1' });
    w.addInterface({ name: 'port2' });
    w.write(arpFrame, 1_000_000_000n, 0);
    w.write(arpFrame, 1_500_000_000n, 1);
    await w.close();
    const r = await wirelab('read', path);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      '   1    0.000000 port1 ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28',
      '   2    0.500000 port2 ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28',
    ]);
    const j = await wirelab('read', path, '--json', '-c', '1');
    const lines = j.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    const obj = JSON.parse(lines[0]!) as { interface: string; arp: { targetIp: string } };
    expect(obj.interface).toBe('port1');
    expect(obj.arp.targetIp).toBe('10.0.0.2');
  });

  it('decode prints the layers of a hex frame', async () => {
    const r = await wirelab('decode', Buffer.from(arpFrame).toString('hex'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ARP, Request who-has 10.0.0.2 tell 10.0.0.1');
    expect(r.stdout).toContain('02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806)');
  });

  it('fails clearly on a missing file, a broken capture, bad hex and a nonsense flag', async () => {
    const missing = await wirelab('read', join(dir, 'nope.pcap'));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/cannot read .*nope\.pcap: no such file/);

    const junk = join(dir, 'junk.pcap');
    writeFileSync(junk, Buffer.from('this is not a capture file at all'));
    const broken = await wirelab('read', junk);
    expect(broken.code).not.toBe(0);
    expect(broken.stderr).toMatch(/junk\.pcap: pcap/);

    const odd = await wirelab('decode', 'abc');
    expect(odd.code).not.toBe(0);
    expect(odd.stderr).toContain('odd number of hex digits');

    const count = await wirelab('read', junk, '--count', 'lots');
    expect(count.code).not.toBe(0);
    expect(count.stderr).toContain('--count must be a positive integer, got "lots"');

    const truncated = await wirelab('decode', 'ffffffffffff');
    expect(truncated.code).toBe(1);
    expect(truncated.stdout).toContain('[malformed ethernet: truncated');
  });

  it('bench lists the benchmarks and names the choices for an unknown one', async () => {
    const list = await wirelab('bench');
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')).toEqual(expect.arrayContaining(['wire', 'tap-forward']));
    const bad = await wirelab('bench', 'nope');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/unknown benchmark "nope"; available: .*wire/);
  });
});
