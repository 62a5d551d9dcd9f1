/**
 * bench/http: keep-alive HTTP request rate from `wrk` in a container to an
 * unmodified Node `http.Server`, answered on wirelab TCP over a TAP, against
 * the same server program on the kernel's TCP in a second container over a
 * veth (the reference, run in the same run).
 *
 *   npm run bench -- http [--seconds 5] [--connections 50]
 *
 * Rows: requests/s and median latency for the kernel server, a wirelab host
 * whose `stack.tcp.createServer` hands sockets to `http.Server` by
 * `emit('connection')`, and `stack.http.createServer`. Both servers are one
 * Node thread answering a 600-byte body, so the ratio compares the TCP under
 * them, not the HTTP code.
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

interface WrkRun {
  requestsPerSec: number;
  p50Ms: number;
}

const BODY_BYTES = 600;
const SERVER_JS = `require('http').createServer((q, r) => { r.setHeader('content-type', 'text/plain'); r.end(Buffer.alloc(${BODY_BYTES}, 46)); }).listen(80, () => console.log('ready'))`;

export const FLAGS = {
  seconds: { type: 'number', default: 5, min: 1, max: 600, help: 'length of each wrk run' },
  connections: { type: 'number', default: 50, min: 1, max: 10_000, help: 'wrk connections' },
} as const;
export const TOOLS = ['ip', 'ping', 'wrk', 'node'];

async function wrk(c: Container, url: string, seconds: number, connections: number): Promise<WrkRun> {
  const r = await c.exec(['wrk', '-t2', `-c${connections}`, `-d${seconds}s`, '--latency', url], { timeoutMs: (seconds + 30) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
  const p50 = /\s50%\s+([\d.]+)(us|ms|s)/.exec(r.stdout);
  if (!Number.isFinite(rps) || p50 === null) throw new Error(`wrk printed no result:\n${r.stdout}${r.stderr}`);
  const scale = p50[2] === 'us' ? 1e-3 : p50[2] === 's' ? 1e3 : 1;
  return { requestsPerSec: rps, p50Ms: Number(p50[1]) * scale };
}

export async function main(args: string[]): Promise<void> {
  const opts = parseBenchArgs('http', args, FLAGS);
  const { seconds, connections } = opts.flags;
  requireTools('http', TOOLS);
  const id = randomBytes(2).toString('hex');
  const lab = new Lab();
  const clock = new RealClock();
  const tap = openTap(`wlbh${id}`);
  const stack = createStack({ clock, name: 'bench-http' });
  const results: Array<{ path: string; run: WrkRun }> = [];
  try {
    // The reference: the server program on kernel TCP, a veth away from wrk.
    execFileSync('ip', ['link', 'add', `wlbh${id}a`, 'type', 'veth', 'peer', 'name', `wlbh${id}b`]);
    const client = await lab.container({ link: `wlbh${id}a`, address: '10.217.0.1/24', sysctls: NO_IPV6 });
    const kernel = await lab.container({ link: `wlbh${id}b`, address: '10.217.0.2/24', sysctls: NO_IPV6 });
    const server = kernel.spawn(['node', '-e', SERVER_JS]);
    await server.waitForOutput(/ready/, 10_000);
    results.push({ path: 'Node http.Server on kernel TCP (veth)', run: await wrk(client, 'http://10.217.0.2/', seconds, connections) });
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
    results.push({ path: 'wirelab TCP over TAP, http.Server via emit(connection)', run: await wrk(c, 'http://10.218.0.2/', seconds, connections) });
    tcp.close();
    plain.close();
    const helper = stack.http.createServer(handler).listen(81);
    results.push({ path: 'wirelab TCP over TAP, stack.http.createServer', run: await wrk(c, 'http://10.218.0.2:81/', seconds, connections) });
    helper.close();
  } finally {
    await lab.close().catch(() => undefined);
    stack.close();
    await tap.close();
    clock.close();
  }
  const ref = results[0]!;
  const rows: BenchRow[] = results.flatMap(({ path, run }) => [
    { path: `${path}, req/s`, metric: 'req/s', value: run.requestsPerSec, reference: `${ref.path}, req/s`, ratio: run.requestsPerSec / ref.run.requestsPerSec },
    { path: `${path}, p50 latency`, metric: 'ms', value: run.p50Ms, reference: `${ref.path}, p50 latency`, ratio: run.p50Ms / ref.run.p50Ms },
  ]);
  printRows(rows);
  process.stdout.write(wroteLine(writeResult({ bench: 'http', rows }, opts), opts));
}
