/**
 * The example labs that are more than one flat network, each brought up with
 * real containers and checked for what its comment promises: VLAN isolation
 * across a trunk (and tagged frames on it, read by tshark), a router with
 * NAT and a published port, a lossy WAN between two routed sites, and a Node
 * http server on wirelab TCP published to the host.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { wirelab as runCli, type CliResult } from '../helpers/cli.js';
import { requireRoot } from '../helpers/netns.js';
import { labLogDir } from '../../src/lab/file/up.js';

const run = promisify(execFile);
const cap = requireRoot(['python3', 'ping', 'curl', 'tshark']);
const wirelab = (...args: string[]): Promise<CliResult> => runCli(args, { timeoutMs: 120_000 });

import { TOPOLOGY_EXAMPLES } from '../helpers/example-labs.js';
void TOPOLOGY_EXAMPLES;
const LABS = ['vlans', 'routed', 'wan', 'nodehost'];

afterAll(async () => {
  for (const lab of LABS) await wirelab('down', lab);
  rmSync('examples/labs/vlans-trunk.pcapng', { force: true });
});

async function up(file: string): Promise<void> {
  const r = await wirelab('up', '-d', '-f', `examples/labs/${file}`);
  expect(r.code, r.stdout + r.stderr).toBe(0);
}

async function namespacesOf(lab: string): Promise<string[]> {
  const ps = JSON.parse((await wirelab('ps', lab, '--json')).stdout) as { services: Array<{ namespace: string }> };
  return ps.services.map((s) => s.namespace).filter((n) => n !== '');
}

async function downAndGone(lab: string, namespaces: string[]): Promise<void> {
  const down = await wirelab('down', lab);
  expect(down.stdout).toContain(`lab ${lab} removed`);
  const list = (await run('ip', ['netns', 'list'])).stdout;
  for (const ns of namespaces) expect(list).not.toContain(ns);
}

const exec = (lab: string, service: string, ...argv: string[]): Promise<CliResult> => wirelab('exec', '--lab', lab, service, '--', ...argv);

describe.skipIf(cap.skip)('example labs with switches, routers and hosts', () => {
  it('vlans.yaml: red reaches red across the trunk, never blue; the trunk carries both VLANs tagged', async () => {
    cap.assert();
    try {
      await up('vlans.yaml');
      const ns = await namespacesOf('vlans');
      const ps = await wirelab('ps', 'vlans');
      expect(ps.stdout).toMatch(/^NAME\s+NETWORK\s+ADDRESS\s+STATUS\s+NAMESPACE\s+PORTS\s+VLAN$/m);
      expect(ps.stdout).toMatch(/^red-b\s+red\s+10\.10\.0\.3\s+running\s+wl-[0-9a-f]+\s+10$/m);
      expect(ps.stdout).toMatch(/^blue-b\s+blue\s+10\.20\.0\.3\s+running\s+wl-[0-9a-f]+\s+20$/m);
      const ping = await wirelab('pingall', 'vlans');
      expect(ping.stdout).toContain('red-a -> X red-b X');
      expect(ping.stdout).toContain('blue-a -> X X blue-b');
      expect(ping.stdout).toContain('red-b -> red-a X X');
      expect(ping.stdout).toContain('blue-b -> X blue-a X');
      await downAndGone('vlans', ns);
      // The capture of switch site-b: the trunk port shows tags 10 and 20, the access ports none.
      const { stdout } = await run('tshark', ['-r', 'examples/labs/vlans-trunk.pcapng', '-T', 'fields', '-e', 'frame.interface_name', '-e', 'vlan.id']);
      const rows = stdout.trim().split('\n').map((l) => l.split('\t'));
      const trunkVlans = new Set(rows.filter(([i]) => i === 'site-b-site-a').map(([, v]) => v));
      expect([...trunkVlans].sort()).toEqual(['10', '20']);
      expect(rows.filter(([i, v]) => i !== 'site-b-site-a' && (v ?? '') !== '')).toEqual([]); // trim() takes the last row's empty field
    } finally {
      await wirelab('down', 'vlans');
    }
  });

  it('router-nat.yaml: the office reaches the internet by name through the router, masqueraded; the intranet is published', async () => {
    cap.assert();
    try {
      await up('router-nat.yaml');
      const ns = await namespacesOf('routed');
      const r = await exec('routed', 'laptop', 'curl', '-sS', '-m', '10', '--retry', '5', '--retry-connrefused', '-o', '/dev/null', '-w', '%{http_code}', 'http://website/');
      expect(r.stdout, r.stderr).toBe('200');
      // The website saw the router's internet address, not the laptop's.
      const log = readFileSync(`${labLogDir('routed')}/website.log`, 'utf8');
      expect(log).toMatch(/^198\.51\.100\.1 - - .*"GET \/ HTTP\/1\.1" 200/m);
      expect(log).not.toContain('192.168.10.');
      const host = await run('curl', ['-sS', '-m', '10', '--retry', '10', '--retry-connrefused', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:8081/']);
      expect(host.stdout).toBe('200');
      const ct = await wirelab('conntrack', 'routed');
      expect(ct.stdout).toMatch(/src=192\.168\.10\.3 dst=198\.51\.100\.2 .*dport=80 src=198\.51\.100\.2 dst=198\.51\.100\.1 /);
      await downAndGone('routed', ns);
    } finally {
      await wirelab('down', 'routed');
    }
  });

  it('wan.yaml: the branch reaches the HQ server by name across two routers and a 20 ms each-way link', async () => {
    cap.assert();
    try {
      await up('wan.yaml');
      const ns = await namespacesOf('wan');
      const ping = await exec('wan', 'client', 'ping', '-n', '-c', '5', '-i', '0.2', '-W', '2', 'server');
      const avg = Number(/= [\d.]+\/([\d.]+)\//.exec(ping.stdout)?.[1]);
      expect(avg, ping.stdout).toBeGreaterThanOrEqual(36); // 2 × (20 ms ± 2 ms jitter)
      const curl = await exec('wan', 'client', 'curl', '-sS', '-m', '20', '--retry', '5', '--retry-connrefused', '-o', '/dev/null', '-w', '%{http_code}', 'http://server/');
      expect(curl.stdout, curl.stderr).toBe('200');
      await downAndGone('wan', ns);
    } finally {
      await wirelab('down', 'wan');
    }
  });

  it('node-host.yaml: a Node http server on wirelab TCP answers the host (published) and a container (by name)', async () => {
    cap.assert();
    try {
      await up('node-host.yaml');
      const ns = await namespacesOf('nodehost');
      const host = await run('curl', ['-sS', '-m', '10', 'http://127.0.0.1:8082/']);
      expect(host.stdout).toBe('hello from wirelab TCP (hello, you are 172.31.5.1)\n');
      const c = await exec('nodehost', 'client', 'curl', '-sS', '-m', '10', 'http://hello/');
      expect(c.stdout, c.stderr).toBe('hello from wirelab TCP (hello, you are 172.31.5.2)\n');
      await downAndGone('nodehost', ns);
      expect(existsSync('examples/labs/hello-server.mjs')).toBe(true);
    } finally {
      await wirelab('down', 'nodehost');
    }
  });
});
