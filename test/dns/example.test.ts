/**
 * examples/dns.ts runs as a user would run it (`node --import tsx`), and
 * prints what it promises: the lookup through the gateway's DnsServer, Node's
 * ENOTFOUND for a missing lab name, the page fetched from http://web/, and
 * the counters and cache tables.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

it('examples/dns.ts resolves web through the gateway and fetches http://web/', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/dns.ts'], { cwd: ROOT, timeout: 60_000 });
  expect(stdout).toMatch(/^lookup\('web'\) -> 10\.0\.0\.2 \(IPv4\)$/m);
  expect(stdout).toMatch(/^lookup\('nope\.lab'\) -> getaddrinfo ENOTFOUND nope\.lab$/m);
  expect(stdout).toMatch(/^GET http:\/\/web\/ -> hello from web$/m);
  expect(stdout).toMatch(/^answers\s+local 4  cache 0  forwarded 0$/m);
  expect(stdout).toMatch(/^web\.frontend\s+A\s+NOERROR\s+600\s+0\s+10\.0\.0\.2$/m);
});
