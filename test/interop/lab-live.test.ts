/**
 * A running lab inspected and changed while it runs, each verb a user would
 * type, against real containers: `capture -c 10 -w -` piped into the real
 * tshark (interface names and directions), `impair` felt by the kernel's
 * ping and cleared, `link down` cutting a container off and `up` restoring
 * it, `fdb` / `arp` / `routes` / `sockets` / `stats` in iproute2's shapes,
 * `logs`, `graph`, and `conntrack`; then `down`.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/netns.js';
import { wirelab as runCli, type CliResult } from '../helpers/cli.js';

const run = promisify(execFile);
const cap = requireRoot(['curl', 'python3', 'tshark', 'ping']);
const wirelab = (...args: string[]): Promise<CliResult> => runCli(args, { timeoutMs: 120_000 });

/** Average RTT of `ping` from web to db. */
async function rttWebToDb(count = 3): Promise<number> {
  const r = await wirelab('exec', 'web', '--', 'ping', '-n', '-c', String(count), '-i', '0.2', '-W', '2', '172.30.0.2');
  return Number(/= [\d.]+\/([\d.]+)\//.exec(r.stdout)?.[1] ?? NaN);
}

describe.skipIf(cap.skip)('a running lab, inspected and changed', () => {
  beforeAll(async () => {
    cap.assert();
    await wirelab('down', 'quickstart');
    const up = await wirelab('up', '-d', '-f', 'examples/labs/quickstart.yaml');
    expect(up.code, up.stdout + up.stderr).toBe(0);
  });
  afterAll(async () => {
    await wirelab('down', 'quickstart');
  });

  it('capture web:eth0 -c 10 -w - | tshark -r -: ten frames of the HTTP exchange, named web:eth0, with directions', async () => {
    // A shell pipe, as a user types it (tshark refuses the socketpair Node would give it as stdin).
    const pipeline = `${process.execPath} --import tsx src/cli/main.ts capture web:eth0 -c 10 -w - --filter 'tcp port 80' | tshark -r - -T fields -e frame.interface_name -e frame.packet_flags_direction -e tcp.dstport`;
    const child = spawn('sh', ['-c', pipeline], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    let err = '';
    let out = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const t0 = Date.now();
    while (!/capturing on/.test(err) && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 100));
    // Two requests through the published port: more than ten frames of port-80 traffic on web's link.
    for (let i = 0; i < 2; i++) await run('curl', ['-sS', '-o', '/dev/null', '--retry', '5', '--retry-connrefused', 'http://127.0.0.1:8080/']);
    const code = await exited;
    expect(code, err).toBe(0);
    const rows = out.trim().split('\n').map((l) => l.split('\t'));
    expect(rows, err).toHaveLength(10);
    expect(rows.every(([name]) => name === 'web:eth0')).toBe(true);
    // From the node's view: requests to port 80 arrive at web (inbound, 1), its answers leave it (outbound, 2).
    expect(rows.filter(([, dir, dport]) => dport === '80').every(([, dir]) => dir === '0x00000001')).toBe(true);
    expect(rows.some(([, dir]) => dir === '0x00000002')).toBe(true);
  });

  it('impair web:eth0 --delay 40ms is felt by ping; --clear takes it away', async () => {
    const set = await wirelab('impair', 'web:eth0', '--delay', '40ms');
    expect(set.stdout).toContain('netem delay 40ms');
    expect(await rttWebToDb()).toBeGreaterThanOrEqual(40);
    const shown = await wirelab('impair', '--lab', 'quickstart');
    expect(shown.stdout).toMatch(/web:eth0\s+netem delay 40ms/);
    await wirelab('impair', 'web:eth0', '--clear');
    expect(await rttWebToDb()).toBeLessThan(20);
    const bad = await wirelab('impair', 'web:eth0', '--delay', '40 parsecs');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/not a time/);
  });

  it('link web:eth0 down cuts web off; up restores it', async () => {
    expect((await wirelab('link', 'web:eth0', 'down')).code).toBe(0);
    const cut = await wirelab('exec', 'web', '--', 'ping', '-n', '-c', '1', '-W', '1', '172.30.0.2');
    expect(cut.code).not.toBe(0);
    expect((await wirelab('link', 'web:eth0', 'up')).code).toBe(0);
    expect(await rttWebToDb(1)).toBeLessThan(50);
    const bad = await wirelab('link', 'nosuch:eth0', 'down');
    expect(bad.stderr).toMatch(/no node "nosuch" \(nodes: .*db.*web/);
  });

  it('fdb, arp, routes, sockets and stats in iproute2 shapes', async () => {
    const fdb = await wirelab('fdb');
    expect(fdb.stdout).toMatch(/^[0-9a-f:]{17} dev \S+ vlan 1 master front$/m);
    const arp = await wirelab('arp');
    expect(arp.stdout).toMatch(/^172\.30\.0\.1 dev eth0 lladdr 02:77:6c:[0-9a-f:]+ \S+$/m);
    const routes = await wirelab('routes');
    expect(routes.stdout).toContain('default via 172.30.0.1 dev eth0');
    const sockets = await wirelab('sockets');
    expect(sockets.stdout).toMatch(/^tcp\s+LISTEN\s+0\s+\d+\s+0\.0\.0\.0:80\s/m);
    const stats = await wirelab('stats', '--json');
    const ports = (JSON.parse(stats.stdout) as { ports: Array<{ link: string; rxPackets: number }> }).ports;
    expect(ports.find((p) => p.link === 'web:eth0')?.rxPackets).toBeGreaterThan(0);
  });

  it('logs web shows the requests python served; graph draws the lab', async () => {
    const logs = await wirelab('logs', 'web');
    expect(logs.stdout).toMatch(/"GET \/ HTTP\/1\.1" 200/);
    const graph = await wirelab('graph');
    expect(graph.stdout).toMatch(/^flowchart LR$/m);
    expect(graph.stdout).toContain('web');
  });

  it('down removes it', async () => {
    const down = await wirelab('down');
    expect(down.stdout).toContain('lab quickstart removed');
  });
});
