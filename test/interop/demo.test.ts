/**
 * The README's first command: `wirelab demo` must pass on a fresh machine
 * (as root) and leave nothing behind; `wirelab cleanup` finds nothing after it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, expect, it } from 'vitest';
import { requireRoot } from '../helpers/netns.js';

const run = promisify(execFile);
const cap = requireRoot(['ip', 'ping']);
beforeAll(() => cap.assert());

async function wirelab(...args: string[]) {
  return run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { timeout: 60_000 });
}

it('wirelab demo pings both ways through TAPs held by wirelab and removes everything', async () => {
  for (const flags of [[], ['--vnet']]) {
    const { stdout } = await wirelab('demo', ...flags);
    expect(stdout).toContain('3 packets transmitted, 3 received, 0% packet loss');
    expect(stdout.match(/0% packet loss/g)).toHaveLength(2);
    expect(stdout).toContain('demo passed');
    // The containers and TAPs it named are gone.
    const made = [...stdout.matchAll(/^container (\S+): eth0 \S+ is TAP (\S+),/gm)];
    expect(made).toHaveLength(2);
    const netns = (await run('ip', ['netns', 'list'])).stdout;
    const links = (await run('ip', ['-br', 'link'])).stdout;
    for (const [, ns, tap] of made) {
      expect(netns).not.toContain(ns);
      expect(links).not.toContain(tap);
    }
  }
  const { stdout } = await wirelab('cleanup', '--json');
  expect(JSON.parse(stdout)).toEqual([]);
});
