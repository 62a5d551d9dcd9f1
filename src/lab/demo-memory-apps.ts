/**
 * The applications of the in-memory demo (demo-memory.ts): the containers
 * lecture's web application, each piece a few lines of Node's own `net`,
 * `dgram` and `http` running on a wirelab host instead of the kernel.
 *
 *   db      a key-value server on TCP: `GET key\n` → `VALUE text\n` or `NOT_FOUND\n`
 *   cache   a counter on UDP: `INCR key` → the new count
 *   api     http on 8080: `/items` looks `db` up BY NAME (the gateway's DNS),
 *           asks it for the items and `cache` for a hit count, answers JSON
 *   web     http on 80: fetches http://api:8080/items (by name) into a page
 *   internet  http on 80 outside the NAT: answers with the address it sees
 *
 * Kept apart from the demo's wiring so each file says one thing: what the
 * applications do here, how the network around them is built there.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Stack } from '../stack.js';
import { Timer } from '../time/index.js';
import type { TcpServer } from '../tcp/server.js';
import type { TcpSocket } from '../tcp/socket.js';
import type { UdpSocket } from '../udp/index.js';

/** Something the demo closes at the end. */
export interface Closable {
  close(): void;
}

export const DB_PORT = 6379;
export const CACHE_PORT = 11211;
export const API_PORT = 8080;

/** What `db` holds. */
const DB_DATA: Record<string, string> = {
  items: JSON.stringify(['switch', 'router', 'nat', 'dns', 'tcp']),
  motd: 'hello from db',
};

/** `db`: a line-based key-value server on wirelab TCP. */
export function startDb(stack: Stack): Closable {
  const server: TcpServer = stack.tcp.createServer((sock: TcpSocket) => {
    let buf = '';
    sock.on('error', () => undefined);
    sock.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        const m = /^GET (\S+)$/.exec(line);
        const value = m !== null ? DB_DATA[m[1]!] : undefined;
        sock.write(m === null ? 'ERROR unknown command\n' : value === undefined ? 'NOT_FOUND\n' : `VALUE ${value}\n`);
      }
    });
    sock.on('end', () => sock.end());
  });
  server.listen(DB_PORT);
  return { close: () => server.close() };
}

/** One `GET key` to the db at `address`; resolves with the reply line. */
export function dbGet(stack: Stack, address: string, key: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const sock = stack.tcp.connect({ host: address, port: DB_PORT });
    const timer = new Timer(stack.clock.timers, () => {
      sock.destroy();
      reject(new Error(`db ${address}:${DB_PORT} did not answer GET ${key} within ${timeoutMs} ms`));
    });
    timer.arm(timeoutMs);
    sock.on('connect', () => sock.write(`GET ${key}\n`));
    sock.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      timer.cancel();
      sock.end();
      resolve(buf.slice(0, nl));
    });
    sock.on('error', (e: Error) => {
      timer.cancel();
      reject(e);
    });
  });
}

/** `cache`: a UDP counter server (`INCR key` → count). */
export function startCache(stack: Stack): Closable {
  const counts = new Map<string, number>();
  const sock: UdpSocket = stack.udp.createSocket();
  sock.on('message', (msg, rinfo) => {
    const m = /^INCR (\S+)$/.exec(Buffer.from(msg).toString('utf8').trim());
    if (m === null) return void sock.send('ERROR\n', rinfo.port, rinfo.address);
    const n = (counts.get(m[1]!) ?? 0) + 1;
    counts.set(m[1]!, n);
    sock.send(`${n}\n`, rinfo.port, rinfo.address);
  });
  sock.bind(CACHE_PORT);
  return { close: () => void sock.close() };
}

