/**
 * netem specs: tables for every unit and keyword, the errors, format → parse
 * round trips, the `wirelab impair` flag form, and the `tc` binary itself:
 * no netem module is loaded on the test machines, so the kernel's parser is
 * out of reach, but tc's rate parser and `tc qdisc show`'s rate format are
 * the same code for tbf. A tbf qdisc on `lo` of a fresh network namespace is
 * set to each rate and what tc shows must equal what wirelab prints for the
 * rate it parsed.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImpairmentOptions } from '../../src/link/impair.js';
import {
  formatNetemRate,
  formatNetemSpec,
  formatNetemTime,
  netemFromFlags,
  parseNetemRate,
  parseNetemSpec,
  parseNetemTime,
} from '../../src/link/netem-spec.js';

describe('netem units', () => {
  const TIMES: [string, number][] = [
    ['1s', 1000], ['1.5sec', 1500], ['2secs', 2000], ['20ms', 20], ['20msec', 20], ['20msecs', 20], ['20MS', 20],
    ['500us', 0.5], ['500usec', 0.5], ['500usecs', 0.5], ['1500', 1.5], ['0', 0], ['.5ms', 0.5], ['1e3us', 1], ['2000ns', 0.002],
  ];
  for (const [word, ms] of TIMES) {
    it(`time ${word} = ${ms}ms`, () => expect(parseNetemTime(word)).toBeCloseTo(ms, 9));
  }

  const RATES: [string, number][] = [
    ['100mbit', 100e6], ['1.5gbit', 1.5e9], ['64kbit', 64e3], ['1tbit', 1e12], ['999bit', 999], ['1000000', 1e6],
    ['1bps', 8], ['500kbps', 4e6], ['10mbps', 80e6], ['1gbps', 8e9], ['1tbps', 8e12], ['10MBps', 80e6], ['100Mbit', 100e6],
    ['12kibit', 12 * 1024], ['4mibit', 4 * 1024 ** 2], ['1gibit', 1024 ** 3], ['1tibit', 1024 ** 4], ['2kibps', 2 * 8 * 1024], ['1mibps', 8 * 1024 ** 2],
  ];
  for (const [word, bits] of RATES) {
    it(`rate ${word} = ${bits} bit/s`, () => expect(parseNetemRate(word)).toBe(bits));
  }

  it('prints times and rates as tc does', () => {
    expect(formatNetemTime(20)).toBe('20ms');
    expect(formatNetemTime(1500)).toBe('1.5s');
    expect(formatNetemTime(0.5)).toBe('500us');
    expect(formatNetemTime(12.345)).toBe('12.3ms');
    expect(formatNetemTime(0.0005)).toBe('500ns');
    expect(formatNetemRate(100e6)).toBe('100Mbit');
    expect(formatNetemRate(1.5e6)).toBe('1500Kbit');
    expect(formatNetemRate(999)).toBe('999bit');
    expect(formatNetemRate(12288)).toBe('12288bit');
    expect(formatNetemRate(1e9)).toBe('1Gbit');
  });
});

describe('parseNetemSpec', () => {
  const SPECS: [string, ImpairmentOptions][] = [
    ['', {}],
    ['netem delay 20ms', { delayMs: 20 }],
    ['delay 20ms 5ms', { delayMs: 20, jitterMs: 5 }],
    ['delay 20ms 5ms 0', { delayMs: 20, jitterMs: 5 }],
    ['delay 100ms 10ms distribution uniform', { delayMs: 100, jitterMs: 10, jitterDistribution: 'uniform' }],
    ['delay 100ms 10ms 0% distribution normal', { delayMs: 100, jitterMs: 10, jitterDistribution: 'normal' }],
    ['delay 20', { delayMs: 0.02 }],
    ['loss 1%', { loss: 0.01 }],
    ['loss 1', { loss: 0.01 }],
    ['loss random 0.5%', { loss: 0.005 }],
    ['loss 100%', { loss: 1 }],
    ['loss gemodel 1%', { gilbertElliott: { p: 0.01, r: 0.99, lossBad: 1, lossGood: 0 } }],
    ['loss gemodel 1% 10%', { gilbertElliott: { p: 0.01, r: 0.1, lossBad: 1, lossGood: 0 } }],
    ['loss gemodel 1% 10% 70%', { gilbertElliott: { p: 0.01, r: 0.1, lossBad: 0.7, lossGood: 0 } }],
    ['loss gemodel 1% 10% 70% 0.1%', { gilbertElliott: { p: 0.01, r: 0.1, lossBad: 0.7, lossGood: 0.001 } }],
    ['loss gemodel p 1% r 10% 1-h 70% 1-k 0.1%', { gilbertElliott: { p: 0.01, r: 0.1, lossBad: 0.7, lossGood: 0.001 } }],
    ['loss 2% loss gemodel 1% 10%', { loss: 0.02, gilbertElliott: { p: 0.01, r: 0.1, lossBad: 1, lossGood: 0 } }],
    ['duplicate 0.5%', { duplicate: 0.005 }],
    ['delay 10ms reorder 25%', { delayMs: 10, reorder: 0.25 }],
    ['delay 10ms reorder 25% 0%', { delayMs: 10, reorder: 0.25 }],
    ['rate 100mbit', { rateBitsPerSec: 100e6 }],
    ['limit 1000', { queueLimitFrames: 1000 }],
    [
      'limit 50 delay 20ms 5ms loss 1% duplicate 0.5% reorder 10% rate 1gbit',
      { queueLimitFrames: 50, delayMs: 20, jitterMs: 5, loss: 0.01, duplicate: 0.005, reorder: 0.1, rateBitsPerSec: 1e9 },
    ],
  ];
  for (const [text, opts] of SPECS) {
    it(`reads ${JSON.stringify(text)}`, () => {
      const got = parseNetemSpec(text);
      expect(Object.keys(got).sort()).toEqual(Object.keys(opts).sort());
      for (const [k, v] of Object.entries(opts)) {
        if (typeof v === 'number') expect(got[k as keyof ImpairmentOptions], k).toBeCloseTo(v, 12);
        else if (typeof v === 'object') {
          for (const [gk, gv] of Object.entries(v)) expect((got.gilbertElliott as unknown as Record<string, number>)[gk], gk).toBeCloseTo(gv as number, 12);
        } else expect(got[k as keyof ImpairmentOptions]).toBe(v);
      }
    });
  }

  const ERRORS: [string, string | RegExp][] = [
    ['delay 20 parsecs', 'netem spec "delay 20 parsecs": "parsecs" is not a time (write 20ms, 1.5s or 500us)'],
    ['delay 20 ms', 'netem spec "delay 20 ms": "ms": write the unit with no space (20ms)'],
    ['delay fast', /"fast" is not a time \(write 20ms/],
    ['delay', /expected a time after "delay"/],
    ['delay 20ms 5ms 25%', /correlation "25%" after "delay" is not supported/],
    ['delay 20ms 5ms distribution pareto', /distribution "pareto" is not supported \(normal or uniform\)/],
    ['delay 20ms distribution normal', /a distribution needs a delay with a jitter/],
    ['loss 1% 25%', /correlation "25%" after "loss" is not supported/],
    ['loss 101%', /"101%" is more than 100%/],
    ['loss lots', /"lots" after "loss" is not supported/],
    ['loss 1 percent', /"percent" is not a netem keyword/],
    ['loss 1‰', /"1‰" is not a percentage \(write 1% or 0.5%\)/],
    ['loss state 1%', /"loss state" is not supported/],
    ['loss ecn', /"loss ecn" is not supported/],
    ['loss 1% loss 2%', /"loss" is given twice/],
    ['reorder 25%', /reordering needs a delay/],
    ['delay 10ms reorder 25% gap 5', /"reorder … gap" is not supported/],
    ['duplicate 1% 50%', /correlation "50%" after "duplicate"/],
    ['rate 100parsecs', /"100parsecs" is not a rate \(write 100mbit/],
    ['rate 50%', /percentage of the link speed is not supported/],
    ['rate 100mbit 20', /rate overheads \("20"\) are not supported/],
    ['limit many', /"many" is not a number of packets/],
    ['limit 1.5', /"1.5" is not a number of packets/],
    ['corrupt 1%', /"corrupt" is not supported \(supported: delay/],
    ['slot 10ms', /"slot" is not supported/],
    ['jitter 5ms', /"jitter" is not a netem keyword \(supported: delay, distribution, loss, duplicate, reorder, rate, limit\)/],
    ['delay 5000s', /longer than tc's limit/],
  ];
  for (const [text, message] of ERRORS) {
    it(`refuses ${JSON.stringify(text)}`, () => expect(() => parseNetemSpec(text)).toThrow(message));
  }
});

describe('formatNetemSpec', () => {
  it('prints as tc qdisc show does', () => {
    expect(formatNetemSpec({ delayMs: 20, jitterMs: 5, loss: 0.01, duplicate: 0.005, rateBitsPerSec: 100e6 })).toBe(
      'delay 20ms  5ms loss 1% duplicate 0.5% rate 100Mbit',
    );
    expect(formatNetemSpec({ queueLimitFrames: 1000, delayMs: 100 })).toBe('limit 1000 delay 100ms');
    expect(formatNetemSpec({ gilbertElliott: { p: 0.01, r: 0.1 } })).toBe('loss gemodel p 1% r 10% 1-h 100% 1-k 0%');
    expect(formatNetemSpec({ delayMs: 10, reorder: 0.25 })).toBe('delay 10ms reorder 25%');
    expect(formatNetemSpec({ seed: 5, keepOrder: true })).toBe('');
  });

  it('round-trips: what it prints parses back to the same options', () => {
    const table: ImpairmentOptions[] = [
      { delayMs: 20, jitterMs: 5, loss: 0.01, duplicate: 0.005, rateBitsPerSec: 100e6 },
      { delayMs: 100, jitterMs: 10, jitterDistribution: 'uniform', reorder: 0.25, queueLimitFrames: 10 },
      { gilbertElliott: { p: 0.01, r: 0.1, lossBad: 0.7, lossGood: 0.001 }, loss: 0.02 },
      { delayMs: 1500, rateBitsPerSec: 1.5e6 },
      { delayMs: 0.25, jitterMs: 0.1 },
    ];
    for (const o of table) expect(parseNetemSpec(formatNetemSpec(o))).toEqual(o);
  });

  it('printing is a fixed point of parse ∘ format for any options', () => {
    const pct = fc.integer({ min: 1, max: 10000 }).map((n) => n / 10000);
    const opts = fc.record(
      {
        delayMs: fc.integer({ min: 1, max: 1_000_000 }).map((n) => n / 100),
        jitterMs: fc.integer({ min: 1, max: 100_000 }).map((n) => n / 100),
        loss: pct,
        duplicate: pct,
        reorder: pct,
        rateBitsPerSec: fc.integer({ min: 1, max: 4e9 }),
        queueLimitFrames: fc.integer({ min: 0, max: 1e6 }),
        gilbertElliott: fc.record({ p: pct, r: pct, lossBad: pct, lossGood: pct }),
      },
      { requiredKeys: ['delayMs'] },
    );
    fc.assert(
      fc.property(opts, (o) => {
        const once = formatNetemSpec(o);
        expect(formatNetemSpec(parseNetemSpec(once))).toBe(once);
      }),
      { numRuns: 300 },
    );
  });
});

describe('netemFromFlags', () => {
  it('reads the wirelab impair flags with the same units', () => {
    expect(
      netemFromFlags({ delay: '20ms', jitter: '5ms', loss: '1%', duplicate: '1%', reorder: '25%', rate: '100mbit', limit: '1000', json: 'ignored' }),
    ).toEqual({ delayMs: 20, jitterMs: 5, loss: 0.01, duplicate: 0.01, reorder: 0.25, rateBitsPerSec: 100e6, queueLimitFrames: 1000 });
    expect(netemFromFlags({ loss: 'gemodel 1% 10%' })).toEqual({ gilbertElliott: { p: 0.01, r: 0.1, lossBad: 1, lossGood: 0 } });
    expect(netemFromFlags({ delay: '10ms', jitter: '2ms', distribution: 'uniform' })).toEqual({ delayMs: 10, jitterMs: 2, jitterDistribution: 'uniform' });
    expect(netemFromFlags({ delay: undefined })).toEqual({});
  });

  const ERRORS: [Record<string, string>, string | RegExp][] = [
    [{ delay: '20 parsecs' }, '--delay "20 parsecs": "parsecs" is not a time (write 20ms, 1.5s or 500us)'],
    [{ jitter: '5ms' }, '--jitter "5ms": --jitter needs --delay'],
    [{ delay: '20ms', jitter: 'lots' }, '--jitter "lots": "lots" is not a time (write 20ms, 1.5s or 500us)'],
    [{ reorder: '25%' }, 'wirelab impair: reordering needs a --delay (frames overtake those waiting it), as tc says'],
    [{ rate: '100 mbit' }, /--rate "100 mbit": "mbit" is not a netem keyword/],
    [{ loss: '1% rate 10mbit' }, /--loss "1% rate 10mbit": expected only the loss value/],
    [{ limit: '' }, '--limit "": expected a value'],
    [{ delay: '10ms', distribution: 'normal' }, 'wirelab impair: a distribution needs a --jitter'],
  ];
  for (const [flags, message] of ERRORS) {
    it(`refuses ${JSON.stringify(flags)}`, () => expect(() => netemFromFlags(flags)).toThrow(message));
  }
});

describe('rates agree with the tc binary (tbf in a fresh network namespace)', () => {
  const ns = `wlt-${randomBytes(4).toString('hex')}`;
  const run = (args: string[]): string => {
    const r = spawnSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };
  beforeAll(() => {
    const r = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ip netns add ${ns} failed: ${r.stderr}`);
  });
  afterAll(() => {
    spawnSync('ip', ['netns', 'del', ns]);
  });

  const RATES = ['100mbit', '1.5mbit', '1000000', '12kibit', '10MBps', '1gbit', '3kbps', '999bit', '4mibit', '2.5gbit', '64kbit', '1mibps', '800bit', '7Kbit'];
  for (const rate of RATES) {
    it(`rate ${rate}`, () => {
      run(['tc', 'qdisc', 'replace', 'dev', 'lo', 'root', 'tbf', 'rate', rate, 'burst', '32kbit', 'latency', '400ms']);
      const shown = /\brate (\S+)/.exec(run(['tc', 'qdisc', 'show', 'dev', 'lo']))?.[1];
      const bits = parseNetemRate(rate);
      expect(typeof bits).toBe('number');
      // tc keeps whole bytes per second.
      expect(formatNetemRate(Math.floor((bits as number) / 8) * 8)).toBe(shown);
    });
  }
});
