/**
 * The rootless demo (src/lab/demo-memory.ts): run in this process, run as
 * an unprivileged user (uid 65534) in a child, and held up with `stay` while
 * a real curl fetches the published page, then ended with SIGINT. Its
 * capture must open in the real tshark without a malformed frame.
 */
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMemoryDemo } from '../../src/lab/demo-memory.js';

const execFileAsync = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const DEMO_URL = pathToFileURL(join(ROOT, 'src/lab/demo-memory.ts')).href;

/** A free TCP port on 127.0.0.1 (bound then released). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** `node -e` source that runs the demo and sets the exit code by its result (no process.exit: it must end by itself). */
function childScript(port: number, stay: boolean, pcapPath: string): string {
  return `import(${JSON.stringify(DEMO_URL)}).then((m) => m.runMemoryDemo(${JSON.stringify({ port, stay, pcapPath })}))` +
    `.then((ok) => { process.exitCode = ok ? 0 : 1; }, (e) => { console.error(e); process.exitCode = 2; });`;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wirelab-memdemo-'));
  await chmod(dir, 0o777);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('runMemoryDemo', () => {
  it('runs every step in process, and its pcapng opens in tshark with frames on several interfaces', async () => {
    const lines: string[] = [];
    const pcapPath = join(dir, 'inproc.pcapng');
    const port = await freePort();
    const ok = await runMemoryDemo({ port, stay: false, pcapPath, out: (l) => lines.push(l) });
    const text = lines.join('\n');
    expect(ok, text).toBe(true);
    expect(text).toMatch(/^created network app 172\.30\.0\.0\/24/m);
    expect(text).toMatch(new RegExp(`✓ host\\$ GET http://127\\.0\\.0\\.1:${port}/`));
    expect(text).toMatch(/HTTP 200 {2}<!doctype html>.*items from api/);
    expect(text).toMatch(/api\$ lookup db → 172\.30\.0\.4/);
    expect(text).toMatch(/api\$ GET motd → VALUE hello from db/);
    expect(text).toMatch(/\*\*\* Results: 0% dropped \(30\/30 received\)/);
    expect(text).toMatch(/you are 203\.0\.113\.1\b/);
    expect(text).toMatch(/^ +tcp .*src=172\.30\.0\.6 dst=203\.0\.113\.10 .*src=203\.0\.113\.10 dst=203\.0\.113\.1 /m);
    expect(text).toMatch(/frames on \d+ interfaces/);
    expect(text).toMatch(/tshark -r /);
    expect(text).toMatch(/^demo passed/m);
    expect(text).not.toMatch(/FAILED/);

    const stat = await execFileAsync('tshark', ['-r', pcapPath, '-q', '-z', 'io,stat,0']);
    const frames = Number(/\|\s*[\d.]+ <> [\d.]+\s*\|\s*(\d+)\s*\|/.exec(stat.stdout)?.[1] ?? 0);
    expect(frames).toBeGreaterThan(50);
    const verbose = await execFileAsync('tshark', ['-r', pcapPath, '-V'], { maxBuffer: 256 * 1024 * 1024 });
    expect(verbose.stdout.split('\n').filter((l) => /malformed/i.test(l)).length).toBe(0);
    const perIf = await execFileAsync('tshark', ['-r', pcapPath, '-T', 'fields', '-e', 'frame.interface_name']);
    const names = new Set(perIf.stdout.split('\n').filter((l) => l !== ''));
    for (const n of ['web', 'api', 'db', 'app-gw', 'internet']) expect(names).toContain(n);
  });

  it('says "demo FAILED: <reason>" and returns false when the host port is taken, closing everything', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as net.AddressInfo).port;
    const lines: string[] = [];
    try {
      const ok = await runMemoryDemo({ port, stay: false, pcapPath: join(dir, 'taken.pcapng'), out: (l) => lines.push(l) });
      expect(ok).toBe(false);
      expect(lines.join('\n')).toMatch(new RegExp(`^demo FAILED: .*127\\.0\\.0\\.1:${port}.*in use`, 'm'));
      expect(lines.join('\n')).not.toMatch(/demo passed/);
    } finally {
      taken.close();
    }
  });

  it('runs as an unprivileged user (uid 65534) and exits 0 on its own', async () => {
    const pcapPath = join(dir, 'nobody.pcapng');
    const port = await freePort();
    const asNobody = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
    const env = { ...process.env, HOME: dir, TMPDIR: dir };
    // The repository and its node_modules must be readable by that user, or the demo's failure would mean nothing.
    const [cmd0, ...args0] = [...asNobody, process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(join(ROOT, 'node_modules/tsx/package.json'))}, 4)`];
    await execFileAsync(cmd0!, args0, { cwd: ROOT, env });
    const [cmd, ...args] = [...asNobody, process.execPath, '--import', 'tsx', '-e', childScript(port, false, pcapPath)];
    const r = await execFileAsync(cmd!, args, { cwd: ROOT, env, timeout: 50_000 }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    expect('code' in r ? r.code : 0, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^demo passed/m);
    expect(r.stdout).toMatch(/0% dropped/);
    // The capture was written by that user: proof the demo ran without root.
    if (asNobody.length > 0) expect((await stat(pcapPath)).uid).toBe(65534);
  });

  it('with stay, serves a real curl on the published port until SIGINT, then exits 0 with "demo passed"', async () => {
    const pcapPath = join(dir, 'stay.pcapng');
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', childScript(port, true, pcapPath)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await new Promise<void>((ready, fail) => {
        const check = (): void => {
          if (stdout.includes('up until Ctrl-C')) ready();
          else if (child.exitCode !== null) fail(new Error(`demo ended early:\n${stdout}\n${stderr}`));
          else setTimeout(check, 50);
        };
        check();
      });
      const curl = await execFileAsync('curl', ['-s', '--max-time', '10', `http://127.0.0.1:${port}/`]);
      expect(curl.stdout).toMatch(/<!doctype html>.*items from api.*<li>switch<\/li>/);
      child.kill('SIGINT');
      expect(await exited, `${stdout}\n${stderr}`).toBe(0);
      expect(stdout).toMatch(/SIGINT: stopping/);
      expect(stdout).toMatch(/^demo passed/m);
      expect(stdout).not.toMatch(/FAILED/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
