/**
 * `wirelab switch` refuses, before it opens any TAP, what a new user ran into:
 * a capture file it cannot write, and a port name that is already an
 * interface — never advising to delete one wirelab did not make, and
 * pointing at `wirelab cleanup` when wirelab's registry says a dead run left
 * it behind. Root: it creates a veth pair under a unique name (deleted in
 * afterAll) to stand for an existing interface.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { requireRoot } from '../helpers/netns.js';

const cap = requireRoot(['ip']);
const id = randomBytes(3).toString('hex');
const existing = `wle${id}a`;
const peer = `wle${id}b`;
const fresh = `wle${id}n`;
const stateDir = mkdtempSync(join(tmpdir(), 'wl-switch-state-'));

beforeAll(() => {
  cap.assert();
  execFileSync('ip', ['link', 'add', existing, 'type', 'veth', 'peer', 'name', peer]);
});
afterAll(() => {
  spawnSync('ip', ['link', 'del', existing], { stdio: 'ignore' });
  rmSync(stateDir, { recursive: true, force: true });
});

function wirelabSwitch(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'switch', ...args],
      { timeout: 20_000, env: { ...process.env, WIRELAB_STATE_DIR: stateDir, ...env } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const linkExists = (name: string) => spawnSync('ip', ['link', 'show', 'dev', name], { stdio: 'ignore' }).status === 0;

it('fails on a capture file in a missing directory before opening any TAP', async () => {
  const r = await wirelabSwitch([fresh, '--pcap', `/nonexistent-${id}/x.pcapng`]);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(`wirelab: cannot write the capture to /nonexistent-${id}/x.pcapng: directory /nonexistent-${id} does not exist\n`);
  expect(r.stdout).not.toContain('switching');
  expect(linkExists(fresh)).toBe(false);
});

it('says an existing interface wirelab did not make exists, and never advises deleting it', async () => {
  const r = await wirelabSwitch([fresh, existing]);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(`wirelab: interface ${existing} exists and was not made by wirelab: choose another name for the switch port\n`);
  expect(r.stderr).not.toContain('ip link del');
  expect(linkExists(existing)).toBe(true);
  expect(linkExists(fresh)).toBe(false); // refused before the first port's TAP was opened
});

it('points at `wirelab cleanup` when a dead wirelab run recorded the name, and names a live one', async () => {
  // A pid that has exited: the registry's liveness test (start time and boot id) fails for it.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  const state = (pid: number, startTime: string, bootId: string) =>
    JSON.stringify({ version: 1, pid, startTime, bootId, argv: [process.execPath, 'wirelab', 'up', '-d'], namespaces: [], interfaces: [existing] });
  const file = join(stateDir, `${dead}.json`);
  writeFileSync(file, state(dead, 'gone', 'gone'));
  try {
    const r = await wirelabSwitch([existing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `wirelab: interface ${existing} exists: a previous wirelab run (pid ${dead}, no longer running) recorded it as its own and left it behind; \`wirelab cleanup\` removes it, or choose another name\n`,
    );
  } finally {
    rmSync(file, { force: true });
  }
  // This test process stands for a running wirelab that holds the interface.
  const stat = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
  const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const live = join(stateDir, `${process.pid}.json`);
  writeFileSync(live, state(process.pid, startTime, bootId));
  try {
    const r = await wirelabSwitch([existing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`wirelab: interface ${existing} exists: wirelab process ${process.pid} (wirelab up -d) holds it and is still running`);
    expect(r.stderr).not.toContain('ip link del');
  } finally {
    rmSync(live, { force: true });
  }
  expect(linkExists(existing)).toBe(true);
});
