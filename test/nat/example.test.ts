/** examples/nat-router.ts runs and prints what its header promises. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

describe('examples/nat-router.ts', () => {
  it('fetches through the published port and by hairpin, and prints the conntrack table', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/nat-router.ts'], { timeout: 60_000 });
    expect(stdout).toMatch(/^outside -> 10\.201\.0\.1:8080: hello 10\.201\.0\.2:\d+$/m);
    expect(stdout).toMatch(/^app -> 10\.201\.0\.1:8080 \(hairpin\): hello 172\.30\.0\.1:\d+$/m);
    expect(stdout).toMatch(/^outside UDP server got "who-is-outside" from 10\.201\.0\.1:5353$/m);
    expect(stdout).toMatch(/^tcp {6}6 \d+ TIME_WAIT src=10\.201\.0\.2 dst=10\.201\.0\.1 sport=\d+ dport=8080 src=172\.30\.0\.2 dst=10\.201\.0\.2 sport=80 dport=\d+ \[ASSURED\] mark=0 use=1$/m);
    expect(stdout).toMatch(/^udp {6}17 \d+ src=172\.30\.0\.2 dst=10\.201\.0\.2 sport=5353 dport=53 src=10\.201\.0\.2 dst=10\.201\.0\.1 sport=53 dport=5353 mark=0 use=1$/m);
    expect(stdout).toContain('published: 0.0.0.0:8080/tcp -> 172.30.0.2:80');
  });
});
