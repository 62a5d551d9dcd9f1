/**
 * A detached lab driven verb by verb, as a compose user would:
 * `wirelab up -d`, then `ls`, `ps --json`, `exec` (exit status carried), `pingall`,
 * `dns` and `conntrack` over the control socket, `down`; and a supervisor killed with
 * `kill -9`, after which `wirelab down` still leaves no namespace, process
 * or socket file behind.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { controlSocketPath } from '../../src/lab/control.js';
import { labLogDir } from '../../src/lab/file/up.js';
import { requireRoot } from '../helpers/netns.js';
import { wirelab as runCli, type CliResult } from '../helpers/cli.js';

const run = promisify(execFile);
const cap = requireRoot(['curl', 'python3', 'getent']);
const LAB = 'examples/labs/quickstart.yaml';

const wirelab = (...args: string[]): Promise<CliResult> => runCli(args, { timeoutMs: 120_000 });

interface Row {
  name: string;
  namespace: string;
  status: string;
}

afterAll(async () => {
  await wirelab('down', 'quickstart');
});

describe.skipIf(cap.skip)('a detached lab', () => {
  let namespaces: string[] = [];

  it('up -d returns once the lab is up; ls and ps see it', async () => {
    cap.assert();
    const up = await wirelab('up', '-d', '-f', LAB);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/lab quickstart is up \(supervisor pid \d+/);
    const ls = await wirelab('ls', '--json');
    expect(JSON.parse(ls.stdout)).toEqual([expect.objectContaining({ name: 'quickstart', services: 2 })]);
    const ps = JSON.parse((await wirelab('ps', '--json')).stdout) as { services: Row[] };
    expect(ps.services.map((s) => [s.name, s.status])).toEqual([
      ['db', 'healthy'],
      ['web', 'running'],
    ]);
    namespaces = ps.services.map((s) => s.namespace);
  });

  it('a second lab of the same name is refused before anything is created', async () => {
    const again = await wirelab('up', '-d', '-f', LAB);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/a lab named quickstart is already running \(supervisor pid \d+\); wirelab down quickstart stops it/);
    expect(JSON.parse((await wirelab('ls', '--json')).stdout)).toHaveLength(1);
  });

  it('exec runs in the service and carries its exit status; the gateway’s DNS and conntrack tables over the control socket', async () => {
    const g = await wirelab('exec', 'web', '--', 'getent', 'hosts', 'db');
    expect(g.stdout).toMatch(/^172\.30\.0\.2\s+db/m);
    const bad = await wirelab('exec', 'db', '--', 'sh', '-c', 'exit 3');
    expect(bad.code).toBe(3);
    const nope = await wirelab('exec', 'nosuch', '--', 'true');
    expect(nope.code).toBe(1);
    expect(nope.stderr).toContain('lab quickstart has no service nosuch (it has db, web)');
    // The gateway answered web's lookup of db: its DNS counters, over the control socket.
    const dns = await wirelab('dns');
    expect(dns.stdout).toMatch(/^queries\s+udp [1-9]\d*/m);
    expect(dns.stdout).toMatch(/^answers\s+local [1-9]\d*/m);
    // No uplink, so no NAT rule: the gateway tracks nothing, and says so.
    expect((await wirelab('conntrack')).stdout.trim()).toBe('(empty)');
  });

  it('pingall: every service reaches every other one', async () => {
    const r = await wirelab('pingall');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('db -> web');
    expect(r.stdout).toContain('web -> db');
    expect(r.stdout).toContain('*** Results: 0% dropped (2/2 received)');
  });

  it('down removes it all', async () => {
    const down = await wirelab('down');
    expect(down.stdout).toContain('lab quickstart removed');
    const list = (await run('ip', ['netns', 'list'])).stdout;
    for (const n of namespaces) expect(list).not.toContain(n);
    expect(existsSync(controlSocketPath('quickstart'))).toBe(false);
    expect(existsSync(labLogDir('quickstart'))).toBe(false); // the services' logs go with the lab, as compose's
    expect((await wirelab('ls')).stdout).toContain('no lab is running');
  });

  it('kill -9 of the supervisor, then down: nothing left behind', async () => {
    const up = await wirelab('up', '-d', '-f', LAB);
    expect(up.code, up.stderr).toBe(0);
    const pid = Number(/supervisor pid (\d+)/.exec(up.stdout)![1]);
    const ps = JSON.parse((await wirelab('ps', '--json')).stdout) as { services: Row[] };
    process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    const down = await wirelab('down');
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toMatch(/removed what \d+ dead wirelab run/);
    const list = (await run('ip', ['netns', 'list'])).stdout;
    for (const s of ps.services) expect(list).not.toContain(s.namespace);
    expect(existsSync(controlSocketPath('quickstart'))).toBe(false);
    expect(existsSync(labLogDir('quickstart'))).toBe(false); // the services' logs go with the lab, as compose's
    const stale = JSON.parse((await wirelab('cleanup', '--json')).stdout) as unknown[];
    expect(stale).toEqual([]);
  });
});
