/**
 * The `dns` option of a container, against the real `ip netns exec`: the
 * container sees its own /etc/resolv.conf and /etc/hosts (from
 * /etc/netns/<ns>/, bind-mounted by iproute2) while the root namespace's
 * files stay as they were; bad options are refused before anything exists;
 * the directory is recorded in the state file and removed on destroy, and by
 * `cleanupStale` after the lab process was SIGKILLed.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { requireRoot } from '../helpers/netns.js';
import { Lab } from '../../src/lab/lab.js';
import { cleanupAll, cleanupStale, registrySnapshot, stateFilePath, type LabState } from '../../src/lab/registry.js';

const capability = requireRoot(['getent']);
const id = randomBytes(3).toString('hex');
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const sh = (argv: string[]): string => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const netnsList = (): string[] => (JSON.parse(sh(['ip', '-j', 'netns', 'list']) || '[]') as Array<{ name: string }>).map((n) => n.name);

const taps: string[] = [];
let serial = 0;
function makeTap(): string {
  const name = `wlq${id}${(serial++).toString(36)}`;
  sh(['ip', 'tuntap', 'add', 'dev', name, 'mode', 'tap']);
  taps.push(name);
  return name;
}

describe.skipIf(capability.skip)('container dns: /etc/netns/<ns>/resolv.conf and hosts', () => {
  let lab: Lab;
  let stateDir: string;
  const previousStateDir = process.env.WIRELAB_STATE_DIR;
  const children: ChildProcess[] = [];
  const rootResolv = readFileSync('/etc/resolv.conf', 'utf8');
  const rootHosts = readFileSync('/etc/hosts', 'utf8');

  beforeAll(() => {
    capability.assert();
    stateDir = mkdtempSync(join(tmpdir(), 'wl-state-'));
    process.env.WIRELAB_STATE_DIR = stateDir;
    lab = new Lab();
  });

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await lab?.close().catch(() => undefined);
    await cleanupAll().catch(() => undefined);
    if (stateDir !== undefined) await cleanupStale(stateDir).catch(() => undefined);
    const quiet = (argv: string[]): void => void spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' });
    for (const t of taps) quiet(['ip', 'link', 'del', 'dev', t]);
    for (const ns of netnsList()) if (ns.includes(id)) quiet(['ip', 'netns', 'del', ns]);
    if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
    if (previousStateDir === undefined) delete process.env.WIRELAB_STATE_DIR;
    else process.env.WIRELAB_STATE_DIR = previousStateDir;
  });

  it('the container reads its own resolv.conf and hosts; the host keeps its own; destroy removes the directory', async () => {
    const c = await lab.container({
      name: `wl-q${id}a`,
      link: makeTap(),
      address: '10.212.0.2/24',
      gateway: '10.212.0.1',
      dns: { nameservers: ['10.212.0.1'], search: ['front'], options: ['ndots:1'], hosts: { self: '10.212.0.2' } },
    });
    const dir = `/etc/netns/${c.name}`;
    expect(existsSync(join(dir, 'resolv.conf'))).toBe(true);
    const resolv = (await c.exec(['cat', '/etc/resolv.conf'], { check: true })).stdout;
    expect(resolv).toMatch(/^nameserver 10\.212\.0\.1$/m);
    expect(resolv).toMatch(/^search front$/m);
    expect(resolv).toMatch(/^options ndots:1$/m);
    expect((await c.exec(['getent', 'hosts', 'self'], { check: true })).stdout).toMatch(/^10\.212\.0\.2\s+self$/m);
    expect((await c.exec(['getent', 'hosts', 'localhost'], { check: true })).stdout).toMatch(/127\.0\.0\.1|::1/);
    // The root namespace's files are untouched.
    expect(readFileSync('/etc/resolv.conf', 'utf8')).toBe(rootResolv);
    expect(readFileSync('/etc/hosts', 'utf8')).toBe(rootHosts);
    const state = JSON.parse(readFileSync(stateFilePath(), 'utf8')) as LabState;
    expect(state.etc).toContain(c.name);
    expect(registrySnapshot().etc).toContain(c.name);

    await c.destroy();
    expect(existsSync(dir)).toBe(false);
    expect(registrySnapshot().etc).not.toContain(c.name);
  });

  it('refuses bad dns options before creating anything', async () => {
    const before = netnsList();
    const link = makeTap();
    await expect(lab.container({ link, dns: { nameservers: ['web'] } })).rejects.toThrow(/nameserver "web" is not an IPv4 address/);
    await expect(lab.container({ link, dns: { nameservers: ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'] } })).rejects.toThrow(/at most 3/);
    await expect(lab.container({ link, dns: { nameservers: ['10.0.0.1'], search: ['a b'] } })).rejects.toThrow(/search domain "a b"/);
    await expect(lab.container({ link, dns: { nameservers: ['10.0.0.1'], hosts: { web: '1.2.3' } } })).rejects.toThrow(/hosts address "1\.2\.3"/);
    expect(netnsList()).toEqual(before);
  });

  it('after kill -9 of a lab process, cleanupStale removes its /etc/netns directory too', async () => {
    const script = join(stateDir, 'dns-lab-process.mts');
    writeFileSync(
      script,
      `import { Lab } from ${JSON.stringify(join(ROOT, 'src/lab/index.ts'))};
const lab = new Lab();
const c = await lab.container({ link: process.argv[2], address: '10.212.1.2/24', dns: { nameservers: ['10.212.1.1'] } });
console.log('READY ' + c.name);
setInterval(() => {}, 1 << 30);
`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script, makeTap()], {
      cwd: ROOT,
      env: { ...process.env, WIRELAB_STATE_DIR: stateDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const exit = new Promise((res) => child.on('exit', res));
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    const ns = await new Promise<string>((res, rej) => {
      let out = '';
      const timer = setTimeout(() => rej(new Error(`lab process not ready: ${err}`)), 20_000);
      child.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /READY (\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          res(m[1]!);
        }
      });
    });
    expect(existsSync(`/etc/netns/${ns}/resolv.conf`)).toBe(true);
    child.kill('SIGKILL');
    await exit;
    expect(existsSync(`/etc/netns/${ns}`)).toBe(true); // nothing ran on SIGKILL
    const reports = await cleanupStale(stateDir);
    expect(reports).toMatchObject([{ pid: child.pid, namespaces: [ns], etc: [ns], errors: [] }]);
    expect(existsSync(`/etc/netns/${ns}`)).toBe(false);
    expect(netnsList()).not.toContain(ns);
  });
});
