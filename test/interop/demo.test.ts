/**
 * The README's first command: `wirelab demo` must pass on a fresh machine
 * (as root) and leave nothing behind; `wirelab cleanup` finds nothing after
 * it. Every demo: the web application as containers (default as root), the
 * same in memory (default for a user), `--bridge` and `--forwarder`.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, expect, it } from 'vitest';
import { requireRoot } from '../helpers/netns.js';
import { loopbackPort } from '../helpers/ports.js';

const run = promisify(execFile);
const cap = requireRoot(['ip', 'ping', 'curl', 'python3', 'getent', 'tshark', 'setpriv']);
beforeAll(() => cap.assert());

async function wirelab(...args: string[]) {
  return run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { timeout: 60_000 });
}

async function expectGone(namespaces: string[], links: string[]): Promise<void> {
  const netns = (await run('ip', ['netns', 'list'])).stdout;
  const ifaces = (await run('ip', ['-br', 'link'])).stdout;
  for (const ns of namespaces) expect(netns).not.toContain(ns);
  for (const l of links) expect(ifaces).not.toContain(l);
}

/**
 * `wirelab cleanup` finds nothing of this demo run. (Other dead processes on
 * a developer's machine may have left their own records; they are not this
 * test's business, and cleanup reports them by pid.)
 */
async function expectNothingLeftFor(namespaces: string[]): Promise<void> {
  const { stdout } = await wirelab('cleanup', '--json');
  const stale = JSON.parse(stdout) as Array<{ namespaces: string[] }>;
  expect(stale.filter((r) => r.namespaces.some((n) => namespaces.includes(n)))).toEqual([]);
}

