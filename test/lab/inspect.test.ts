/**
 * Live inspection of a lab, end to end over a real control socket: a lab
 * built by hand in memory (one switch, a gateway and two hosts on impaired
 * in-memory cables) is served by ControlServer in a temporary state dir, and
 * the tests ask it what `wirelab fdb|arp|routes|sockets|stats|link|impair|
 * capture` ask. The capture is read back by the real tshark.
 *
 * The filter compiler and netem wording are injected here as small
 * stand-ins (the real ones live in src/link/capture-filter.ts and
 * netem-spec.ts); what is tested is the plumbing around them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { impair, type ImpairedPort, type ImpairmentOptions } from '../../src/link/impair.js';
import { createPipe } from '../../src/link/pipe.js';
import { createStack, type Stack } from '../../src/stack.js';
import { Bridge } from '../../src/switch/bridge.js';
import { RealClock } from '../../src/time/index.js';
import { formatMac } from '../../src/wire/address.js';
import type { InspectDeps } from '../../src/lab/control-ops.js';
import type { LabView, LinkView, NetworkView } from '../../src/lab/lab-view.js';
import { wirelab } from '../helpers/cli.js';

const stateDir = mkdtempSync(join(tmpdir(), 'wirelab-inspect-'));
process.env.WIRELAB_STATE_DIR = stateDir;
// Imported after the state dir is set (stateDir() reads the variable on each call anyway).
const { ControlServer, openCapture, request } = await import('../../src/lab/control.js');

const LAB = `inspect-${process.pid}`;
const v = 1;

/** `tcp port N`, `icmp`, `arp`: enough of tcpdump's syntax to test the plumbing. */
const deps: InspectDeps = {
  compileCaptureFilter(text: string) {
    const t = text.trim();
    let m: RegExpMatchArray | null;
    if ((m = /^tcp port (\d+)$/.exec(t))) {
      const port = Number(m[1]);
      return {
        text: t,
        matches(b, o, n) {
          if (n < 14 + 20 + 4 || b[o + 12] !== 0x08 || b[o + 13] !== 0x00 || b[o + 23] !== 6) return false;
          const l4 = o + 14 + (b[o + 14]! & 0x0f) * 4;
          return ((b[l4]! << 8) | b[l4 + 1]!) === port || ((b[l4 + 2]! << 8) | b[l4 + 3]!) === port;
        },
      };
    }
    if (t === 'icmp') return { text: t, matches: (b, o, n) => n >= 34 && b[o + 12] === 8 && b[o + 13] === 0 && b[o + 23] === 1 };
    throw new Error(`syntax error near "${t.split(' ')[0]}"`);
  },
  formatNetemSpec(o: ImpairmentOptions) {
    const w: string[] = [];
    if (o.delayMs) w.push(`delay ${o.delayMs}ms${o.jitterMs ? ` ${o.jitterMs}ms` : ''}`);
    if (o.loss) w.push(`loss ${o.loss * 100}%`);
    if (o.duplicate) w.push(`duplicate ${o.duplicate * 100}%`);
    return w.join(' ');
  },
  netemFromFlags(f) {
    const o: ImpairmentOptions = {};
    const pct = (x: string): number => Number(x.replace('%', '')) / 100;
    if (f.delay !== undefined) o.delayMs = Number(f.delay.replace('ms', ''));
    if (f.jitter !== undefined) o.jitterMs = Number(f.jitter.replace('ms', ''));
    if (f.loss !== undefined) o.loss = pct(f.loss);
    if (f.duplicate !== undefined) o.duplicate = pct(f.duplicate);
    return o;
  },
};

interface HandLab extends LabView {
  clock: RealClock;
  bridge: Bridge;
  gw: Stack;
  web: Stack;
  client: Stack;
  close(): void;
}

