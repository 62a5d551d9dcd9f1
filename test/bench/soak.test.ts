/**
 * bench/soak, tiny, in this process (its exported `runSoak`, not a
 * subprocess: the run is all virtual time, no root, no tools): 4 virtual
 * seconds of the whole load and the hostile replay, then 400 virtual seconds
 * of idle — longer than every timeout the tables wait for (FDB aging 300 s,
 * conntrack TIME_WAIT and SYN_SENT 120 s, TIME-WAIT 60 s, neighbour GC
 * 60 s, reassembly 30 s, the DNS TTL 60 s), which a virtual clock makes
 * cheap. Asserts the verdict's parts, by shape only (never a speed): every
 * sample of every table at or under its limit; transfers, more than none,
 * every one intact; every table back at its size before the load; the
 * hostile replay drove the neighbour, FDB, reassembly, SYN-queue and
 * conntrack tables to their limits (refused or evicted > 0). The heap
 * verdict is not asserted: a heap is not a shape, and other tests share the
 * process.
 */
import { describe, expect, it } from 'vitest';
import { BenchExit } from '../../bench/lib/args.js';
import { SOAK_LIMITS } from '../../bench/lib/soak-lab.js';
import { soakPlotSpec } from '../../bench/lib/soak-plot.js';
import { runSoak, type SoakRun } from '../../bench/lib/soak-run.js';
import { formatSoak, main, MUST_FILL, soakReport, soakRows, type SoakReport } from '../../bench/soak.js';

const SECONDS = 4;
const IDLE = 400;

