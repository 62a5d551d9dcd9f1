/**
 * podman as the real client of `wirelab-cni`: Debian's podman 4.3 (CNI
 * backend) with examples/cni/wirelab.conflist in its network directory runs
 * two containers of a local image (a busybox-static root filesystem made
 * here and `podman import`ed, no registry) on a wirelab network; one fetches
 * a page from the other by name, resolved by the lab's DNS, reaches the
 * lab's "internet" through its router's NAT, is delayed by `wirelab impair`
 * like any node of the lab, and its name goes when podman removes the
 * container. podman is the only thing driving
 * the plugin.
 *
 * Everything podman keeps is under a temp directory (--root, --runroot,
 * --tmpdir, its network config), and the containers are removed in afterAll.
 * Two things this machine needs (and say why): podman's default ulimits
 * above the hard limits need CAP_SYS_RESOURCE, so containers.conf sets
 * default_ulimits within them; and crun refuses a hybrid cgroup layout
 * whose v2 hierarchy has controllers ("drop all controllers from cgroupv2"),
 * so podman then runs in a mount namespace of its own without
 * /sys/fs/cgroup/unified, the rest of the mounts unchanged so /run/netns
 * stays shared with the lab. The containers run with --cgroups=disabled:
 * podman makes no cgroups that a failed run could leave behind.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/netns.js';
import { wirelab } from '../helpers/cli.js';
import { buildPlugin, conflist, labDown, labUp, podsLabFile, sh } from '../helpers/cni.js';

const BUSYBOX = '/bin/busybox';
const CNI_CACHE = '/var/lib/cni/results';
const cap = requireRoot(['podman', 'nsenter', 'unshare', 'tar']);
const id = randomBytes(3).toString('hex');
const LAB = `cn${id}`;
const NET = `cn${id}`;
const IMAGE = `localhost/cn${id}:1`;
const T = mkdtempSync(join(tmpdir(), `cn${id}-`));

/** crun's "cgroups in hybrid mode not supported" case: a cgroup v2 hierarchy beside v1 that has controllers. */
function hybridWithControllers(): boolean {
  try {
    return readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').trim() !== '';
  } catch {
    return false;
  }
}

