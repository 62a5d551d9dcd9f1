/**
 * wirelab's DNS with real peers: containers (kernel namespaces) on TAPs
 * plugged into a wirelab Bridge with the gateway, a wirelab host on a
 * RealClock running the DnsServer; the upstream is a real dnsmasq in an
 * "outside" namespace reached from the gateway through another TAP.
 *
 *   client ─TAP─┐
 *               Bridge ─pipe─ gateway 10.231.N.1 (DnsServer) 10.232.N.1 ─TAP─ outside 10.232.N.2 (dnsmasq)
 *   web    ─TAP─┘
 *
 * Inside the client container, with the resolv.conf wirelab wrote for it
 * (/etc/netns/<ns>/): `dig @gateway web`, `dig web` over TCP, `getent hosts
 * web`, `curl http://web/` against `python3 -m http.server 80` in the web
 * container; `dig www.example.test` answered by dnsmasq through the
 * gateway, twice, with dnsmasq's own query log showing one query (the second
 * came from wirelab's cache). All traffic stays inside these namespaces.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipe } from '../../src/link/pipe.js';
import { openTap, type TapPort } from '../../src/link/tap.js';
import { Lab } from '../../src/lab/lab.js';
import type { Container } from '../../src/lab/netns.js';
import { createStack, type Stack } from '../../src/stack.js';
import { Bridge } from '../../src/switch/index.js';
import { RealClock } from '../../src/time/index.js';
import { DnsServer } from '../../src/dns/server.js';
import { requireRoot } from '../helpers/netns.js';

const cap = requireRoot(['dig', 'getent', 'curl', 'python3', 'dnsmasq']);
const clock = new RealClock();
const lab = new Lab();
const ports: TapPort[] = [];
const stacks: Stack[] = [];
const dir = mkdtempSync(join(tmpdir(), 'wl-dnsk-'));
const id = randomBytes(3).toString('hex');
const n = 1 + (randomBytes(1)[0]! % 250);
const NET = `10.231.${n}`;
const OUT = `10.232.${n}`;
const GW = `${NET}.1`;
const WEB = `${NET}.2`;
const CLIENT = `${NET}.3`;
const DNSMASQ = `${OUT}.2`;
const NO_V6 = { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' };

let bridge: Bridge | undefined;
let gateway: Stack;
let server: DnsServer;
let client: Container;
let web: Container;
let outside: Container;
const dnsmasqLog = join(dir, 'dnsmasq.log');

function tap(name: string): TapPort {
  const p = openTap(name);
  ports.push(p);
  return p;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(100);
  }
}

beforeAll(async () => {
  cap.assert();
  bridge = new Bridge({ clock, name: `br${id}` });
  gateway = createStack({ clock, name: 'gateway' });
  stacks.push(gateway);
  const [gwEnd, brEnd] = createPipe(clock, { names: [`gw${id}`, `brgw${id}`] });
  gateway.addInterface(gwEnd, { addresses: [`${GW}/24`] });
  bridge.addPort(brEnd);
  const tWeb = tap(`wld${id}w`);
  const tClient = tap(`wld${id}c`);
  const tOut = tap(`wld${id}o`);
  bridge.addPort(tWeb);
  bridge.addPort(tClient);
  gateway.addInterface(tOut, { addresses: [`${OUT}.1/24`] });

  const dns = { nameservers: [GW], search: ['labnet'] };
  web = await lab.container({ link: tWeb.ifname, address: `${WEB}/24`, gateway: GW, sysctls: NO_V6, dns: { ...dns, hosts: { web: WEB } } });
  client = await lab.container({ link: tClient.ifname, address: `${CLIENT}/24`, gateway: GW, sysctls: NO_V6, dns: { ...dns, hosts: { client: CLIENT } } });
  outside = await lab.container({ link: tOut.ifname, address: `${DNSMASQ}/24`, sysctls: NO_V6 });

  server = new DnsServer(gateway, { upstreams: [DNSMASQ], domain: 'lab', timeoutMs: 1000 });
  await server.start();
  server.addHost('web', WEB, { network: 'labnet' });
  server.addHost('client', CLIENT, { network: 'labnet' });

  // dnsmasq writes its log as root (-u root): the temp directory is ours.
  chmodSync(dir, 0o755);
  outside.spawn([
    '/usr/sbin/dnsmasq', '-k', '-u', 'root', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--pid-file',
    `--listen-address=${DNSMASQ}`, '--bind-interfaces', '--address=/example.test/10.203.0.77', '--local-ttl=300',
    '--log-queries', `--log-facility=${dnsmasqLog}`,
  ]);
  await until('dnsmasq started', () => existsSync(dnsmasqLog) && /started/.test(readFileSync(dnsmasqLog, 'utf8')));
  web.spawn(['python3', '-m', 'http.server', '80', '--bind', WEB]);
  await until('http.server listening', async () => (await web.exec(['ss', '-ltnH', 'sport = :80'])).stdout.includes(':80'));
}, 60_000);

afterAll(async () => {
  server?.close();
  await lab.close().catch(() => undefined);
  for (const s of stacks) s.close();
  bridge?.close();
  for (const p of ports) await p.close().catch(() => undefined);
  clock.close();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

const digShort = async (c: Container, args: string[]): Promise<string> =>
  (await c.exec(['dig', '+short', '+time=2', '+tries=2', ...args], { timeoutMs: 15_000, check: true })).stdout.trim();

describe.skipIf(cap.skip)('wirelab DNS with the kernel, dig, getent, curl and dnsmasq as peers', () => {
  it('dig @gateway web, dig web (resolv.conf) and dig +tcp web.labnet answer the web container\'s address', async () => {
    expect(await digShort(client, [`@${GW}`, 'web'])).toBe(WEB);
    expect(await digShort(client, ['web'])).toBe(WEB); // the server from the container's own resolv.conf
    expect(await digShort(client, ['+tcp', `@${GW}`, 'web.labnet'])).toBe(WEB);
    expect(server.stats.queries.tcp).toBeGreaterThanOrEqual(1);
  });

  it('dig through the resolv.conf wirelab wrote: NXDOMAIN in the lab domain, AAAA empty, PTR back to the name', async () => {
    const nx = await client.exec(['dig', '+time=2', 'nope.lab'], { timeoutMs: 15_000, check: true });
    expect(nx.stdout).toMatch(/status: NXDOMAIN/);
    expect(nx.stdout).toMatch(/flags: qr aa rd ra/);
    const aaaa = await client.exec(['dig', '+time=2', 'AAAA', 'web.labnet'], { timeoutMs: 15_000, check: true });
    expect(aaaa.stdout).toMatch(/status: NOERROR/);
    expect(aaaa.stdout).toMatch(/ANSWER: 0,/);
    expect(await digShort(client, ['-x', WEB])).toBe('web.labnet.');
  });

  it('getent hosts web (glibc, through the search domain) and curl http://web/ reach the web container', async () => {
    const before = server.stats.answers.local;
    const g = await client.exec(['getent', 'hosts', 'web'], { timeoutMs: 15_000, check: true });
    expect(g.stdout.trim().split(/\s+/)[0]).toBe(WEB);
    expect(server.stats.answers.local).toBeGreaterThan(before); // from DNS, not the hosts file
    const page = await client.exec(['curl', '-sS', '--max-time', '10', 'http://web/'], { timeoutMs: 20_000, check: true });
    expect(page.stdout).toMatch(/Directory listing for \//);
  });

  it('names outside the lab come from dnsmasq through the gateway; the second query is served from the cache', async () => {
    const countInLog = (): number => (readFileSync(dnsmasqLog, 'utf8').match(/query\[A\] www\.example\.test from /g) ?? []).length;
    expect(countInLog()).toBe(0);
    expect(await digShort(client, ['www.example.test'])).toBe('10.203.0.77');
    expect(await digShort(client, ['www.example.test'])).toBe('10.203.0.77');
    await sleep(200); // dnsmasq's log is written as it goes
    expect(countInLog()).toBe(1);
    expect(readFileSync(dnsmasqLog, 'utf8')).toMatch(new RegExp(`query\\[A\\] www\\.example\\.test from ${OUT.replace(/\./g, '\\.')}\\.1`));
    expect(server.stats.answers.cache).toBeGreaterThanOrEqual(1);
    expect(server.cache.format()).toMatch(/^www\.example\.test\s+A\s+NOERROR\s+\d+\s+1\s+10\.203\.0\.77$/m);
  });
});
