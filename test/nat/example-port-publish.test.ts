/** Runs examples/port-publish.ts as a user would and checks what it prints (loopback only). */
import { execFile } from 'node:child_process';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

it('examples/port-publish.ts fetches through the published port and exits', async () => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/port-publish.ts', String(port)], {
    cwd: root,
    timeout: 30_000,
  });
  expect(stdout).toContain('HTTP 200: hello from web, you asked for /index.html');
  expect(stdout).toMatch(new RegExp(`80/tcp +-> 127\\.0\\.0\\.1:${port} +10\\.88\\.0\\.2 +web +1 `));
});
