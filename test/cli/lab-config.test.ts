/**
 * `wirelab config` and `wirelab up` on lab files, as a user runs them: a good
 * file prints its normalized model (addresses allocated, services in start
 * order); a broken one prints every problem as FILE:LINE:COL FIELD: sentence,
 * no stack trace, exit 1 — before anything is created.
 */
import { describe, expect, it } from 'vitest';
import { wirelab as run, type CliResult } from '../helpers/cli.js';

const wirelab = (...args: string[]): Promise<CliResult> => run(args);

describe('wirelab config / up with lab files', () => {
  it('config prints the normalized lab: services in dependency order, addresses allocated', async () => {
    const r = await wirelab('config', '-f', 'examples/labs/quickstart.yaml');
    expect(r.code).toBe(0);
    const model = JSON.parse(r.stdout) as { name: string; services: Array<{ name: string; networks: Array<{ ipv4Address: string }> }> };
    expect(model.name).toBe('quickstart');
    expect(model.services.map((s) => [s.name, s.networks[0]!.ipv4Address])).toEqual([
      ['db', '172.30.0.2'],
      ['web', '172.30.0.3'],
    ]);
  });

  it('a broken file: every problem with file, line, column and field; exit 1; no stack trace', async () => {
    for (const verb of ['config', 'up']) {
      const r = await wirelab(verb, '-f', 'test/fixtures/labs/broken.yaml');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('test/fixtures/labs/broken.yaml:10:9 services.web.ports[0]: "8080:80/sctp": protocol must be tcp or udp');
      expect(r.stderr).toContain('test/fixtures/labs/broken.yaml:11:18 services.web.depends_on[0]: unknown service "nope"');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('a missing file says so', async () => {
    const r = await wirelab('config', '-f', 'no/such/lab.yaml');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no\/such\/lab\.yaml/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
