/**
 * bench/http: HTTP request rate from `wrk` in a container to an unmodified
 * Node `http.Server`, answered on wirelab TCP over a TAP, against the same
 * server program on the kernel's TCP in a second container over a veth (the
 * reference, run in the same run).
 *
 *   npm run bench -- http [--seconds 5] [--connections 50] [--close-connections 200]
 *
 * Keep-alive (`wrk -c50`): the kernel server, a wirelab host whose
 * `stack.tcp.createServer` hands sockets to `http.Server` by
 * `emit('connection')` (target ≥ 0.5× the kernel's req/s), and
 * `stack.http.createServer`. One request per connection (`wrk -c200 -H
 * 'Connection: close'`: a handshake, a request, an answer and the server's
 * close each time): the kernel server and the `emit('connection')` one
 * (target ≥ 0.8×). Every run gives three rows: req/s, and the p50 and p99
 * latency of wrk's `--latency` distribution (bench/lib/wrk.ts). Both servers
 * are one Node thread answering a 600-byte body, so the ratio compares the
 * TCP under them, not the HTTP code.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { Lab } from '../src/lab/lab.js';
import type { Container } from '../src/lab/netns.js';
import { openTap } from '../src/link/tap.js';
import { createStack } from '../src/stack.js';
import { RealClock } from '../src/time/index.js';
import { printRows, writeResult, wroteLine, type BenchRow } from './results.js';
import { parseBenchArgs, requireTools } from './lib/args.js';
import { NO_IPV6 } from './lib/paths.js';
import { parseWrk, type WrkResult as WrkRun } from './lib/wrk.js';

const BODY_BYTES = 600;
const SERVER_JS = `require('http').createServer((q, r) => { r.setHeader('content-type', 'text/plain'); r.end(Buffer.alloc(${BODY_BYTES}, 46)); }).listen(80, () => console.log('ready'))`;

export const FLAGS = {
  seconds: { type: 'number', default: 5, min: 1, max: 600, help: 'length of each wrk run' },
  connections: { type: 'number', default: 50, min: 1, max: 10_000, help: 'wrk connections, keep-alive runs' },
  'close-connections': { type: 'number', default: 200, min: 1, max: 10_000, help: "wrk connections, one-request-per-connection runs (-H 'Connection: close')" },
} as const;
export const TOOLS = ['ip', 'ping', 'wrk', 'node'];

/** One wrk run, bounded in time (-d) and by a kill after `seconds + 30`; `close` sends `Connection: close` (one request per connection). */
async function wrk(c: Container, url: string, seconds: number, connections: number, close = false): Promise<WrkRun> {
  const argv = ['wrk', `-t${Math.min(2, connections)}`, `-c${connections}`, `-d${seconds}s`, '--latency', ...(close ? ['-H', 'Connection: close'] : []), url];
  const r = await c.exec(argv, { timeoutMs: (seconds + 30) * 1000 });
  try {
    return parseWrk(r.stdout);
  } catch (e) {
    throw new Error(`${(e as Error).message}${r.stderr}`);
  }
}

const KEEP_ALIVE_TARGET = 0.5;
const CLOSE_TARGET = 0.8;

export async function main(args: string[]): Promise<void> {
  const opts = parseBenchArgs('http', args, FLAGS);
  const { seconds, connections } = opts.flags;
  const closeConnections = opts.flags['close-connections'];
  requireTools('http', TOOLS);
  const id = randomBytes(2).toString('hex');
  const lab = new Lab();
  const clock = new RealClock();
  const tap = openTap(`wlbh${id}`);
  const stack = createStack({ clock, name: 'bench-http' });
  // Each run: its path, the row it is compared with (the kernel's, same kind of run) and the target in its name.
  const results: Array<{ path: string; run: WrkRun; ref?: string }> = [];
  const KERNEL = 'Node http.Server on kernel TCP (veth)';
  const kernelKeepAlive = `${KERNEL}, keep-alive`;
  const kernelClose = `${KERNEL}, one request per connection`;
  try {
    // The reference: the server program on kernel TCP, a veth away from wrk.
    execFileSync('ip', ['link', 'add', `wlbh${id}a`, 'type', 'veth', 'peer', 'name', `wlbh${id}b`]);
    const client = await lab.container({ link: `wlbh${id}a`, address: '10.217.0.1/24', sysctls: NO_IPV6 });
    const kernel = await lab.container({ link: `wlbh${id}b`, address: '10.217.0.2/24', sysctls: NO_IPV6 });
    const server = kernel.spawn(['node', '-e', SERVER_JS]);
    await server.waitForOutput(/ready/, 10_000);
    results.push({ path: kernelKeepAlive, run: await wrk(client, 'http://10.217.0.2/', seconds, connections) });
    results.push({ path: kernelClose, run: await wrk(client, 'http://10.217.0.2/', seconds, closeConnections, true) });
    server.child.kill('SIGKILL');

    // wirelab: a host on a TAP whose other end is eth0 of the client container.
    const c = await lab.container({ link: tap.ifname, address: '10.218.0.1/24', sysctls: NO_IPV6 });
    stack.addInterface(tap, { addresses: ['10.218.0.2/24'] });
    await c.exec(['ping', '-c', '1', '-W', '2', '10.218.0.2'], { check: true });
    const handler: http.RequestListener = (_q, r) => {
      r.setHeader('content-type', 'text/plain');
      r.end(Buffer.alloc(BODY_BYTES, 46));
    };
    const plain = http.createServer(handler);
    const tcp = stack.tcp.createServer((s) => plain.emit('connection', s)).listen(80);
    const emitPath = 'wirelab TCP over TAP, http.Server via emit(connection)';
    results.push({ path: `${emitPath}, keep-alive (target ≥ ${KEEP_ALIVE_TARGET}× kernel req/s)`, ref: kernelKeepAlive, run: await wrk(c, 'http://10.218.0.2/', seconds, connections) });
    results.push({ path: `${emitPath}, one request per connection (target ≥ ${CLOSE_TARGET}× kernel req/s)`, ref: kernelClose, run: await wrk(c, 'http://10.218.0.2/', seconds, closeConnections, true) });
    tcp.close();
    plain.close();
    const helper = stack.http.createServer(handler).listen(81);
    results.push({ path: 'wirelab TCP over TAP, stack.http.createServer, keep-alive', ref: kernelKeepAlive, run: await wrk(c, 'http://10.218.0.2:81/', seconds, connections) });
    helper.close();
  } finally {
    await lab.close().catch(() => undefined);
    stack.close();
    await tap.close();
    clock.close();
  }
  const rows: BenchRow[] = results.flatMap(({ path, run, ref: refPath }) => {
    const ref = results.find((r) => r.path === (refPath ?? path))!;
    const note = run.errors > 0 ? `wrk counted ${run.errors} socket errors or non-2xx answers in ${run.requests} requests` : undefined;
    return [
      { path: `${path}, req/s`, metric: 'req/s', value: run.requestsPerSec, reference: `${ref.path}, req/s`, ratio: run.requestsPerSec / ref.run.requestsPerSec, ...(note ? { note } : {}) },
      { path: `${path}, p50 latency`, metric: 'ms', value: run.p50Ms, reference: `${ref.path}, p50 latency`, ratio: run.p50Ms / ref.run.p50Ms },
      { path: `${path}, p99 latency`, metric: 'ms', value: run.p99Ms, reference: `${ref.path}, p99 latency`, ratio: run.p99Ms / ref.run.p99Ms },
    ];
  });
  printRows(rows);
  process.stdout.write(wroteLine(writeResult({ bench: 'http', rows }, opts), opts));
}