describe('bench/soak, 4 s of load and 400 s of idle (virtual)', () => {
  let run: SoakRun;
  let report: SoakReport;
  const get = async (): Promise<SoakReport> => {
    if (report === undefined) {
      run = await runSoak({ seconds: SECONDS, idleSeconds: IDLE, seed: 3 });
      report = soakReport(run);
    }
    return report;
  };

  it('samples every virtual second from the start of the load to the end of the idle phase', async () => {
    const r = await get();
    expect(run.sampler.n).toBe(SECONDS + IDLE + 1);
    expect(run.sampler.t[0]).toBe(0);
    expect(run.sampler.t[run.sampler.n - 1]).toBe(SECONDS + IDLE);
    // Every stack's tables and the switch's FDB.
    expect(new Set(r.tables.map((t) => t.where))).toEqual(new Set(['router', 'server', 'client', 'outside', 'switch']));
    for (const t of ['neighbours', 'reassembly', 'tcp.synQueue', 'tcp.timeWait', 'conntrack', 'fdb', 'dns.cache']) {
      expect(r.tables.some((x) => x.table === t), t).toBe(true);
    }
  });

  it('every sample of every table is at or under its limit', async () => {
    const r = await get();
    for (const t of r.tables) {
      expect(t.overLimit, t.key).toBe(0);
      expect(t.peak, t.key).toBeLessThanOrEqual(t.limit);
      for (let i = 0; i < run.sampler.n; i++) {
        const tr = run.sampler.tracks.find((x) => x.key === t.key)!;
        expect(tr.sizes[i]!, `${t.key} at ${run.sampler.t[i]} s`).toBeLessThanOrEqual(t.limit);
      }
    }
    expect(r.verdict.underLimit).toBe(true);
  });

  it('transfers ran both ways, every one checked intact, none failed or left unfinished', async () => {
    const r = await get();
    const t = run.load.transfers;
    expect(t.intact).toBeGreaterThan(0);
    expect(t.up).toBeGreaterThan(0);
    expect(t.down).toBeGreaterThan(0);
    expect(t.intact).toBe(t.started);
    expect(t.corrupt).toBe(0);
    expect(t.failed).toBe(0);
    expect(run.unfinished).toBe(0);
    expect(r.verdict.transfersIntact).toBe(true);
    // The other flows ran, and what came back was right.
    expect(run.load.udp.answered).toBeGreaterThan(0);
    expect(run.load.udp.wrong).toBe(0);
    expect(run.load.natTcp.ok).toBeGreaterThan(0);
    expect(run.load.natTcp.failed + run.load.natTcp.wrongAddress + run.load.natTcp.corrupt).toBe(0);
    expect(run.load.natUdp.answered).toBeGreaterThan(0);
    expect(run.load.arpChurn.frames).toBeGreaterThan(0);
    expect(r.verdict.flowsOk).toBe(true);
  });

  it('every table is back at its size before the load after the idle phase', async () => {
    const r = await get();
    for (const t of r.tables) expect(t.after, t.key).toBe(t.before);
    expect(r.verdict.tablesBack).toBe(true);
  });

  it('the hostile replay drove the neighbour, FDB, reassembly, SYN-queue and conntrack tables to their limits', async () => {
    const r = await get();
    expect(run.hostile.framesPlayed).toBeGreaterThanOrEqual(SECONDS * 900);
    for (const kind of MUST_FILL) {
      const full = r.tables.filter((t) => t.table === kind && t.refused + t.evicted > 0);
      expect(full.length, `${kind}: ${JSON.stringify(r.tables.filter((t) => t.table === kind))}`).toBeGreaterThan(0);
      // Entry tables sit exactly at their limit; reassembly is within a fragment of it.
      for (const t of full) expect(t.peak, t.key).toBeGreaterThanOrEqual(t.unit === 'bytes' ? t.limit - 2048 : t.limit);
      expect(r.verdict.filled[kind]).toBe(true);
    }
    const limit = (where: string, table: string) => r.tables.find((t) => t.where === where && t.table === table)!.limit;
    expect(limit('server', 'neighbours')).toBe(SOAK_LIMITS.neighbours);
    expect(limit('switch', 'fdb')).toBe(SOAK_LIMITS.fdb);
    expect(limit('server', 'tcp.synQueue')).toBe(SOAK_LIMITS.synBacklog);
    expect(limit('router', 'conntrack')).toBe(SOAK_LIMITS.conntrack);
    // And the stacks counted what they refused by name.
    const counted = new Set(run.hostile.counted.map((c) => `${c.where} ${c.reason}`));
    for (const c of ['server ip.badOptions', 'server ip.oversize', 'server ip.martianSourceLoopback', 'switch runt']) expect(counted, c).toContain(c);
  });

  it('the verdict, the table, the rows and the plot agree', async () => {
    const r = await get();
    const reasons = r.verdict.reasons.filter((x) => !x.startsWith('heap'));
    expect(reasons).toEqual([]);
    const text = formatSoak(r);
    expect(text).toContain('VIRTUAL TIME');
    expect(text).toMatch(/^verdict: (PASS|FAIL)/m);
    expect(text).toContain('server tcp.synQueue');
    const rows = soakRows(r);
    const paths = new Set(rows.map((x) => x.path));
    for (const row of rows) {
      expect(paths.has(row.reference), row.reference).toBe(true);
      expect(Number.isFinite(row.value), row.path).toBe(true);
    }
    expect(rows.find((x) => x.path === 'transfers intact')!.ratio).toBe(1);
    const series = run.sampler.series(300);
    expect(series.t.length).toBeGreaterThan(100);
    expect(series.t.length).toBeLessThanOrEqual(300);
    const spec = JSON.stringify(soakPlotSpec(r, series));
    expect(spec).toContain('size / limit');
    expect(spec).toContain('server');
  });
});

describe('npm run bench -- soak, flags', () => {
  it('refuses a bad flag before anything runs', async () => {
    await expect(main(['--seconds', '0'])).rejects.toMatchObject({ exitCode: 2 });
    await expect(main(['--bogus'])).rejects.toBeInstanceOf(BenchExit);
    await expect(main(['--seconds', '1.5'])).rejects.toMatchObject({ exitCode: 2 });
  });
});
