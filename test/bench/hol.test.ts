/**
 * bench/hol's virtual mode, by shape only (never by speed): a tiny run —
 * 300 messages, 1 ms apart, 10 ms each way, seed 7 — at 0 % and 5 % loss.
 * TCP's tail grows with loss (a lost segment holds back what follows),
 * UDP's does not (it loses the message instead), udp-rtx repairs every loss
 * without ordering, and the same seed gives the same run. Then the bench as
 * a user runs it, end to end: exit 0, hol.json and a well-formed hol.svg.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { holModel } from '../../bench/lib/hol-model.js';
import type { HolRunResult, HolRunSpec, HolTransport } from '../../bench/lib/hol-types.js';
import { runVirtualHol } from '../../bench/lib/hol-virtual.js';
import { holModels, holRows, summarize, type HolSummary } from '../../bench/hol.js';

const spec = (transport: HolTransport, lossPercent: number): HolRunSpec => ({
  transport,
  lossPercent,
  lossModel: 'random',
  delayMs: 10,
  jitterMs: 0,
  reorderPercent: 0,
  messageBytes: 200,
  intervalMs: 1,
  pattern: 'steady',
  burstSize: 0,
  messages: 300,
  connections: 4,
  seed: 7,
});

describe('virtual hol, 300 messages, 0 % and 5 % loss', () => {
  const runs = new Map<string, { r: HolRunResult; s: HolSummary }>();
  const get = async (t: HolTransport, loss: number) => {
    const key = `${t}/${loss}`;
    if (!runs.has(key)) {
      const r = await runVirtualHol(spec(t, loss));
      runs.set(key, { r, s: summarize(r) });
    }
    return runs.get(key)!;
  };

  it('without loss every transport delivers everything at the path delay', async () => {
    for (const t of ['tcp', 'udp', 'udp-rtx'] as const) {
      const { r, s } = await get(t, 0);
      expect(r.mode).toBe('virtual');
      expect(r.messages).toHaveLength(300);
      expect(r.linkLosses).toBe(0);
      expect(r.baseRttMs).toBeCloseTo(20, 0);
      expect(s.deliveredFraction).toBe(1);
      expect(s.p99Ms).toBeGreaterThanOrEqual(10);
      expect(s.p99Ms).toBeLessThan(12);
    }
  });

  it('TCP: 5 % loss stretches the tail (head-of-line blocking) but everything arrives', async () => {
    const clean = (await get('tcp', 0)).s;
    const lossy = await get('tcp', 5);
    expect(lossy.r.linkLosses).toBeGreaterThan(0);
    expect(lossy.s.deliveredFraction).toBe(1);
    expect(lossy.s.p99Ms).toBeGreaterThanOrEqual(2 * clean.p99Ms);
    expect(lossy.s.p99Ms).toBeGreaterThanOrEqual(clean.p99Ms + lossy.r.baseRttMs);
    // In-order delivery: a message is never handed over before one sent earlier.
    let last = -Infinity;
    for (const m of lossy.r.messages) {
      expect(m.receivedMs!).toBeGreaterThanOrEqual(last);
      last = m.receivedMs!;
    }
  });

  it('UDP: 5 % loss loses messages but the delivered ones are as fast as without loss', async () => {
    const clean = (await get('udp', 0)).s;
    const lossy = (await get('udp', 5)).s;
    expect(lossy.deliveredFraction).toBeLessThan(1);
    expect(lossy.deliveredFraction).toBeGreaterThan(0.85);
    expect(lossy.p99Ms).toBeLessThanOrEqual(1.2 * clean.p99Ms);
  });

  it('udp-rtx: every message arrives; the repaired ones a retransmission timeout late, the others on time', async () => {
    const { r, s } = await get('udp-rtx', 5);
    expect(r.linkLosses).toBeGreaterThan(0);
    expect(s.deliveredFraction).toBe(1);
    expect(s.p50Ms).toBeLessThan(12);
    expect(s.maxMs).toBeGreaterThan(s.p50Ms + r.baseRttMs);
  });

  it('the same seed gives the same run', async () => {
    for (const t of ['tcp', 'udp-rtx'] as const) {
      const again = await runVirtualHol(spec(t, 5));
      expect(again).toEqual((await get(t, 5)).r);
    }
  });

  it('rows: each transport against udp at the same loss, and the TCP model beside the measurement', async () => {
    const results = [await get('tcp', 0), await get('udp', 0), await get('tcp', 5), await get('udp', 5)];
    const summaries = results.map((x) => x.s);
    const models = holModels(
      results.map((x) => x.r),
      summaries,
    );
    expect(models.map((m) => m.lossPercent)).toEqual([5]);
    const rows = holRows(summaries, models);
    const row = (path: string, metric: string) => rows.find((r) => r.path === path && r.metric === metric)!;
    expect(row('tcp loss 5%', 'p99 ms').reference).toBe('udp loss 5%');
    expect(row('udp loss 5%', 'p99 ms').ratio).toBe(1);
    expect(row('tcp loss 5%', 'p99 ms').ratio).toBeGreaterThan(2);
    expect(row('tcp loss 5%', 'stall per loss ms').reference).toBe('model: tcp loss 5%');
    expect(row('model: tcp loss 5%', 'stall per loss ms').value).toBeGreaterThan(0);
  });
});

describe('the model', () => {
  it('fast retransmit costs an RTT and three intervals; a sparse stream waits for the RTO', () => {
    const dense = holModel({ rttMs: 20, intervalMs: 1, threeLaterMs: 3, loss: 0.01, burstFrames: 1 });
    expect(dense.fastRetransmit).toBe(true);
    expect(dense.fastRetransmitStallMs).toBe(23);
    expect(dense.stallPerLossMs).toBeCloseTo(0.99 * 23 + 0.01 * (23 + 200), 6);
    expect(dense.p99Ms).toBeGreaterThan(10);
    const sparse = holModel({ rttMs: 20, intervalMs: 100, threeLaterMs: 300, loss: 0.01, burstFrames: 1 });
    expect(sparse.fastRetransmit).toBe(false);
    expect(sparse.stallPerLossMs).toBe(200);
    const none = holModel({ rttMs: 20, intervalMs: 1, threeLaterMs: 3, loss: 0, burstFrames: 1 });
    expect(none.p99Ms).toBe(10);
  });
});

describe('npm run bench -- hol, end to end', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wl-hol-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 and writes hol.json (rows + per-run percentiles) and a well-formed hol.svg', async () => {
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'bench/run.ts', 'hol', '--messages', '200', '--loss', '0,2', '--transports', 'tcp,udp'],
        { cwd: join(import.meta.dirname, '..', '..'), env: { ...process.env, WIRELAB_RESULTS: dir }, timeout: 120_000 },
        (err, stdout, stderr) => resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? null), stdout, stderr }),
      );
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const json = join(dir, 'hol.json');
    const svg = join(dir, 'hol.svg');
    expect(r.stdout).toContain(`wrote ${json} and ${svg}`);
    expect(existsSync(json)).toBe(true);
    expect(existsSync(svg)).toBe(true);
    const result = JSON.parse(readFileSync(json, 'utf8')) as { bench: string; rows: unknown[]; hol: { runs: HolSummary[] } };
    expect(result.bench).toBe('hol');
    expect(result.rows.length).toBeGreaterThan(0);
    expect(result.hol.runs.map((s) => `${s.transport}/${s.lossPercent}`)).toEqual(['tcp/0', 'udp/0', 'tcp/2', 'udp/2']);
    const xml = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile('python3', ['-c', 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])', svg], (err, _o, stderr) =>
        resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? null), stderr }),
      );
    });
    expect(xml.stderr).toBe('');
    expect(xml.code).toBe(0);
    expect(readFileSync(svg, 'utf8')).toContain('<svg');
  });
});
