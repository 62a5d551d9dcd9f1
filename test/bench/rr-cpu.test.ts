/**
 * The pieces behind bench/tcp's and bench/bridge's request/response and CPU
 * rows, by shape: rr's result line, /proc/PID/stat fields (a comm with spaces
 * and parentheses), the CPU sample counting a child's time whether it is
 * still running or has been reaped, and bench/c/rr.c itself over 127.0.0.1
 * (compiled as the benches compile it; a bounded number of exchanges).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cpuSample, cpuSecondsBetween, parseProcStat } from '../../bench/lib/cpu.js';
import { compileRr, parseRr } from '../../bench/lib/rr.js';
import { onPath } from '../../bench/lib/args.js';
import { loopbackPort } from '../helpers/ports.js';

const dir = mkdtempSync(join(tmpdir(), 'wl-rr-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A node child that spends `ms` of its own CPU time, then exits. */
const BURN = (ms: number) => `const t = process.cpuUsage(); for (;;) { const u = process.cpuUsage(t); if (u.user + u.system >= ${ms * 1000}) break; }`;

describe('parseRr', () => {
  it('reads the client line', () => {
    expect(parseRr('rr: count 31992 p50_us 18.3 p99_us 126.6 min_us 17.1 max_us 6744.7\n')).toEqual({
      count: 31992, p50Us: 18.3, p99Us: 126.6, minUs: 17.1, maxUs: 6744.7,
    });
    expect(() => parseRr('connect: Connection refused\n')).toThrow(/rr printed no result/);
  });
});

describe('cpu', () => {
  it('parses /proc/PID/stat fields after a comm holding spaces and parentheses', () => {
    const s = parseProcStat('4242 (a (b) c) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 31 7 3 20 0 1 0 100 0 0\n');
    expect(s).toEqual({ pid: 4242, comm: 'a (b) c', ppid: 17, own: 281, children: 10 });
    const self = parseProcStat(readFileSync('/proc/self/stat', 'utf8'));
    expect(self.pid).toBe(process.pid);
    expect(Number.isFinite(self.own)).toBe(true);
  });

  it("counts a child's CPU while it runs and after it has been reaped", async () => {
    const a = cpuSample();
    const child = spawn(process.execPath, ['-e', BURN(300)], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 100));
    const running = cpuSample();
    expect(cpuSecondsBetween(a, running)).toBeGreaterThanOrEqual(0);
    await new Promise((r) => child.once('exit', r));
    const b = cpuSample();
    expect(cpuSecondsBetween(a, b)).toBeGreaterThanOrEqual(0.25); // its 300 ms (ticks of 10 ms) are in cutime/cstime now
    expect(cpuSecondsBetween(running, b)).toBeGreaterThanOrEqual(0);
  });
});

describe.skipIf(!onPath('cc'))('bench/c/rr.c over 127.0.0.1', () => {
  it('serves, answers a bounded number of 64-byte exchanges and prints count, p50 ≤ p99', async () => {
    const rr = compileRr(dir);
    const port = String(await loopbackPort());
    const server = spawn(rr, ['server', '127.0.0.1', port], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => {
        server.stdout.on('data', (d: Buffer) => d.toString().includes('READY') && resolve());
        server.once('exit', (code) => reject(new Error(`rr server exited ${code}`)));
      });
      const out = await new Promise<string>((resolve, reject) =>
        execFile(rr, ['client', '127.0.0.1', port, '64', '10', '500'], { timeout: 20_000 }, (e, stdout) => (e ? reject(e) : resolve(stdout))),
      );
      const r = parseRr(out);
      expect(r.count).toBe(500); // MAX reached long before 10 s
      expect(r.minUs).toBeGreaterThan(0);
      expect(r.p50Us).toBeLessThanOrEqual(r.p99Us);
      expect(r.p99Us).toBeLessThanOrEqual(r.maxUs);
    } finally {
      server.kill('SIGKILL');
    }
  });
});
