/**
 * The steady state of the common path — untagged in, untagged out, known
 * unicast — allocates nothing per frame. 100,000 frames are forwarded in
 * batches of 64 from one reused slab; one boxed number per frame would be
 * 1.6 MB of young-generation garbage, so a clean round shows no garbage
 * collection and less than 64 KB of new-space growth. Up to three rounds are
 * tried, so unrelated work in the test runner cannot make it flaky (a
 * per-frame allocation fails every round). Nothing here is timed.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Bridge } from '../../src/switch/bridge.js';
import { VirtualClock } from '../../src/time/index.js';
import { BROADCAST, FakePort, frame, mac } from './helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const newSpaceUsed = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_used_size ?? 0;
const tick = () => new Promise((r) => setTimeout(r, 5));

const BATCH = 64;
const FRAMES = 100_000;

describe('allocation', () => {
  it('forwards 100k known-unicast untagged frames without allocating per frame', async () => {
    const clock = new VirtualClock();
    const bridge = new Bridge({ clock });
    const a = new FakePort('a');
    const b = new FakePort('b');
    bridge.addPort(a, { mode: 'access', pvid: 10 });
    bridge.addPort(b, { mode: 'access', pvid: 10 });
    b.inject([frame({ dst: BROADCAST, src: mac(2) })]);
    a.record = false;
    b.record = false;
    // 64 frames of 1500 bytes from 4 stations on a, to b's station.
    a.inject(Array.from({ length: BATCH }, (_, i) => frame({ dst: mac(2), src: mac(100 + (i % 4)), payload: 1486 })));
    const batches = Math.ceil(FRAMES / BATCH);
    for (let i = 0; i < batches; i++) a.deliver(BATCH); // warm up (JIT)

    let gcs = 0;
    const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));
    obs.observe({ entryTypes: ['gc'] });
    const rounds: Array<{ gcs: number; newSpaceGrowth: number }> = [];
    for (let round = 0; round < 3; round++) {
      gc();
      await tick();
      gcs = 0;
      const before = newSpaceUsed();
      for (let i = 0; i < batches; i++) a.deliver(BATCH);
      const growth = newSpaceUsed() - before;
      await tick();
      rounds.push({ gcs, newSpaceGrowth: growth });
      if (gcs === 0 && growth < 64 * 1024) break;
    }
    obs.disconnect();

    expect(rounds.some((r) => r.gcs === 0 && r.newSpaceGrowth < 64 * 1024), JSON.stringify(rounds)).toBe(true);
    const c = bridge.portCounters('b');
    // The first injection, the warm-up, then each round.
    expect(c.txFrames).toBe(BATCH + (1 + rounds.length) * batches * BATCH);
    expect(b.stats.txFrames).toBe(c.txFrames);
    expect(bridge.portCounters('a').floods).toBe(0);
  });
});
