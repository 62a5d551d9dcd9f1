/**
 * `wirelab switch` as a user runs it: TAPs given on the command line, moved
 * into containers, VLANs honoured, tables printed on Ctrl-C; bad port specs
 * are refused with a sentence naming the problem.
 */
import { spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Lab } from '../../src/lab/lab.js';
import { requireRoot } from '../helpers/netns.js';

const run = promisify(execFile);
const cap = requireRoot(['ip', 'ping']);
const lab = new Lab();
beforeAll(() => cap.assert());
afterAll(async () => {
  await lab.close().catch(() => undefined);
});

it('switches between containers by VLAN and prints the FDB and counters on SIGINT', async () => {
  const id = randomBytes(3).toString('hex');
  const [ta, tb, tc] = ['a', 'b', 'c'].map((s) => `wls${id}${s}`) as [string, string, string];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'switch', `${ta}:10`, `${tb}:10`, `${tc}:20`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    for (let i = 0; i < 200 && !out.includes('switching'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(out).toContain(`switching ${ta}, ${tb}, ${tc}`);
    const a = await lab.container({ link: ta, address: '10.230.0.1/24', mac: '02:00:00:e6:00:01' });
    await lab.container({ link: tb, address: '10.230.0.2/24', mac: '02:00:00:e6:00:02' });
    await lab.container({ link: tc, address: '10.230.0.3/24', mac: '02:00:00:e6:00:03' });
    const ab = await a.exec(['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.230.0.2']);
    expect(ab.stdout).toContain('2 packets transmitted, 2 received');
    const ac = await a.exec(['ping', '-c', '1', '-W', '1', '10.230.0.3']);
    expect(ac.stdout).toContain('1 packets transmitted, 0 received');
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
  }
  expect(out).toMatch(new RegExp(`02:00:00:e6:00:01 dev ${ta} vlan 10 master br0`));
  expect(out).toMatch(new RegExp(`02:00:00:e6:00:02 dev ${tb} vlan 10 master br0`));
  expect(out).not.toMatch(new RegExp(`02:00:00:e6:00:01 dev ${tc}`));
});

it('refuses a bad port spec with a sentence naming it', async () => {
  const r = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'switch', 'tapx:5000'], { timeout: 20_000 }).catch(
    (e: { stderr: string; code: number }) => e,
  );
  expect((r as { code: number }).code).not.toBe(0);
  expect((r as { stderr: string }).stderr).toContain('port "tapx:5000": VLAN 5000 is outside 1..4094');
});
