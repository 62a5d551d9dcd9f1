/**
 * bench/lib/wrk.ts on what wrk really printed (`wrk -t2 -c8 -d1s --latency`,
 * recorded in test/fixtures/wrk/ against a Node server on 127.0.0.1, keep-alive
 * and with `-H 'Connection: close'`), and on the lines wrk adds only when
 * something went wrong (its "Socket errors" and "Non-2xx" formats).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseWrk } from '../../bench/lib/wrk.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'wrk');
const sample = (name: string) => readFileSync(join(fixtures, name), 'utf8');

describe('parseWrk', () => {
  it('reads req/s, the request count and p50/p99 in ms, mixing us and ms', () => {
    const r = parseWrk(sample('keepalive-latency.txt'));
    expect(r.requestsPerSec).toBe(14129.77);
    expect(r.requests).toBe(14392);
    expect(r.p50Ms).toBeCloseTo(0.346, 9); // 346.00us
    expect(r.p99Ms).toBeCloseTo(21.82, 9);
    expect(r.errors).toBe(0);
  });

  it('reads a Connection: close run the same way', () => {
    const r = parseWrk(sample('close-latency.txt'));
    expect(r).toEqual({ requestsPerSec: 1713.21, requests: 1726, p50Ms: 3.78, p99Ms: 27.67, errors: 0 });
  });

  it('takes the 50 % and 99 % lines, not 75 % or 90 %, and seconds as 1000 ms', () => {
    const text = sample('keepalive-latency.txt').replace('99%   21.82ms', '99%    1.50s');
    expect(parseWrk(text).p99Ms).toBe(1500);
    expect(parseWrk(text).p50Ms).toBeCloseTo(0.346, 9);
  });

  it('adds up socket errors and non-2xx answers when wrk prints them', () => {
    const text = sample('close-latency.txt').replace(
      'Requests/sec:',
      '  Socket errors: connect 1, read 2, write 0, timeout 4\n  Non-2xx or 3xx responses: 5\nRequests/sec:',
    );
    expect(parseWrk(text).errors).toBe(12);
  });

  it('refuses output without a latency distribution or without a result, saying so', () => {
    const noLatency = sample('keepalive-latency.txt').replace(/ {2}Latency Distribution[\s\S]*?(?= {2}\d+ requests)/, '');
    expect(() => parseWrk(noLatency)).toThrow(/no 50% latency \(was --latency given\?\)/);
    expect(() => parseWrk('unable to connect to 10.0.0.1:80 Connection refused\n')).toThrow(/wrk printed no result/);
  });
});
