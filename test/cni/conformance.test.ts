/**
 * `wirelab-cni` called exactly as a runtime calls a CNI plugin (CNI_*
 * variables, the configuration on stdin, namespaces the test made), on a
 * detached lab from examples/cni/pods.yaml: the reference behaviours of the
 * specification — ADD's result, the interface really in the namespace with
 * its address and reaching the gateway and another container by name, CHECK,
 * DEL, DEL again, CHECK after DEL failing, VERSION, and 1.1.0's STATUS and
 * GC — and every kind of bad
 * input answered with a spec error object and a non-zero exit, never a stack
 * trace. The second container's address comes from a delegated IPAM plugin
 * (host-local, from Debian's containernetworking-plugins); the first one's
 * `runtimeConfig.portMappings` is published on 127.0.0.1 while it is
 * attached, and closed by DEL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/netns.js';
import { buildPlugin, conflist, labDown, labUp, podsLabFile, ROOT, runCni, sh, type PluginRun } from '../helpers/cni.js';

const HOST_LOCAL = '/usr/lib/cni/host-local';
const BUSYBOX = '/bin/busybox';
const cap = requireRoot(['nsenter', 'ping']);
const id = randomBytes(3).toString('hex');
const LAB = `cn${id}`;
const NS_A = `cn${id}a`;
const NS_B = `cn${id}b`;
const NS_C = `cn${id}c`;
const tmp = mkdtempSync(join(tmpdir(), `cn${id}-`));

/** The plugin's configuration as a runtime hands it (one plugin of the conflist, with name and cniVersion). */
function conf(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const list = conflist(LAB, `cn${id}net`);
  return { cniVersion: list.cniVersion, name: list.name, ...list.plugins[0], ...extra };
}

function vars(command: string, ns: string, container: string, podName: string): Record<string, string> {
  return { CNI_COMMAND: command, CNI_CONTAINERID: container, CNI_NETNS: `/run/netns/${ns}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAME=${podName}` };
}

/** A spec error object on stdout, a non-zero exit, no stack trace anywhere. */
function expectSpecError(r: PluginRun, code: number, msg: RegExp): void {
  expect(r.code, r.stdout + r.stderr).not.toBe(0);
  expect(r.json, r.stdout).toEqual({ cniVersion: expect.any(String), code, msg: expect.stringMatching(msg), details: expect.any(String) });
  expect(r.stdout + r.stderr).not.toMatch(/\n\s+at /);
}

let hostPort = 0;
let plugin = '';
let server: ChildProcess | undefined;

/** A free port on 127.0.0.1 for the published port. */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

