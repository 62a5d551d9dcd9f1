/**
 * Keep-alive HTTP from a real client (`wrk`, in a container) to unmodified
 * Node `http.Server`s on a wirelab host over a TAP.
 * Before `_writev` and the servers' no-delay default, every response's last
 * segment waited for the kernel's delayed ACK behind Nagle: 40 ms a request.
 * This test fails if that stall comes back: it asserts wrk's mean latency
 * stays far below 40 ms (a stall detector, not a speed claim —
 * speed lives in bench/).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../src/lab/lab.js';
import type { Container } from '../../src/lab/netns.js';
import { openTap, type TapPort } from '../../src/link/tap.js';
import { createStack, type Stack } from '../../src/stack.js';
import { RealClock } from '../../src/time/index.js';
import { requireRoot } from '../helpers/netns.js';

const cap = requireRoot(['wrk']);
const clock = new RealClock();
const lab = new Lab();
let tap: TapPort | undefined;
let stack: Stack | undefined;
let c: Container;

const HOST_IP = '10.214.0.2';
/** Twice what 4 connections stalled 40 ms a response could do in 2 s. */
const MIN_REQUESTS = 400;

beforeAll(async () => {
  if (cap.skip) return;
  cap.assert();
  const name = `wlka${randomBytes(3).toString('hex')}`;
  tap = openTap(name);
  c = await lab.container({ link: name, address: '10.214.0.1/24' });
  stack = createStack({ clock, name: 'wl-http' });
  stack.addInterface(tap, { addresses: [`${HOST_IP}/24`] });
  await c.exec(['ping', '-c', '1', '-W', '2', HOST_IP], { timeoutMs: 10_000, check: true });
});

afterAll(async () => {
  await lab.close().catch(() => undefined);
  stack?.close();
  await tap?.close().catch(() => undefined);
  clock.close();
});

interface WrkResult {
  requests: number;
  socketErrors: boolean;
  non2xx: boolean;
  avgLatencyMs: number;
}

/** Two seconds of keep-alive GETs on 4 connections (wrk speaks HTTP/1.1: every connection is kept alive). */
async function wrk(port: number): Promise<WrkResult> {
  const r = await c.exec(['wrk', '-t1', '-c4', '-d2s', `http://${HOST_IP}:${port}/`], { timeoutMs: 30_000 });
  const lat = /Latency\s+([\d.]+)(us|ms|s)\b/.exec(r.stdout);
  const requests = Number(/(\d+) requests in/.exec(r.stdout)?.[1] ?? NaN);
  if (lat === null || Number.isNaN(requests)) throw new Error(`wrk printed no result: ${r.stderr || r.stdout}`);
  console.log(`wrk → wirelab :${port}: ${requests} requests in 2 s, mean latency ${lat[1]}${lat[2]}`);
  const scale = lat[2] === 'us' ? 1e-3 : lat[2] === 's' ? 1e3 : 1;
  return {
    requests,
    socketErrors: /Socket errors/.test(r.stdout),
    non2xx: /Non-2xx/.test(r.stdout),
    avgLatencyMs: Number(lat[1]) * scale,
  };
}

/** A response whose headers and body are separate writes: the case that stalled. */
const handler: http.RequestListener = (_req, res) => {
  res.setHeader('content-type', 'application/octet-stream');
  res.end(Buffer.alloc(600, 0x2e));
};

/** Each way of serving Node's http on a wirelab host: start on `port`, return a stop function. */
const SERVERS: Array<[string, (port: number) => () => void]> = [
  [
    'an unmodified http.Server fed by stack.tcp.createServer',
    (port) => {
      const server = http.createServer(handler);
      const tcp = stack!.tcp.createServer((s) => server.emit('connection', s)).listen(port);
      return () => {
        server.close();
        tcp.close();
      };
    },
  ],
  [
    'stack.http.createServer',
    (port) => {
      const server = stack!.http.createServer(handler).listen(port);
      return () => server.close();
    },
  ],
];

describe.skipIf(cap.skip)('keep-alive HTTP over wirelab TCP from wrk in a container', () => {
  SERVERS.forEach(([what, start], i) => {
    it(`${what} answers without the 40 ms stall`, async () => {
      const port = 8080 + i;
      const stop = start(port);
      try {
        const r = await wrk(port);
        expect(r.socketErrors).toBe(false);
        expect(r.non2xx).toBe(false);
        // A stall holds every response 40 ms: at most 4 × 2 s / 40 ms = 200 requests.
        expect(r.requests).toBeGreaterThan(MIN_REQUESTS);
        expect(r.avgLatencyMs).toBeLessThan(20);
      } finally {
        stop();
      }
    });
  });
});