it('wirelab demo (root): the web application as containers, every step passes, demo.pcapng opens in tshark with no malformed frame, nothing left', async () => {
  const port = await loopbackPort(5);
  const dir = mkdtempSync(join(tmpdir(), 'wl-demo-'));
  const pcap = join(dir, 'demo.pcapng');
  try {
    const { stdout } = await wirelab('demo', '-p', String(port), '-w', pcap);
    expect(stdout, stdout).not.toContain('✗');
    expect(stdout).toMatch(/✓ host\$ curl http:\/\/127\.0\.0\.1:\d+\/ .*\n.*<li>apple<\/li>/);
    expect(stdout).toMatch(/✓ api\$ getent hosts db .*\n\s+172\.30\.0\.2\s+db/);
    expect(stdout).toContain('*** Results: 0% dropped (36/36 received)');
    expect(stdout).toContain('you are 203.0.113.1');
    expect(stdout).toMatch(/tcp {6}6 \d+ \S+ src=172\.30\.0\.6 dst=203\.0\.113\.2 .* dst=203\.0\.113\.1 /);
    expect(stdout).toContain('demo passed');
    const frames = Number((await run('tshark', ['-r', pcap, '-q', '-z', 'io,stat,0'])).stdout.match(/\|\s+(\d+)\s+\|\s+\d+\s+\|\s*$/m)?.[1]);
    expect(frames).toBeGreaterThan(100);
    const verbose = (await run('tshark', ['-r', pcap, '-V'], { maxBuffer: 256 * 1024 * 1024 })).stdout;
    expect(verbose).not.toMatch(/malformed/i);
    const names = new Set((await run('tshark', ['-r', pcap, '-T', 'fields', '-e', 'frame.interface_name'], { maxBuffer: 64 * 1024 * 1024 })).stdout.trim().split('\n'));
    for (const n of ['web:eth0', 'api:eth0', 'db:eth0', 'edge:eth1', 'internet:eth0']) expect(names).toContain(n);
    const made = [...stdout.matchAll(/namespace (wl-[0-9a-f]+)/g)].map((m) => m[1]!);
    expect(made).toHaveLength(6);
    await expectGone(made, []);
    await expectNothingLeftFor(made);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Without user namespaces (pretended: WIRELAB_NO_USERNS=1); with them, nobody gets real namespaces (test/interop/rootless.test.ts).
it('wirelab demo as an unprivileged user without user namespaces: the same lab in memory, exit 0, its capture opens in tshark', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wl-demo-user-'));
  chmodSync(dir, 0o777);
  const port = await loopbackPort(7);
  try {
    const { stdout } = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', 'src/cli/main.ts', 'demo', '-p', String(port), '-w', join(dir, 'demo.pcapng')], {
      timeout: 60_000,
      env: { ...process.env, HOME: dir, TMPDIR: dir, WIRELAB_NO_USERNS: '1' },
    });
    expect(stdout).toContain('(not root, and user namespaces turned off (WIRELAB_NO_USERNS=1): showing the same lab with wirelab hosts in memory instead of containers)');
    expect(stdout).toContain('demo passed');
    const verbose = (await run('tshark', ['-r', join(dir, 'demo.pcapng'), '-V'], { maxBuffer: 256 * 1024 * 1024 })).stdout;
    expect(verbose).toContain('Interface name: web');
    expect(verbose).not.toMatch(/malformed/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('wirelab demo --bridge: names, masquerade and published ports through one wirelab network, then nothing left', async () => {
  const port = await loopbackPort();
  const { stdout } = await wirelab('demo', '--bridge', '-p', String(port));
  // The whole output in the failure message: a demo failure must say which step.
  expect(stdout, stdout).not.toContain('✗');
  expect(stdout).toMatch(/✓ client\$ getent hosts web\n\s+10\.210\.0\.2\s+web/);
  expect(stdout).toMatch(/HTTP 200 from 10\.210\.0\.2/);
  expect(stdout).toContain("✓ outside sees the client as 10.211.0.1 (the gateway's uplink: masquerade)");
  expect(stdout).toContain(`✓ host$ curl http://127.0.0.1:${port}/`);
  expect(stdout).toContain("✓ web sees that request from 10.211.0.2 (DNAT keeps the client's own address)");
  // The state is TIME_WAIT once the last ACK crossed, LAST_ACK if the table is printed just before.
  expect(stdout, stdout).toMatch(/^ {2}tcp {6}6 \d+ [A-Z_]+ src=10\.210\.0\.3 dst=10\.211\.0\.2 .* src=10\.211\.0\.2 dst=10\.211\.0\.1 /m);
  expect(stdout).toContain('demo passed');
  const made = [...stdout.matchAll(/namespace (wl-[0-9a-f]+)(?:, eth0 = TAP (\S+))?/g)];
  expect(made).toHaveLength(3);
  await expectGone(made.map((m) => m[1]!), made.flatMap((m) => (m[2] ? [m[2]] : [])));
  await expectNothingLeftFor(made.map((m) => m[1]!));
});

it('wirelab demo --forwarder pings both ways through TAPs held by wirelab and removes everything', async () => {
  for (const flags of [[], ['--vnet']]) {
    const { stdout } = await wirelab('demo', '--forwarder', ...flags);
    expect(stdout).toContain('3 packets transmitted, 3 received, 0% packet loss');
    expect(stdout.match(/0% packet loss/g)).toHaveLength(2);
    expect(stdout).toContain('demo passed');
    // A passing demo shows no unexplained drop (it used to show txError:EIO from a write before eth0 was up).
    expect(stdout.match(/drops \{\}/g), stdout).toHaveLength(2);
    const made = [...stdout.matchAll(/^container (\S+): eth0 \S+ is TAP (\S+),/gm)];
    expect(made).toHaveLength(2);
    await expectGone(made.map((m) => m[1]!), made.map((m) => m[2]!));
    await expectNothingLeftFor(made.map((m) => m[1]!));
  }
});

it('wirelab demo --stay: Ctrl-C ends it cleanly — everything removed, "demo passed", exit 0, no false error', async () => {
  const { spawn } = await import('node:child_process');
  const port = await loopbackPort(11);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'demo', '--bridge', '-p', String(port), '--stay'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const t0 = Date.now();
  while (!/up until Ctrl-C/.test(out)) {
    if (Date.now() - t0 > 60_000 || child.exitCode !== null) throw new Error(`the demo did not get to its wait:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGINT');
  expect(await exited, out).toBe(0);
  expect(out).toContain('demo passed');
  expect(out).not.toMatch(/cleanup failed|Cannot remove|FAILED/);
  const made = [...out.matchAll(/namespace (wl-[0-9a-f]+)/g)].map((m) => m[1]!);
  await expectGone(made, []);
  await expectNothingLeftFor(made);
});