beforeAll(async () => {
  if (cap.skip) return;
  cap.assert();
  if (!existsSync(HOST_LOCAL)) throw new Error(`${HOST_LOCAL} is missing: install containernetworking-plugins`);
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: install busybox-static`);
  hostPort = await freePort();
  const [exe, ...added] = await Promise.all([buildPlugin(tmp), labUp(podsLabFile(LAB, tmp)), ...[NS_A, NS_B, NS_C].map((ns) => sh(['ip', 'netns', 'add', ns]))]);
  plugin = exe;
  for (const r of added) if (r !== undefined) expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  server?.kill('SIGKILL');
  if (!cap.skip) await labDown(LAB);
  for (const ns of [NS_A, NS_B, NS_C]) await sh(['ip', 'netns', 'del', ns]);
  rmSync(`/etc/netns/${NS_B}`, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

describe('the README', () => {
  it('shows examples/cni/wirelab.conflist verbatim', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('```json\n' + readFileSync(join(ROOT, 'examples/cni/wirelab.conflist'), 'utf8') + '```');
  });
});

describe.skipIf(cap.skip)('wirelab-cni as a runtime calls it', () => {
  let resultA: Record<string, unknown> = {};
  const hostLocalDir = join(tmp, 'host-local');
  const ipam = { type: 'host-local', ranges: [[{ subnet: '10.89.7.0/24', rangeStart: '10.89.7.200', rangeEnd: '10.89.7.210' }]], dataDir: hostLocalDir };

  it('ADD (three containers at once): results per spec 1.0.0 and 0.4.0, the interfaces in their namespaces, the gateway and another container by name answering', async () => {
    const [a, b, c] = await Promise.all([
      runCni(plugin, vars('ADD', NS_A, `cn${id}-alpha`, 'alpha'), JSON.stringify(conf({ runtimeConfig: { portMappings: [{ hostPort, containerPort: 8000, protocol: 'tcp', hostIP: '127.0.0.1' }] } }))),
      // The second one's address from a delegated IPAM plugin (host-local), in 0.4.0's result form.
      runCni(plugin, vars('ADD', NS_B, `cn${id}-beta`, 'beta'), JSON.stringify(conf({ cniVersion: '0.4.0', ipam }))),
      // One for GC to collect, at the address the runtime asks for (CNI_ARGS IP=, as podman's --ip).
      runCni(plugin, { ...vars('ADD', NS_C, `cn${id}-gamma`, 'gamma'), CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=gamma;IP=10.89.7.50' }, JSON.stringify(conf({ cniVersion: '1.1.0' }))),
    ]);
    expect(c.code, c.stdout + c.stderr).toBe(0);
    expect(c.json).toMatchObject({ cniVersion: '1.1.0', ips: [{ address: '10.89.7.50/24', gateway: '10.89.7.1', interface: 0 }] });
    expect(a.code, a.stdout + a.stderr).toBe(0);
    resultA = a.json!;
    expect(resultA).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/), sandbox: `/run/netns/${NS_A}` }],
      ips: [{ address: '10.89.7.2/24', gateway: '10.89.7.1', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.89.7.1' }],
      dns: { nameservers: ['10.89.7.1'], search: ['pods'] },
    });
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect(b.json).toMatchObject({ cniVersion: '0.4.0', ips: [{ version: '4', address: '10.89.7.200/24', gateway: '10.89.7.1', interface: 0 }] });
    expect(readdirSync(join(hostLocalDir, `cn${id}net`))).toContain('10.89.7.200');

    const addr = JSON.parse((await sh(['ip', '-n', NS_A, '-j', 'addr', 'show', 'dev', 'eth0'])).stdout) as Array<{ address: string; addr_info: Array<{ local: string; prefixlen: number }> }>;
    expect(addr[0]!.address).toBe((resultA.interfaces as Array<{ mac: string }>)[0]!.mac);
    expect(addr[0]!.addr_info.map((x) => `${x.local}/${x.prefixlen}`)).toEqual(['10.89.7.2/24']);
    const ping = await sh(['ip', 'netns', 'exec', NS_A, 'ping', '-c', '1', '-W', '2', '10.89.7.1']);
    expect(ping.stdout).toContain('1 received');
    // What a runtime does with the result's dns: the container's resolv.conf (ip netns exec mounts /etc/netns/NS/).
    mkdirSync(`/etc/netns/${NS_B}`, { recursive: true });
    const dns = (b.json as { dns: { nameservers: string[]; search: string[] } }).dns;
    writeFileSync(`/etc/netns/${NS_B}/resolv.conf`, `nameserver ${dns.nameservers[0]}\nsearch ${dns.search.join(' ')}\n`);
    const byName = await sh(['ip', 'netns', 'exec', NS_B, 'ping', '-c', '1', '-W', '2', 'alpha']);
    expect(byName.stdout, byName.stderr).toMatch(/PING alpha(\.pods)? \(10\.89\.7\.2\)[\s\S]*1 received/);
  });

  it('CHECK succeeds on what ADD made; VERSION lists 0.4.0, 1.0.0 and 1.1.0; STATUS succeeds; GC takes only what the runtime no longer has', async () => {
    const valid = [{ containerID: `cn${id}-alpha`, ifname: 'eth0' }, { containerID: `cn${id}-beta`, ifname: 'eth0' }];
    const [check, version, status, gc, second] = await Promise.all([
      runCni(plugin, vars('CHECK', NS_A, `cn${id}-alpha`, 'alpha'), JSON.stringify(conf({ prevResult: resultA }))),
      runCni(plugin, { CNI_COMMAND: 'VERSION' }, JSON.stringify({ cniVersion: '1.0.0' })),
      runCni(plugin, { CNI_COMMAND: 'STATUS', CNI_PATH: '/usr/lib/cni' }, JSON.stringify(conf({ cniVersion: '1.1.0' }))),
      runCni(plugin, { CNI_COMMAND: 'GC', CNI_PATH: '/usr/lib/cni' }, JSON.stringify(conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': valid }))),
      // alpha's second network (podman's --network pods,internet): eth1, and the default route stays eth0's.
      runCni(plugin, { ...vars('ADD', NS_A, `cn${id}-alpha`, 'alpha'), CNI_IFNAME: 'eth1' }, JSON.stringify(conf({ network: 'internet' }))),
    ]);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.json).toMatchObject({ interfaces: [{ name: 'eth1' }], ips: [{ address: expect.stringMatching(/^198\.51\.100\.\d+\/24$/), gateway: '198.51.100.1' }], routes: [] });
    expect((await sh(['ip', '-n', NS_A, 'route', 'show', 'default'])).stdout.trim()).toBe('default via 10.89.7.1 dev eth0');
    expect(status.code, status.stdout + status.stderr).toBe(0);
    expect(gc.code, gc.stdout + gc.stderr).toBe(0);
    expect((await sh(['ip', '-n', NS_C, 'link', 'show', 'dev', 'eth0'])).code).not.toBe(0); // gamma was not in the list
    for (const ns of [NS_A, NS_B]) expect((await sh(['ip', '-n', ns, 'link', 'show', 'dev', 'eth0'])).code).toBe(0);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout.trim()).toBe('');
    expect(version.code, version.stderr).toBe(0);
    expect(version.json).toEqual({ cniVersion: '1.0.0', supportedVersions: expect.arrayContaining(['0.4.0', '1.0.0', '1.1.0']) });
  });

  it('runtimeConfig.portMappings: a host port on 127.0.0.1 reaches the container through the lab', async () => {
    mkdirSync(join(tmp, 'www'));
    writeFileSync(join(tmp, 'www/index.html'), 'hello from alpha\n');
    server = spawn('ip', ['netns', 'exec', NS_A, BUSYBOX, 'httpd', '-f', '-p', '10.89.7.2:8000', '-h', join(tmp, 'www')], { stdio: 'ignore' });
    let body = '';
    for (let i = 0; i < 100 && body === ''; i++) {
      body = await fetch(`http://127.0.0.1:${hostPort}/`, { signal: AbortSignal.timeout(2000) }).then((r) => (r.ok ? r.text() : ''), () => '');
      if (body === '') await new Promise((r) => setTimeout(r, 100));
    }
    expect(body).toBe('hello from alpha\n');
  });

  it('DEL removes the interface and the published port; DEL again succeeds; CHECK after DEL is an error', async () => {
    const del = await runCni(plugin, vars('DEL', NS_A, `cn${id}-alpha`, 'alpha'), JSON.stringify(conf({ prevResult: resultA })));
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect((await sh(['ip', '-n', NS_A, 'link', 'show', 'dev', 'eth0'])).code).not.toBe(0);
    const refused = await fetch(`http://127.0.0.1:${hostPort}/`, { signal: AbortSignal.timeout(2000) }).then(() => 'answered', (e: Error) => String((e.cause as { code?: string } | undefined)?.code ?? e.message));
    expect(refused).toBe('ECONNREFUSED');
    const [again, check] = await Promise.all([
      runCni(plugin, vars('DEL', NS_A, `cn${id}-alpha`, 'alpha'), JSON.stringify(conf())),
      runCni(plugin, vars('CHECK', NS_A, `cn${id}-alpha`, 'alpha'), JSON.stringify(conf({ prevResult: resultA }))),
    ]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expectSpecError(check, 102, /has no attachment for container/);
  });

  it('bad input: spec error objects with the spec codes and a non-zero exit, never a stack trace', async () => {
    const add = vars('ADD', NS_A, `cn${id}-bad`, 'bad');
    const { CNI_NETNS: _netns, ...noNetns } = add;
    const [notJson, noLab, missingEnv, oldVersion, noCommand, labGone, noNetwork, noNamespace, badArgs] = await Promise.all([
      runCni(plugin, add, '{"cniVersion": "1.0.0", "name": '),
      runCni(plugin, add, JSON.stringify({ ...conf(), lab: undefined })),
      runCni(plugin, noNetns, JSON.stringify(conf())),
      runCni(plugin, add, JSON.stringify(conf({ cniVersion: '0.2.0' }))),
      runCni(plugin, { CNI_CONTAINERID: 'x' }, JSON.stringify(conf())),
      runCni(plugin, add, JSON.stringify(conf({ lab: `cn${id}gone` }))),
      runCni(plugin, add, JSON.stringify(conf({ network: 'nosuch' }))),
      runCni(plugin, { ...add, CNI_NETNS: `/run/netns/cn${id}nope` }, JSON.stringify(conf())),
      runCni(plugin, { ...add, CNI_ARGS: 'IP=10.89.7.300;MAC=02:42 addr flush' }, JSON.stringify(conf())),
    ]);
    expectSpecError(notJson, 6, /not JSON/);
    expectSpecError(noLab, 7, /^invalid network configuration: lab is required/);
    expectSpecError(missingEnv, 4, /CNI_NETNS is not set/);
    expectSpecError(oldVersion, 1, /cniVersion 0\.2\.0 is not supported/);
    expectSpecError(noCommand, 4, /CNI_COMMAND is not set/);
    expectSpecError(labGone, 11, /no running lab named cn\w+gone/);
    expectSpecError(noNetwork, 100, /has no network nosuch \(it has pods, internet\)/);
    expectSpecError(noNamespace, 101, new RegExp(`cannot move \\w+ into /run/netns/cn${id}nope as eth0`));
    expectSpecError(badArgs, 4, /^CNI_ARGS IP=10\.89\.7\.300 is not an IPv4 address; CNI_ARGS MAC=02:42 addr flush is not a MAC address/);
    // The failed ADD left nothing in the lab.
    const after = await runCni(plugin, vars('CHECK', NS_A, `cn${id}-bad`, 'bad'), JSON.stringify(conf({ prevResult: resultA })));
    expectSpecError(after, 102, /has no attachment for container/);
  });

  it('after the lab went (and the container with it): DEL still succeeds and frees the delegated address, STATUS says 50', async () => {
    await labDown(LAB);
    expect((await sh(['ip', '-n', NS_B, 'link', 'show', 'dev', 'eth0'])).code).not.toBe(0); // the TAP went with the lab
    const [del, status] = await Promise.all([
      runCni(plugin, vars('DEL', NS_B, `cn${id}-beta`, 'beta'), JSON.stringify(conf({ cniVersion: '0.4.0', ipam }))),
      runCni(plugin, { CNI_COMMAND: 'STATUS', CNI_PATH: '/usr/lib/cni' }, JSON.stringify(conf({ cniVersion: '1.1.0' }))),
    ]);
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expectSpecError(status, 50, /cannot add containers now: no running lab/);
    expect(existsSync(join(hostLocalDir, `cn${id}net`, '10.89.7.200'))).toBe(false);
  });
});
