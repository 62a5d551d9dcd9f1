/**
 * What the README shows, a test runs: every ```ts block in README.md is
 * found verbatim in a file under examples/, and every example file is run
 * here as a user would run it — `node --import tsx examples/<file>.ts`,
 * importing from 'wirelab' (the package's own name, resolved through its
 * `exports`; the `wirelab-source` condition points it at src/ so the test
 * never runs a stale build).
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { requireRoot } from './helpers/netns.js';
import { pickLoopbackPort } from './helpers/ports.js';

const execFileAsync = promisify(execFile);
const root = join(import.meta.dirname, '..');
const examplesDir = join(root, 'examples');

interface ExampleRun {
  /** Arguments after the file name. */
  args?: string[];
  /** What its output must show. */
  expect: RegExp[];
  /** Needs root (TAPs, namespaces). */
  root?: boolean;
  timeoutMs?: number;
}

/**
 * Every example file and what it must print. A file missing from this table
 * fails the test below, so a new example cannot go unrun. Long-running tools
 * (switch.ts serves until Ctrl-C) are run by their own interop tests, named here.
 */
const RUNS: Record<string, ExampleRun | { runBy: string }> = {
  'codecs.ts': { expect: [/IP 10\.0\.0\.1\.40000 > 10\.0\.0\.2\.80: Flags \[S\]/, /code: 'truncated'/] },
  'hosts-in-memory.ts': { expect: [/bytes: 4008/, /10\.0\.0\.2 dev eth0 lladdr 02:77:6c:[0-9a-f:]+ REACHABLE/, /10\.0\.0\.0\/24 dev eth0 proto kernel scope link src 10\.0\.0\.1/] },
  'http.ts': { expect: [/^hello from wirelab, 10\.0\.0\.1$/m] },
  'containers-by-hand.ts': { root: true, expect: [/1 packets transmitted, 1 received/] },
  'any-interface.ts': { root: true, expect: [/3 packets transmitted, 3 received/, /^ap[0-9a-f]{6}a: rx \d+ tx \d+ drops \{\}$/m] },
  'two-container-forwarder.ts': { root: true, expect: [/3 packets transmitted, 3 received/, /demo passed/] },
  'docker-network.ts': {
    root: true,
    args: [String(pickLoopbackPort(7))],
    expect: [/^172\.30\.0\.2\s+www$/m, /^200\n200$/m, /name: 'labnet'/, /ipv4Address: '172\.30\.0\.3'/],
  },
  'switch.ts': { runBy: 'test/interop/switch-cli.test.ts' },
  'port-publish.ts': { runBy: 'test/nat/example-port-publish.test.ts' },
  'nat-router.ts': {
    expect: [
      /^outside -> 10\.201\.0\.1:8080: hello 10\.201\.0\.2:\d+$/m,
      /^app -> 10\.201\.0\.1:8080 \(hairpin\): hello 172\.30\.0\.1:\d+$/m,
      /^outside UDP server got "who-is-outside" from 10\.201\.0\.1:5353$/m,
      /^tcp {6}6 \d+ TIME_WAIT src=10\.201\.0\.2 dst=10\.201\.0\.1 sport=\d+ dport=8080 src=172\.30\.0\.2 dst=10\.201\.0\.2 sport=80 dport=\d+ \[ASSURED\] mark=0 use=1$/m,
      /^udp {6}17 \d+ src=172\.30\.0\.2 dst=10\.201\.0\.2 sport=5353 dport=53 src=10\.201\.0\.2 dst=10\.201\.0\.1 sport=53 dport=5353 mark=0 use=1$/m,
      /published: 0\.0\.0\.0:8080\/tcp -> 172\.30\.0\.2:80/,
    ],
  },
  'dns.ts': {
    expect: [
      /^lookup\('web'\) -> 10\.0\.0\.2 \(IPv4\)$/m,
      /^lookup\('nope\.lab'\) -> getaddrinfo ENOTFOUND nope\.lab$/m,
      /^GET http:\/\/web\/ -> hello from web$/m,
      /^answers\s+local 4  cache 0  forwarded 0$/m,
      /^web\.frontend\s+A\s+NOERROR\s+600\s+0\s+10\.0\.0\.2$/m,
    ],
  },
};

const cap = requireRoot(['ping']);

async function run(file: string, r: ExampleRun): Promise<string> {
  const { stdout, stderr } = await execFileAsync(
    process.execPath,
    ['--conditions=wirelab-source', '--import', 'tsx', join(examplesDir, file), ...(r.args ?? [])],
    { cwd: root, timeout: r.timeoutMs ?? 60_000, maxBuffer: 16 << 20 },
  );
  return stdout + stderr;
}

describe('examples', () => {
  const files = readdirSync(examplesDir).filter((f) => f.endsWith('.ts'));

  it('every example file is run by this test (or names the test that runs it)', () => {
    expect(files.filter((f) => !(f in RUNS))).toEqual([]);
  });

  it('every ```ts block of the README is in an example file, verbatim', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!.trimEnd());
    expect(blocks.length).toBeGreaterThan(0);
    const sources = files.map((f) => readFileSync(join(examplesDir, f), 'utf8'));
    const missing = blocks.filter((b) => !sources.some((s) => s.includes(b)));
    expect(missing).toEqual([]);
  });

  for (const [file, r] of Object.entries(RUNS)) {
    if ('runBy' in r) continue;
    it.skipIf(r.root === true && cap.skip)(`node --import tsx examples/${file}`, async () => {
      if (r.root === true) cap.assert();
      const out = await run(file, r);
      for (const re of r.expect) expect(out).toMatch(re);
    }, (r.timeoutMs ?? 60_000) + 5_000);
  }
});