function podman(args: readonly string[], timeoutMs = 60_000): Promise<{ stdout: string; stderr: string; code: number }> {
  const global = ['--root', join(T, 'root'), '--runroot', join(T, 'runroot'), '--tmpdir', join(T, 'tmp'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
  const argv = hybridWithControllers()
    ? ['unshare', '-m', '--propagation', 'unchanged', 'sh', '-c', 'umount /sys/fs/cgroup/unified && exec "$@"', 'sh', 'podman', ...global, ...args]
    : ['podman', ...global, ...args];
  return sh(argv, timeoutMs, { ...process.env, CONTAINERS_CONF: join(T, 'containers.conf') });
}

beforeAll(async () => {
  if (cap.skip) return;
  cap.assert();
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: install busybox-static`);
  // The image: busybox and its applets, a page to serve.
  const rootfs = join(T, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'www']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
  for (const applet of ['sh', 'ping', 'wget', 'nc', 'httpd', 'nslookup', 'sleep', 'cat']) symlinkSync('busybox', join(rootfs, 'bin', applet));
  writeFileSync(join(rootfs, 'www/index.html'), `hello from a on ${NET}\n`);
  expect((await sh(['tar', '-C', rootfs, '-cf', join(T, 'rootfs.tar'), '.'])).code).toBe(0);
  // The plugin, bundled from source, where podman looks for it; the network config from examples/.
  mkdirSync(join(T, 'bin'));
  mkdirSync(join(T, 'net.d'));
  await buildPlugin(join(T, 'bin'));
  writeFileSync(join(T, 'net.d', `${NET}.conflist`), JSON.stringify(conflist(LAB, NET), null, 2));
  writeFileSync(
    join(T, 'containers.conf'),
    [
      '[containers]',
      'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
      '[network]',
      'network_backend = "cni"',
      `network_config_dir = "${join(T, 'net.d')}"`,
      `cni_plugin_dirs = ["${join(T, 'bin')}", "/usr/lib/cni"]`,
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      '',
    ].join('\n'),
  );
  const [, imp] = await Promise.all([labUp(podsLabFile(LAB, T)), podman(['import', join(T, 'rootfs.tar'), IMAGE])]);
  expect(imp.code, imp.stderr).toBe(0);
});

afterAll(async () => {
  if (!cap.skip) await podman(['rm', '-f', '--ignore', '-t', '0', 'a', 'b']);
  if (!cap.skip) await labDown(LAB);
  rmSync(T, { recursive: true, force: true });
  // libcni's result cache, emptied by each DEL; what a failed run left of this network.
  if (existsSync(CNI_CACHE)) for (const f of readdirSync(CNI_CACHE)) if (f.startsWith(`${NET}-`)) rmSync(join(CNI_CACHE, f), { force: true });
});

describe.skipIf(cap.skip)('podman on a wirelab network through wirelab-cni', () => {
  let sandboxOfA = '';
  it('two podman run containers: b fetches a page from a by name, through the lab DNS', async () => {
    const run = ['run', '-d', '--cgroups=disabled', '--network', NET];
    const a = await podman([...run, '--name', 'a', IMAGE, 'httpd', '-f', '-p', '8000', '-h', '/www']);
    expect(a.code, a.stderr).toBe(0);
    const b = await podman([...run, '--name', 'b', IMAGE, 'sleep', '60']);
    expect(b.code, b.stderr).toBe(0);
    // The result's dns became b's resolv.conf: the lab's gateway first, the network as search domain.
    const resolv = await podman(['exec', 'b', 'cat', '/etc/resolv.conf']);
    expect(resolv.stdout).toMatch(/^search pods$/m);
    expect(resolv.stdout.split('\n').find((l) => l.startsWith('nameserver'))).toBe('nameserver 10.89.7.1');
    // (busybox's wget -T crashes; the exec is bounded by the command's timeout instead)
    const page = await podman(['exec', 'b', 'wget', '-qO-', 'http://a:8000/'], 20_000);
    expect(page.code, page.stderr).toBe(0);
    expect(page.stdout).toBe(`hello from a on ${NET}\n`);
    // podman's own view of the attachment: the address the lab gave.
    const ip = await podman(['inspect', '--format', `{{(index .NetworkSettings.Networks "${NET}").IPAddress}}`, 'a']);
    expect(ip.stdout.trim()).toBe('10.89.7.2');
    sandboxOfA = (await podman(['inspect', '--format', '{{.NetworkSettings.SandboxKey}}', 'a'])).stdout.trim();
    expect(sandboxOfA).toMatch(/^\/run\/netns\//);
  });

  it('b reaches the outside (website, on the lab\'s internet network) through the edge router\'s NAT', async () => {
    const ping = await podman(['exec', 'b', 'ping', '-c', '1', '-W', '3', 'website'], 20_000);
    expect(ping.stdout, ping.stderr).toMatch(/1 packets received/);
    // The router masqueraded it: the reply came back to its own internet address, 198.51.100.1.
    const ct = await wirelab(['conntrack', LAB, '--network', 'pods']);
    expect(ct.stdout).toMatch(/^icmp .* src=10\.89\.7\.3 dst=198\.51\.100\.2 .* src=198\.51\.100\.2 dst=198\.51\.100\.1 /m);
  });

  it("podman's containers are the lab's links: wirelab impair delays b's replies", async () => {
    const imp = await wirelab(['impair', LAB, 'b', '--delay', '60ms']);
    expect(imp.stdout, imp.stderr).toContain('b:eth0  netem delay 60ms');
    const ping = await podman(['exec', 'b', 'ping', '-c', '1', '-W', '3', 'a'], 20_000);
    const rtt = Number(/time=([\d.]+) ms/.exec(ping.stdout)?.[1]);
    expect(rtt, ping.stdout + ping.stderr).toBeGreaterThanOrEqual(60);
  });

  it('podman rm runs DEL: the name leaves the lab DNS, the namespace goes', async () => {
    const rm = await podman(['rm', '-f', '-t', '0', 'a']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(existsSync(sandboxOfA)).toBe(false);
    const look = await podman(['exec', 'b', 'nslookup', 'a']);
    expect(look.stdout + look.stderr).toMatch(/can't find a|NXDOMAIN/);
  });
});
