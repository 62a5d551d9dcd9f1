/**
 * Request/response round trips through a path (TCP_RR-style): bench/c/rr.c,
 * compiled at run time, its server in one namespace and its client in the
 * other, or its client against a wirelab echo server (`wirelabEcho`). 64-byte
 * requests and answers over one connection for `seconds` (at most
 * RR_MAX_EXCHANGES); the client prints the count and the p50/p99 round-trip
 * times in microseconds.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Container } from '../../src/lab/netns.js';
import type { Stack } from '../../src/stack.js';
import { sh, type Pair } from './paths.js';

const here = dirname(fileURLToPath(import.meta.url));

export const RR_BYTES = 64;
/** The client stops after this many exchanges even if its time has not run out. */
export const RR_MAX_EXCHANGES = 5_000_000;
export const RR_PORT = 7007;

export interface RrResult {
  count: number;
  p50Us: number;
  p99Us: number;
  minUs: number;
  maxUs: number;
}

/** Compiles bench/c/rr.c into `dir`; returns the binary's path. */
export function compileRr(dir: string): string {
  const rr = join(dir, 'rr');
  sh(['cc', '-O2', '-o', rr, join(here, '..', 'c', 'rr.c')]);
  return rr;
}

/** `rr: count N p50_us X p99_us Y min_us A max_us B` → numbers. */
export function parseRr(text: string): RrResult {
  const m = /^rr: count (\d+) p50_us ([\d.]+) p99_us ([\d.]+) min_us ([\d.]+) max_us ([\d.]+)$/m.exec(text);
  if (m === null) throw new Error(`rr printed no result: ${text.trim()}`);
  return { count: Number(m[1]), p50Us: Number(m[2]), p99Us: Number(m[3]), minUs: Number(m[4]), maxUs: Number(m[5]) };
}

/** The rr client in `c` against ip:port for `seconds` (killed after seconds + 20). */
export async function rrClient(rr: string, c: Container, ip: string, port: number, seconds: number): Promise<RrResult> {
  const r = await c.exec([rr, 'client', ip, String(port), String(RR_BYTES), String(seconds), String(RR_MAX_EXCHANGES)], { timeoutMs: (seconds + 20) * 1000 });
  if (r.code !== 0) throw new Error(`rr client in ${c.name} exited ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr.trim()}`);
  return parseRr(r.stdout);
}

/** rr's server in B, its client in A: round trips A → B → A. */
export async function rrBetween(rr: string, { a, b, addresses }: Pair, seconds: number): Promise<RrResult> {
  const server = b.spawn([rr, 'server', addresses.bIp, String(RR_PORT)]);
  try {
    await server.waitForOutput(/READY/, 5000);
    return await rrClient(rr, a, addresses.bIp, RR_PORT, seconds);
  } finally {
    await server.kill('SIGKILL');
  }
}

/** An echo server on wirelab TCP (the node socket API): what rr's server does, on `stack`. Returns its close. */
export function wirelabEcho(stack: Stack, ip: string, port: number): () => void {
  const server = stack.tcp.createServer((sock) => {
    sock.on('data', (d: Uint8Array) => sock.write(d));
    sock.on('end', () => sock.end());
    sock.on('error', () => undefined);
  });
  server.listen(port, ip);
  return () => server.close();
}

/** "p50 / p99" of a result, for the progress lines. */
export const rrLine = (r: RrResult): string => `${r.count} exchanges, p50 ${r.p50Us.toFixed(1)} µs, p99 ${r.p99Us.toFixed(1)} µs`;
