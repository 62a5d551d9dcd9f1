/**
 * Two labs on two "machines" sharing a network over VXLAN (issue 15's
 * acceptance): the README's example labs (examples/labs/vxlan/site-a.yaml
 * and site-b.yaml), each brought up by its own `wirelab up -d` running
 * in a machine namespace (`nsenter --net`), the machines joined by a
 * veth pair carrying the examples' underlay addresses 198.51.100.1 and .2
 * (inside this test's namespaces only). A container of site A fetches
 * http://web/ from site B's service by name: site A's DNS server does not
 * know `web` and asks its peer, site B's.
 *
 * The labs get unique names (a copy of each file with `name:` changed);
 * both are taken down and the namespaces removed in afterAll.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wirelab } from '../helpers/cli.js';
import { createVethPair, exec, requireRoot, type VethPair } from '../helpers/netns.js';

const run = promisify(execFile);
const cap = requireRoot(['curl', 'python3', 'nsenter']);
const id = randomBytes(2).toString('hex');
const LABS = { a: `vx${id}a`, b: `vx${id}b` };
let pair: VethPair | undefined;
let dir: string | undefined;

/**
 * `wirelab ARGS` run in machine namespace `ns`, as on that machine. nsenter
 * rather than `ip netns exec`: only the network namespace changes, so the
 * namespaces the lab creates are mounted where this test (and `wirelab
 * exec`) can see them, not in a private mount namespace.
 */
async function wirelabOn(ns: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('nsenter', [`--net=/run/netns/${ns}`, '--', process.execPath, '--import', 'tsx', 'src/cli/main.ts', ...args], { timeout: 60_000 });
    return { ...r, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

/** A copy of the example lab under a unique name. */
function copyOf(example: string, name: string): string {
  const text = readFileSync(join('examples', 'labs', 'vxlan', example), 'utf8');
  const path = join(dir!, example);
  writeFileSync(path, text.replace(/^name: .*$/m, `name: ${name}`));
  return path;
}

beforeAll(async () => {
  if (cap.skip) return;
  cap.assert();
  pair = await createVethPair();
  await exec(pair.a.ns, ['ip', 'addr', 'add', '198.51.100.1/24', 'dev', pair.a.iface], { check: true });
  await exec(pair.b.ns, ['ip', 'addr', 'add', '198.51.100.2/24', 'dev', pair.b.iface], { check: true });
  dir = mkdtempSync(join(tmpdir(), 'wl-vxlabs-'));
}, 20_000);

afterAll(async () => {
  await Promise.all(Object.values(LABS).map((name) => wirelab(['down', name])));
  await pair?.destroy();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(cap.skip)('two labs, two machines, one VXLAN network', () => {
  it('a container on site A curls a service on site B by name', async () => {
    const [upA, upB] = await Promise.all([
      wirelabOn(pair!.a.ns, ['up', '-d', '-f', copyOf('site-a.yaml', LABS.a)]),
      wirelabOn(pair!.b.ns, ['up', '-d', '-f', copyOf('site-b.yaml', LABS.b)]),
    ]);
    expect(upA.code, upA.stdout + upA.stderr).toBe(0);
    expect(upB.code, upB.stdout + upB.stderr).toBe(0);
    const ps = JSON.parse((await wirelab(['ps', LABS.a, '--json'])).stdout) as { services: Array<{ name: string; namespace: string }> };
    const client = ps.services.find((s) => s.name === 'client')!;
    const curl = await run(
      'ip',
      ['netns', 'exec', client.namespace, 'curl', '-sS', '-m', '5', '--retry', '10', '--retry-connrefused', '--retry-delay', '1', '-o', '/dev/null', '-w', '%{http_code} %{remote_ip}', 'http://web/'],
      { timeout: 30_000 },
    );
    expect(curl.stdout).toBe('200 10.42.0.21');
    // `wirelab stats`: the VXLAN port's remote and its counters, nothing dropped; and site A's
    // DNS cache holds the answer it got for `web` from its peer, site B's DNS server.
    const stats = JSON.parse((await wirelab(['stats', LABS.a, '--json'])).stdout) as {
      vxlan: Array<{ network: string; vni: number; remotes: Array<{ address: string; rxFrames: number; txFrames: number }>; drops: Record<string, number> }>;
      tables: Array<{ owner: string; table: string; size: number }>;
    };
    expect(stats.vxlan).toEqual([expect.objectContaining({ network: 'overlay', vni: 42, drops: {} })]);
    expect(stats.vxlan[0]!.remotes).toEqual([expect.objectContaining({ address: '198.51.100.2' })]);
    expect(stats.vxlan[0]!.remotes[0]!.rxFrames).toBeGreaterThan(5);
    const cache = stats.tables.find((t) => t.owner === 'network overlay' && t.table === 'dns.cache');
    expect(cache?.size).toBeGreaterThan(0);
    expect(stats.vxlan[0]!.remotes[0]!.txFrames).toBeGreaterThan(5);
  }, 60_000);
});