/** front: switch `front`, gateway front-gw 10.0.0.1, web 10.0.0.2 (TCP 80 open), client 10.0.0.3. */
function handLab(): HandLab {
  const clock = new RealClock(); // closed in close(); unref'd, its timers ran late under vitest
  const bridge = new Bridge({ clock, name: 'front' });
  const links: LinkView[] = [];
  const stacks: Array<{ name: string; stack: Stack }> = [];
  const node = (name: string, addr: string): Stack => {
    const stack = createStack({ clock, name, icmpRateLimit: false });
    const [host, sw] = createPipe(clock, { names: [`${name}-eth0-peer`, `${name}-eth0`] });
    const impaired: ImpairedPort = impair(sw, clock);
    bridge.addPort(impaired);
    stack.addInterface(host, { name: 'eth0', addresses: [addr] });
    links.push({ node: name, iface: 'eth0', network: 'front', switch: 'front', bridge, port: sw.name, impaired, kind: 'stack' });
    stacks.push({ name, stack });
    return stack;
  };
  const gw = node('front-gw', '10.0.0.1/24');
  const web = node('web', '10.0.0.2/24');
  const client = node('client', '10.0.0.3/24');
  client.addRoute('default', { via: '10.0.0.1' });
  web.tcp.createServer(() => undefined).listen(80);
  const networks: NetworkView[] = [{ name: 'front', subnet: '10.0.0.0/24', gateway: '10.0.0.1', switch: 'front', vlan: undefined }];
  return {
    name: LAB,
    clock, bridge, gw, web, client,
    switches: () => [{ name: 'front', bridge }],
    stacks: () => stacks,
    containers: () => [],
    networks: () => networks,
    links: () => links,
    close() {
      for (const s of stacks) s.stack.close();
      bridge.close();
      clock.close();
    },
  };
}

let lab: HandLab;
let server: InstanceType<typeof ControlServer>;

beforeAll(async () => {
  lab = handLab();
  const controlled = Object.assign(lab, {
    model: { name: LAB, file: '(in memory)', networks: [{ name: 'front' }] },
    rows: () => [],
    down: () => Promise.resolve(),
    network: () => undefined,
  });
  server = new ControlServer(controlled, () => undefined, { deps });
  await server.listen();
});

