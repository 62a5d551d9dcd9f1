/**
 * `wirelab up -f examples/labs/quickstart.yaml` (the README's lab) as a user
 * runs it, with real containers: the lab file
 * is loaded, `db` starts and becomes healthy by its healthcheck before `web`
 * starts (depends_on: service_healthy), the table names both, `curl` on the
 * host reaches `web` through its published port, `web` finds `db` by name,
 * and Ctrl-C takes everything down: no namespace left, nothing for
 * `wirelab cleanup`.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/netns.js';

const run = promisify(execFile);
const cap = requireRoot(['curl', 'python3', 'getent']);
const LAB = 'examples/labs/quickstart.yaml';
let child: ReturnType<typeof spawn> | undefined;
let output = '';

function waitFor(re: RegExp, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = setInterval(() => {
      if (re.test(output)) {
        clearInterval(tick);
        resolve();
      } else if (Date.now() - t0 > ms || child?.exitCode !== null) {
        clearInterval(tick);
        reject(new Error(`wirelab up did not print ${re} (exit ${child?.exitCode}):\n${output}`));
      }
    }, 50);
  });
}

beforeAll(() => {
  if (cap.skip) return;
  cap.assert();
  child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'up', '-f', LAB], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
});

afterAll(async () => {
  if (child !== undefined && child.exitCode === null) {
    child.kill('SIGKILL');
    await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'cleanup']).catch(() => undefined);
  }
});

describe.skipIf(cap.skip)('wirelab up', () => {
  it('starts db, waits until it is healthy, then starts web, and prints the table', async () => {
    await waitFor(/is up; Ctrl-C takes it down/, 60_000);
    expect(output).toMatch(/service web waits for db to be healthy/);
    expect(output.indexOf('service db ')).toBeLessThan(output.indexOf('service web '));
    expect(output).toMatch(/^db\s+front\s+172\.30\.0\.2\s+healthy\s+wl-[0-9a-f]+/m);
    expect(output).toMatch(/^web\s+front\s+172\.30\.0\.3\s+running\s+wl-[0-9a-f]+\s+8080:80$/m);
  });

  it('curl on the host reaches web through its published port; web finds db by name', async () => {
    // `web` is started, not necessarily listening yet (compose's service_started): retry as a user would.
    const { stdout } = await run('curl', ['-sS', '--retry', '20', '--retry-delay', '0', '--retry-all-errors', '--retry-max-time', '15', '--max-time', '5', 'http://127.0.0.1:8080/']);
    expect(stdout).toMatch(/Directory listing/);
    const webNs = /^web\s+\S+\s+\S+\s+\S+\s+(wl-[0-9a-f]+)/m.exec(output)![1]!;
    const g = await run('ip', ['netns', 'exec', webNs, 'getent', 'hosts', 'db']);
    expect(g.stdout).toMatch(/^172\.30\.0\.2\s+db/m);
  });

  it('Ctrl-C takes the lab down and leaves nothing behind', async () => {
    const namespaces = [...output.matchAll(/namespace (wl-[0-9a-f]+)/g)].map((m) => m[1]!);
    expect(namespaces).toHaveLength(2);
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child!.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toMatch(/lab quickstart removed/);
    const list = (await run('ip', ['netns', 'list'])).stdout;
    for (const n of namespaces) expect(list).not.toContain(n);
    const stale = JSON.parse((await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'cleanup', '--json'])).stdout) as Array<{ namespaces: string[] }>;
    expect(stale.filter((r) => r.namespaces.some((n) => namespaces.includes(n)))).toEqual([]);
  });
});
