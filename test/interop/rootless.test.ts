/**
 * Labs without root: `wirelab demo` and `wirelab up` run as nobody (uid
 * 65534, no groups, no capabilities) enter a user namespace of their own and
 * make real namespaces in it; here /dev/net/tun is root-only, so containers
 * get veth pairs held through AF_PACKET. A published port is reached from
 * this (the user's own) network namespace, which proves the listener handed
 * in from outside. With user namespaces pretended away (WIRELAB_NO_USERNS=1)
 * `up` says why it cannot run; the demo's in-memory fallback is
 * test/interop/demo.test.ts's.
 *
 * Nothing is created in the root namespace: every namespace and veth lives
 * and dies inside the user namespace, which the test checks afterwards.
 */
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/netns.js';
import { pickLoopbackPort } from '../helpers/ports.js';

const run = promisify(execFile);
const cap = requireRoot(['ip', 'setpriv', 'unshare', 'curl', 'python3']);
const dir = mkdtempSync(join(tmpdir(), 'wl-ap-rootless-'));
chmodSync(dir, 0o777);
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
const env = { ...process.env, HOME: dir, TMPDIR: dir };
const port = (k: number): number => pickLoopbackPort(k);

function asNobody(args: string[], extraEnv: Record<string, string> = {}, timeout = 90_000) {
  return run('setpriv', [...NOBODY, process.execPath, '--import', 'tsx', 'src/cli/main.ts', ...args], { timeout, env: { ...env, ...extraEnv } });
}

async function namespacesAndLinks(): Promise<string> {
  return (await run('ip', ['netns', 'list'])).stdout + (await run('ip', ['-br', 'link'])).stdout;
}

beforeAll(async () => {
  cap.assert();
  // nobody must be able to read the repository, node and node_modules; say so plainly if not.
  await run('setpriv', [...NOBODY, process.execPath, '-e', "require('fs').accessSync('src/cli/main.ts'); require.resolve('tsx')"]).catch((e: Error) => {
    throw new Error(`uid 65534 cannot read the checkout or node_modules (make them world-readable): ${e.message}`);
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(cap.skip)('rootless labs', () => {
  it('wirelab demo as nobody: real namespaces in a user namespace, veth + AF_PACKET, the published port reached from the host', async () => {
    const p = port(1);
    // The whole output in every failure message: a demo failure must say which step.
    const { stdout } = await asNobody(['demo', '-p', String(p), '-w', join(dir, 'demo.pcapng')]).catch((e: { stdout?: string; stderr?: string }) => {
      throw new Error(`the rootless demo failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    });
    expect(stdout).toContain('(not root: running the lab in a user namespace of its own, as rootless podman does)');
    expect(stdout).toContain('containers attached by veth pairs held through AF_PACKET');
    expect(stdout, stdout).not.toContain('✗');
    expect(stdout).toMatch(new RegExp(`✓ host\\$ curl http://127\\.0\\.0\\.1:${p}/ .*\\n.*<li>apple</li>`));
    expect(stdout).toContain('*** Results: 0% dropped (36/36 received)');
    expect(stdout).toContain('demo passed');
    const made = [...stdout.matchAll(/\s(wl-[0-9a-f]{6})\s/g)].map((m) => m[1]!);
    expect(made.length).toBeGreaterThanOrEqual(6);
    // Made and removed inside the user namespace: never visible here.
    const here = await namespacesAndLinks();
    for (const ns of made) expect(here).not.toContain(ns);
  }, 100_000);

  it('wirelab up as nobody: a service published on 127.0.0.1 answers curl from the user\'s namespace; Ctrl-C removes everything', async () => {
    const p = port(2);
    const lab = join(dir, 'rootless.yaml');
    writeFileSync(
      lab,
      [
        'name: aprootless',
        'networks:',
        '  net: {}',
        'services:',
        '  web:',
        `    command: ["python3", "-m", "http.server", "80", "--directory", "/proc/sys/kernel"]`,
        `    ports: ["127.0.0.1:${p}:80"]`,
        '    networks: [net]',
        '',
      ].join('\n'),
    );
    chmodSync(lab, 0o644);
    const child = spawn('setpriv', [...NOBODY, process.execPath, '--import', 'tsx', 'src/cli/main.ts', 'up', '-f', lab], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const t0 = Date.now();
      while (!/service web .*ports 127\.0\.0\.1:/.test(out)) {
        if (Date.now() - t0 > 60_000 || child.exitCode !== null) throw new Error(`the lab did not come up:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(out).toContain('(not root: the lab runs in a user namespace of its own');
      // http.server may take a moment to listen inside its container.
      let body = '';
      for (let i = 0; i < 50 && !body.includes('ostype'); i++) {
        body = await run('curl', ['-sS', '--max-time', '3', `http://127.0.0.1:${p}/`]).then((r) => r.stdout, () => '');
        if (!body.includes('ostype')) await new Promise((r) => setTimeout(r, 200));
      }
      expect(body).toContain('ostype');
    } finally {
      child.kill('SIGINT');
      // Bounded: if the lab does not go down, kill the outer process (the inner one follows it on disconnect).
      setTimeout(() => child.kill('SIGKILL'), 20_000).unref();
    }
    expect(await exited, out).toBe(0);
    expect(out).toContain('lab aprootless removed');
    // The port is free again in this namespace.
    await expect(run('curl', ['-sS', '--max-time', '2', `http://127.0.0.1:${p}/`])).rejects.toThrow();
  }, 100_000);

  it('wirelab up without root where user namespaces are unavailable says why, in one line, and creates nothing', async () => {
    const lab = join(dir, 'small.yaml');
    writeFileSync(lab, 'name: apnouserns\nnetworks:\n  net: {}\nservices:\n  a:\n    command: ["sleep", "1"]\n    networks: [net]\n');
    chmodSync(lab, 0o644);
    const r = await asNobody(['up', '-f', lab], { WIRELAB_NO_USERNS: '1' }, 30_000).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/a lab needs root or a user namespace, and user namespaces turned off \(WIRELAB_NO_USERNS=1\)/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