afterAll(() => {
  server?.close();
  lab?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

type TableReply<J> = { text: string; json: J };
const ask = <J = unknown>(req: Record<string, unknown>) => request<TableReply<J>>(LAB, { v, ...req } as never, 10_000);
const ping = (from: Stack, to: string, timeoutMs = 3000) => from.icmp.ping(to, { timeoutMs }).then(() => true, () => false);
const macOf = (s: Stack) => formatMac(s.interface('eth0')!.mac);

describe('inspection tables over the control socket', () => {
  it('fdb lists the learned MACs as `bridge fdb show` does', async () => {
    expect(await ping(lab.client, '10.0.0.2')).toBe(true);
    const fdb = await ask<Array<{ mac: string; ifname: string; link: string; vlan: number; master: string }>>({ op: 'fdb' });
    expect(fdb.text).toContain(`${macOf(lab.client)} dev client-eth0 vlan 1 master front\n`);
    expect(fdb.text).toContain(`${macOf(lab.web)} dev web-eth0 vlan 1 master front\n`);
    for (const line of fdb.text.trimEnd().split('\n')) expect(line).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2} dev \S+ vlan \d+ master front$/);
    expect(fdb.json.find((r) => r.mac === macOf(lab.web))).toMatchObject({ ifname: 'web-eth0', link: 'web:eth0', vlan: 1, master: 'front' });
    await expect(ask({ op: 'fdb', switch: 'nope' })).rejects.toThrow(/no switch "nope" \(switches: front\)/);
  });

  it('arp shows each stack\'s neighbours as `ip neigh`', async () => {
    expect(await ping(lab.client, '10.0.0.2')).toBe(true);
    const arp = await ask<Array<{ node: string; rows: Array<{ dst: string; lladdr?: string; state: string[] }> }>>({ op: 'arp', node: 'client' });
    expect(arp.text).toMatch(/^# client \(wirelab stack\)\n/);
    expect(arp.text).toMatch(new RegExp(`^10\\.0\\.0\\.2 dev eth0 lladdr ${macOf(lab.web)} (REACHABLE|STALE|DELAY)$`, 'm'));
    expect(arp.json[0]!.rows.find((r) => r.dst === '10.0.0.2')?.lladdr).toBe(macOf(lab.web));
    const all = await ask<Array<{ node: string }>>({ op: 'arp' });
    expect(all.json.map((n) => n.node)).toEqual(['front-gw', 'web', 'client']);
    await expect(ask({ op: 'arp', node: 'db' })).rejects.toThrow(/no node "db" \(nodes: client, front-gw, web\)/);
  });

  it('routes shows each stack\'s table as `ip route`', async () => {
    const r = await ask<Array<{ node: string; rows: Array<{ dst: string; gateway?: string }> }>>({ op: 'routes', node: 'client' });
    expect(r.text).toContain('default via 10.0.0.1 dev eth0 proto static\n');
    expect(r.text).toContain('10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.3\n');
    expect(r.json[0]!.rows).toContainEqual(expect.objectContaining({ dst: 'default', gateway: '10.0.0.1' }));
  });

  it('sockets shows a listener and a connection as `ss -tuan`', async () => {
    const conn = lab.client.tcp.connect({ host: '10.0.0.2', port: 80 });
    await new Promise<void>((resolve, reject) => conn.once('connect', resolve).once('error', reject));
    const s = await ask<Array<{ node: string; rows: Array<{ netid: string; state: string; local: string; peer: string }> }>>({ op: 'sockets', node: 'web' });
    const lines = s.text.split('\n');
    expect(lines[1]).toMatch(/^Netid State +Recv-Q Send-Q +Local Address:Port +Peer Address:Port$/);
    expect(s.text).toMatch(/^tcp +LISTEN +0 +\d+ +0\.0\.0\.0:80 +0\.0\.0\.0:\*$/m);
    expect(s.text).toMatch(/^tcp +ESTAB +0 +0 +10\.0\.0\.2:80 +10\.0\.0\.3:\d+$/m);
    expect(s.json[0]!.rows).toContainEqual(expect.objectContaining({ netid: 'tcp', state: 'ESTAB', local: '10.0.0.2:80' }));
    conn.destroy();
  });

  it('stats counts per port, and grows with traffic', async () => {
    type Stats = { ports: Array<{ link: string; rxPackets: number; txPackets: number; rxBytes: number; up: boolean }>; stacks: Array<{ node: string }> };
    const before = await ask<Stats>({ op: 'stats' });
    expect(before.text.split('\n')[0]).toMatch(/^SWITCH +PORT +LINK +STATE +RX-packets +RX-bytes +TX-packets +TX-bytes +DROPS +NETEM$/);
    expect(before.text).toMatch(/^front +web-eth0 +web:eth0 +UP +\d+ +\d+ +\d+ +\d+ +0$/m);
    expect(before.text).toMatch(/^ {2}web {2}.*ip\.inReceives=\d+/m);
    expect(await ping(lab.client, '10.0.0.2')).toBe(true);
    const after = await ask<Stats>({ op: 'stats' });
    const port = (s: TableReply<Stats>, l: string) => s.json.ports.find((p) => p.link === l)!;
    expect(port(after, 'web:eth0').txPackets).toBeGreaterThan(port(before, 'web:eth0').txPackets);
    expect(port(after, 'web:eth0').rxPackets).toBeGreaterThan(port(before, 'web:eth0').rxPackets);
    expect(port(after, 'client:eth0').rxBytes).toBeGreaterThan(port(before, 'client:eth0').rxBytes);
    expect(after.json.stacks.map((s) => s.node)).toEqual(['front-gw', 'web', 'client']);
  });

  it('stats shows every bounded table against its limit: neighbours, reassembly, SYN queue, TIME-WAIT per stack, the FDB per switch', async () => {
    type Row = { owner: string; table: string; size: number; limit: number; refused: number };
    const stats = await ask<{ tables: Row[] }>({ op: 'stats' });
    const rows = stats.json.tables;
    expect(rows.filter((r) => r.owner === 'web').map((r) => r.table)).toEqual(['neighbours', 'reassembly', 'tcp.synQueue', 'tcp.timeWait']);
    expect(rows.find((r) => r.owner === 'web' && r.table === 'tcp.synQueue')).toMatchObject({ size: 0, limit: 511 });
    expect(rows.find((r) => r.owner === 'web' && r.table === 'neighbours')).toMatchObject({ limit: 1024 });
    const fdb = rows.find((r) => r.owner === 'switch front' && r.table === 'fdb')!;
    expect(fdb.limit).toBe(8192);
    expect(fdb.size).toBeGreaterThanOrEqual(2); // the stations the ping above taught it
    expect(stats.text).toMatch(/^tables:\n {2}OWNER +TABLE +SIZE +LIMIT +REFUSED +EVICTED +LIKE$/m);
    expect(stats.text).toMatch(/^ {2}web +reassembly +0B +4MiB +0 +0 +ipfrag_high_thresh$/m);
    expect(stats.text).toMatch(/^ {2}switch front +fdb +\d+ +8192 +0 +0 +fdb_max_learned$/m);
  });
});

describe('changing links', () => {
  it('link down stops traffic, link up restores it', async () => {
    const down = await ask<Array<{ link: string; up: boolean }>>({ op: 'link', target: 'web:eth0', up: false });
    expect(down.json).toEqual([{ link: 'web:eth0', switch: 'front', port: 'web-eth0', up: false }]);
    expect(await ping(lab.client, '10.0.0.2', 500)).toBe(false);
    const stats = await ask<{ ports: Array<{ link: string; up: boolean; drops: Record<string, number> }> }>({ op: 'stats' });
    const web = stats.json.ports.find((p) => p.link === 'web:eth0')!;
    expect(web.up).toBe(false);
    expect(stats.text).toMatch(/^front +web-eth0 +web:eth0 +DOWN /m);
    await ask({ op: 'link', target: 'web:eth0', up: true });
    expect(await ping(lab.client, '10.0.0.2', 2000)).toBe(true);
    await expect(ask({ op: 'link', target: 'web:eth9', up: false })).rejects.toThrow(/web has no interface eth9 \(it has eth0\)/);
    await expect(ask({ op: 'link', target: 'nope', up: false })).rejects.toThrow(/no node or network "nope" \(nodes: client, front-gw, web; networks: front\)/);
  });

  it('impair loss 100% drops, --clear restores, no flags shows', async () => {
    const set = await ask<Array<{ link: string; netem: string }>>({ op: 'impair', target: 'web:eth0', flags: { loss: '100%' } });
    expect(set.json).toEqual([expect.objectContaining({ link: 'web:eth0', netem: 'loss 100%' })]);
    expect(await ping(lab.client, '10.0.0.2', 500)).toBe(false);
    const shown = await ask<Array<{ link: string; netem: string; stats: { lost: number } }>>({ op: 'impair', target: 'web:eth0' });
    expect(shown.text).toMatch(/^web:eth0 {2}netem loss 100%\n {10}sent \d+ delivered \d+ lost [1-9]\d* /);
    expect(shown.json[0]!.stats.lost).toBeGreaterThan(0);
    const stats = await ask<unknown>({ op: 'stats' });
    expect(stats.text).toMatch(/^front +web-eth0 +web:eth0 +UP .* loss 100%$/m);
    await ask({ op: 'impair', target: 'web:eth0', clear: true });
    expect(await ping(lab.client, '10.0.0.2', 2000)).toBe(true);
    const cleared = await ask<Array<{ netem: string }>>({ op: 'impair', target: 'web:eth0' });
    expect(cleared.json[0]!.netem).toBe('');
    expect(cleared.text).toMatch(/^web:eth0 {2}no impairment$/m);
  });

  it('impair on a network changes every link of it', async () => {
    const set = await ask<Array<{ link: string; netem: string }>>({ op: 'impair', target: 'front', flags: { delay: '5ms' } });
    expect(set.json.map((r) => [r.link, r.netem])).toEqual([['front-gw:eth0', 'delay 5ms'], ['web:eth0', 'delay 5ms'], ['client:eth0', 'delay 5ms']]);
    expect(await ping(lab.client, '10.0.0.2', 2000)).toBe(true);
    await ask({ op: 'impair', target: 'front', clear: true });
    await expect(ask({ op: 'impair', target: 'web:eth0', flags: { bogus: '1' } })).rejects.toThrow(/no flag bogus/);
  });
});

const hasTshark = spawnSync('tshark', ['--version']).status === 0;

describe('capture', () => {
  it.runIf(hasTshark)('streams N frames matching a filter as pcapng that tshark reads, with interface names and directions', async () => {
    const file = join(stateDir, 'web.pcapng');
    const cap = await openCapture(LAB, { target: 'web:eth0', count: 4, filter: 'tcp port 80' });
    expect(cap.header.interfaces).toEqual([{ id: 0, name: 'web:eth0', switch: 'front', port: 'web-eth0', network: 'front' }]);
    const out = createWriteStream(file);
    cap.stream.pipe(out);
    // ICMP first (filtered out), then a TCP connection and some data to port 80.
    expect(await ping(lab.client, '10.0.0.2')).toBe(true);
    const conn = lab.client.tcp.connect({ host: '10.0.0.2', port: 80 });
    await new Promise<void>((resolve, reject) => conn.once('connect', resolve).once('error', reject));
    conn.write('GET / HTTP/1.0\r\n\r\n');
    await finished(out);
    conn.destroy();
    const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.interface_name', '-e', 'frame.packet_flags_direction', '-e', 'ip.src', '-e', 'tcp.dstport'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => l.split('\t'));
    expect(rows).toHaveLength(4); // SYN, SYN-ACK, ACK, the request
    for (const [ifname, dir, src, dport] of rows) {
      expect(ifname).toBe('web:eth0');
      // The node's view: what web sends is outbound (2), what it receives inbound (1).
      expect(Number(dir)).toBe(src === '10.0.0.2' ? 2 : 1);
      expect(src === '10.0.0.2' || dport === '80').toBe(true);
    }
    expect(rows[0]![2]).toBe('10.0.0.3'); // the SYN, toward web: inbound
    expect(rows.map((x) => Number(x[1]))).toContain(2); // tshark prints 0x00000002
  });

  it.runIf(hasTshark)('stop() ends an open-ended capture with a valid file (Ctrl-C)', async () => {
    const cap = await openCapture(LAB, { target: 'front', filter: 'icmp' });
    expect(cap.header.interfaces.map((i) => i.name)).toEqual(['front-gw:eth0', 'web:eth0', 'client:eth0']);
    const chunks: Buffer[] = [];
    cap.stream.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((r) => cap.stream.once('end', r));
    expect(await ping(lab.client, '10.0.0.2')).toBe(true);
    cap.stop();
    await ended;
    const file = join(stateDir, 'front.pcapng');
    createWriteStream(file).end(Buffer.concat(chunks));
    await new Promise((r) => setTimeout(r, 50));
    const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.interface_name', '-e', 'icmp.type'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => l.split('\t'));
    // Request and reply, each seen entering the switch and leaving it.
    expect(rows).toEqual([['client:eth0', '8'], ['web:eth0', '8'], ['web:eth0', '0'], ['client:eth0', '0']]);
    expect(readFileSync(file).length).toBe(Buffer.concat(chunks).length);
  });

  it('a bad target or filter is refused with an ok:false line naming the problem', async () => {
    await expect(openCapture(LAB, { target: 'db:eth0' })).rejects.toThrow(/no node "db" \(nodes: client, front-gw, web\)/);
    await expect(openCapture(LAB, { target: 'web:eth0', filter: 'tcp prot 80' })).rejects.toThrow(/bad capture filter "tcp prot 80": syntax error/);
    await expect(openCapture(LAB, { target: 'web:eth0', count: 0 })).rejects.toThrow(/count must be a positive integer/);
  });
});

describe('the wirelab verbs against the served lab', () => {
  it('fdb, arp --json, stats, link and impair print what the socket answers; mistakes are named', async () => {
    const fdb = await wirelab(['fdb', LAB]);
    expect(fdb.code, fdb.stderr).toBe(0);
    expect(fdb.stdout).toContain(`${macOf(lab.web)} dev web-eth0 vlan 1 master front\n`);
    const arp = await wirelab(['arp', LAB, '--node', 'client', '--json']);
    expect(arp.code, arp.stderr).toBe(0);
    expect((JSON.parse(arp.stdout) as Array<{ node: string }>)[0]!.node).toBe('client');
    const imp = await wirelab(['impair', LAB, 'web:eth0', '--delay', '3ms']);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stdout).toMatch(/^web:eth0 {2}netem delay 3ms$/m);
    expect((await wirelab(['impair', '--lab', LAB, 'web:eth0', '--clear'])).stdout).toMatch(/no impairment/);
    const bad = await wirelab(['link', LAB, 'web:eth0', 'sideways']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/say up or down/);
    const missing = await wirelab(['link', LAB, 'db:eth0', 'down']);
    expect(missing.stderr).toMatch(/no node "db" \(nodes: client, front-gw, web\)/);
  }, 60_000);

  it.runIf(hasTshark)('capture -c N -w - | tshark -r - reads the frames, then the command ends', async () => {
    const child = spawn('sh', ['-c', `node --import tsx src/cli/main.ts capture ${LAB} web:eth0 -c 2 --filter icmp -w - | tshark -r - -T fields -e frame.interface_name -e icmp.type`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    let code: number | null | undefined;
    void exited.then((c) => (code = c));
    // Ping until the capture has its two frames and the pipeline ends.
    for (let i = 0; i < 100 && code === undefined; i++) {
      await ping(lab.client, '10.0.0.2', 500);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await exited, stderr).toBe(0);
    expect(stdout.trim().split('\n')).toEqual(['web:eth0\t8', 'web:eth0\t0']);
    expect(stderr).toMatch(/capturing on web:eth0 \(icmp\), 2 frames/);
  }, 60_000);

  it.runIf(hasTshark)('Ctrl-C ends a capture to a file cleanly: exit 0, a file tshark reads', async () => {
    const file = join(stateDir, 'ctrl-c.pcapng');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'capture', LAB, 'client:eth0', '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    for (let i = 0; i < 100 && !stderr.includes('capturing on'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await ping(lab.client, '10.0.0.2')).toBe(true);
    child.kill('SIGINT');
    expect(await exited, stderr).toBe(0);
    expect(stderr).toMatch(/\d+ bytes of pcapng written to /);
    const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.interface_name', '-e', 'frame.packet_flags_direction', '-e', 'icmp.type', '-Y', 'icmp'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    // client's request leaves it (outbound, 2), the reply comes in (inbound, 1).
    expect(r.stdout.trim().split('\n').map((l) => l.split('\t')).map(([n, d, t]) => [n, Number(d), t])).toEqual([
      ['client:eth0', 2, '8'],
      ['client:eth0', 1, '0'],
    ]);
  }, 60_000);

  it('a reader that goes away (| head) ends the capture quietly', async () => {
    const child = spawn('bash', ['-c', `set -o pipefail; node --import tsx src/cli/main.ts capture ${LAB} client:eth0 -w - | head -c 10 >/dev/null`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    let code: number | null | undefined;
    void exited.then((c) => (code = c));
    for (let i = 0; i < 100 && code === undefined; i++) {
      await ping(lab.client, '10.0.0.2', 500);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await exited, stderr).toBe(0);
    expect(stderr).not.toMatch(/EPIPE|Error/);
  }, 60_000);
});