/** `INCR key` on the cache at `host` (a name, through the host's DNS); resolves with the count. */
async function cacheIncr(stack: Stack, host: string, key: string, timeoutMs = 2000): Promise<number> {
  const { address } = await stack.dns.lookup(host);
  return new Promise((resolve, reject) => {
    const sock = stack.udp.createSocket();
    const timer = new Timer(stack.clock.timers, () => {
      sock.close();
      reject(new Error(`cache ${address}:${CACHE_PORT} did not answer within ${timeoutMs} ms`));
    });
    timer.arm(timeoutMs);
    sock.on('message', (msg) => {
      timer.cancel();
      sock.close();
      resolve(Number(Buffer.from(msg).toString('utf8').trim()));
    });
    sock.send(`INCR ${key}\n`, CACHE_PORT, address);
  });
}

/** What `api` answers on /items. */
export interface ItemsReply {
  items: string[];
  db: { name: string; address: string };
  hits: number | null;
}

/** `api`: http on 8080; `/items` finds `db` by name, queries it, answers JSON. */
export function startApi(stack: Stack): Closable {
  const server = stack.http.createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url !== '/items') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    void (async () => {
      const { address } = await stack.dns.lookup('db');
      const line = await dbGet(stack, address, 'items');
      if (!line.startsWith('VALUE ')) throw new Error(`db answered "${line}"`);
      const hits = await cacheIncr(stack, 'cache', 'items').catch(() => null);
      const body: ItemsReply = { items: JSON.parse(line.slice(6)) as string[], db: { name: 'db', address }, hits };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
    })().catch((e: Error) => {
      res.writeHead(502, { 'content-type': 'text/plain' }).end(`api: ${e.message}\n`);
    });
  });
  server.listen(API_PORT);
  return { close: () => closeHttp(server) };
}

/** GET over a wirelab host's http (names through its DNS); resolves with status and body. */
export function httpGetText(stack: Stack, host: string, port: number, path: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = stack.http.get({ host, port, path, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`http://${host}:${port}${path} did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** `web`: http on 80; the page lists what http://api:8080/items returned. */
export function startWeb(stack: Stack): Closable {
  const server = stack.http.createServer((_req: IncomingMessage, res: ServerResponse) => {
    httpGetText(stack, 'api', API_PORT, '/items').then(
      ({ status, body }) => {
        if (status !== 200) throw new Error(`api answered ${status}: ${body.trim()}`);
        const r = JSON.parse(body) as ItemsReply;
        const list = r.items.map((i) => `<li>${i}</li>`).join('');
        res.writeHead(200, { 'content-type': 'text/html' }).end(
          `<!doctype html><title>wirelab demo</title><h1>items from api (db ${r.db.address}, hits ${r.hits ?? '?'})</h1><ul>${list}</ul>\n`,
        );
      },
    ).catch((e: Error) => res.writeHead(502, { 'content-type': 'text/plain' }).end(`web: ${e.message}\n`));
  });
  server.listen(80);
  return { close: () => closeHttp(server) };
}

/** `internet`: http on 80 that tells each client the address it came from. */
export function startInternet(stack: Stack): Closable {
  const server = stack.http.createServer((req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`you are ${req.socket.remoteAddress}\n`);
  });
  server.listen(80);
  return { close: () => closeHttp(server) };
}

/** Stops an http server and drops its keep-alive connections. */
function closeHttp(server: { close(): unknown; closeAllConnections(): void }): void {
  server.close();
  server.closeAllConnections();
}

/** One fetch of the worker: what came back, or why not. */
export type WorkerResult = { ok: true; status: number; body: string } | { ok: false; error: string };

/**
 * `worker`: fetches http://`host`/ now and every `everyMs` after (the next
 * one once the last has finished); `onResult` hears each outcome.
 */
export function startWorker(stack: Stack, host: string, everyMs: number, onResult: (r: WorkerResult) => void): Closable {
  let closed = false;
  const timer = new Timer(stack.clock.timers, () => fetchOnce());
  const fetchOnce = (): void => {
    httpGetText(stack, host, 80, '/').then(
      ({ status, body }) => onResult({ ok: true, status, body }),
      (e: Error) => onResult({ ok: false, error: e.message }),
    ).finally(() => {
      if (!closed) timer.arm(everyMs);
    });
  };
  fetchOnce();
  return {
    close: () => {
      closed = true;
      timer.cancel();
    },
  };
}
