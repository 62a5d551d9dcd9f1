/**
 * Every lab file in examples/labs/ comes up with real containers, every
 * service reaches every other one (`pingall`), the services have the
 * addresses the file's comments promise, and `down` leaves nothing behind.
 * (quickstart.yaml, the README's, has its own deeper test: lab-up.test.ts.)
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { wirelab as runCli, type CliResult } from '../helpers/cli.js';
import { requireRoot } from '../helpers/netns.js';
import { TOPOLOGY_EXAMPLES } from '../helpers/example-labs.js';

const run = promisify(execFile);
const cap = requireRoot(['python3', 'ping']);
const wirelab = (...args: string[]): Promise<CliResult> => runCli(args, { timeoutMs: 120_000 });


/** What each example's comments promise: service → address, allocated in file order as Docker's IPAM does. */
const EXPECTED: Record<string, { lab: string; addresses: Record<string, string> }> = {
  // No name: in the file: the lab is named after its directory, as compose names a project.
  'two-containers.yaml': { lab: 'labs', addresses: { a: '10.88.0.2', b: '10.88.0.3' } },
  'web-app.yaml': { lab: 'shop', addresses: { web: '172.30.0.10', api: '172.30.0.2', db: '172.30.0.3', cache: '172.30.0.4' } },
  'static-addresses.yaml': { lab: 'static', addresses: { client: '192.168.50.1', server: '192.168.50.2' } },
};

afterAll(async () => {
  for (const e of Object.values(EXPECTED)) await wirelab('down', e.lab);
});

describe.skipIf(cap.skip)('the example labs', () => {
  it('every example lab is listed here', () => {
    // quickstart.yaml: lab-up.test.ts; the ones beyond one flat network: example-labs-topology.test.ts.
    const files = readdirSync('examples/labs').filter((f) => f.endsWith('.yaml') && f !== 'quickstart.yaml');
    expect(files.sort()).toEqual([...Object.keys(EXPECTED), ...TOPOLOGY_EXAMPLES].sort());
  });

  for (const [file, want] of Object.entries(EXPECTED)) {
    it(`${file}: up -d, the promised addresses, pingall, down`, async () => {
      cap.assert();
      const up = await wirelab('up', '-d', '-f', `examples/labs/${file}`);
      expect(up.code, up.stdout + up.stderr).toBe(0);
      try {
        const ps = JSON.parse((await wirelab('ps', want.lab, '--json')).stdout) as { services: Array<{ name: string; address: string; namespace: string }> };
        expect(Object.fromEntries(ps.services.map((s) => [s.name, s.address]))).toEqual(want.addresses);
        const ping = await wirelab('pingall', want.lab);
        expect(ping.stdout, ping.stdout + ping.stderr).toContain('*** Results: 0% dropped');
        const down = await wirelab('down', want.lab);
        expect(down.stdout).toContain(`lab ${want.lab} removed`);
        const list = (await run('ip', ['netns', 'list'])).stdout;
        for (const s of ps.services) expect(list).not.toContain(s.namespace);
      } finally {
        await wirelab('down', want.lab);
      }
    });
  }
});
