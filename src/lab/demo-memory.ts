/**
 * `wirelab demo` without root: the containers lecture's web application
 * (web → api → db, a cache, a worker reaching the internet through NAT),
 * every machine a wirelab host in this process, on a RealClock. No
 * namespaces, no TAPs, no /dev/net/tun — what demo-network.ts shows with
 * real containers, shown here with hosts made of TypeScript, so anyone can
 * run it.
 *
 *   network app 172.30.0.0/24      br-app: web api db cache worker + app-gw
 *   network outside 203.0.113.0/24 br-outside: app-gw's uplink + internet
 *
 * `app-gw` is Docker's bridge gateway: the DNS server that knows every host
 * by name, the router between the two networks, masquerading what leaves by
 * its uplink. `web`'s port 80 is published on a REAL 127.0.0.1 socket
 * (proxy mode), so a browser or curl on the host reaches it. db's cable is
 * impaired (delay and loss, as netem), and TCP recovers. Every bridge port
 * is mirrored into one pcapng file, one interface per port.
 *
 * Prints each step as it happens, then `demo passed` (true) or
 * `demo FAILED: <reason>` (false). With `stay`, holds until SIGINT/SIGTERM
 * (the normal way out, not a failure). Closes every socket, timer and the
 * clock, so the process then exits on its own.
 */
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { readCapture } from '../link/capture-reader.js';
import { impair, type ImpairedPort } from '../link/impair.js';
import { PcapngWriter } from '../link/pcap.js';
import { createPipe } from '../link/pipe.js';
import type { Port } from '../link/port.js';
import { DnsServer } from '../dns/server.js';
import { publishPort, type PublishedPort } from '../nat/port-proxy.js';
import { Stack } from '../stack.js';
import { Bridge } from '../switch/bridge.js';
import { RealClock } from '../time/index.js';
import {
  dbGet, startApi, startCache, startDb, startInternet, startWeb, startWorker, API_PORT, CACHE_PORT, DB_PORT,
  type Closable, type WorkerResult,
} from './demo-memory-apps.js';

export interface MemoryDemoOptions {
  /** Host port on 127.0.0.1 for web's port 80 (`-p 127.0.0.1:PORT:80`). */
  port: number;
  /** Hold everything up until SIGINT/SIGTERM. */
  stay: boolean;
  /** The pcapng file every bridge port is mirrored into. */
  pcapPath: string;
  /** Where lines go; default stdout. */
  out?: (line: string) => void;
}

const GW = '172.30.0.1';
const UPLINK = '203.0.113.1';
const INTERNET = '203.0.113.10';
/** The application's hosts on `app`, with what each runs. */
const HOSTS = [
  { name: 'web', address: '172.30.0.2', runs: `http :80 (page from http://api:${API_PORT}/items)` },
  { name: 'api', address: '172.30.0.3', runs: `http :${API_PORT} (/items: db by name, JSON)` },
  { name: 'db', address: '172.30.0.4', runs: `tcp :${DB_PORT} key-value (GET key)` },
  { name: 'cache', address: '172.30.0.5', runs: `udp :${CACHE_PORT} counter (INCR key)` },
  { name: 'worker', address: '172.30.0.6', runs: `fetches http://${INTERNET}/ every 2 s` },
] as const;
/** db's cable, bridge → db, as `tc qdisc add dev … netem delay 20ms loss 1%`. */
// Seeded, so the same frames are lost run after run (here: a ping's and one more; TCP and a retry recover).
const DB_IMPAIRMENT = { delayMs: 20, loss: 0.01, seed: 4 };
const WORKER_EVERY_MS = 2000;

/** Everything the demo made, closed in one place. */
class MemoryLab {
  readonly clock = new RealClock();
  readonly writer: PcapngWriter;
  readonly app = new Bridge({ clock: this.clock, name: 'br-app' });
  readonly outside = new Bridge({ clock: this.clock, name: 'br-outside' });
  readonly gw = new Stack(this.clock, { name: 'app-gw', forwarding: true });
  readonly internet = new Stack(this.clock, { name: 'internet' });
  readonly hosts = new Map<string, Stack>();
  readonly dns: DnsServer;
  readonly dbLink: ImpairedPort;
  readonly apps: Closable[] = [];
  published: PublishedPort | undefined;
  private readonly ports: Port[] = [];

  constructor(pcapPath: string) {
    this.writer = new PcapngWriter(pcapPath);
    // Mirror before any port exists: every port added later gets its interface, in order.
    this.app.mirror(this.writer);
    this.outside.mirror(this.writer);
    this.cable(this.app, this.gw, 'app-gw', 'eth0', `${GW}/24`);
    this.cable(this.outside, this.gw, 'app-gw-uplink', 'uplink', `${UPLINK}/24`);
    this.gw.nat.masquerade('uplink');
    this.cable(this.outside, this.internet, 'internet', 'eth0', `${INTERNET}/24`);
    this.dns = new DnsServer(this.gw, { address: GW });
    this.dns.addHost('app-gw', GW, { network: 'app' });
    let dbLink: ImpairedPort | undefined;
    for (const h of HOSTS) {
      const stack = new Stack(this.clock, { name: h.name });
      const impaired = this.cable(this.app, stack, h.name, 'eth0', `${h.address}/24`, h.name === 'db');
      if (impaired !== undefined) dbLink = impaired;
      stack.addRoute('default', { via: GW });
      stack.dns.setServers([GW]);
      this.hosts.set(h.name, stack);
      this.dns.addHost(h.name, h.address, { network: 'app' });
    }
    this.dbLink = dbLink!;
  }

  host(name: string): Stack {
    return this.hosts.get(name)!;
  }

  /** A pipe from `stack` into `bridge`; the bridge end is named `portName` (the pcapng interface). */
  private cable(bridge: Bridge, stack: Stack, portName: string, dev: string, cidr: string, impaired = false): ImpairedPort | undefined {
    const [hostEnd, bridgeEnd] = createPipe(this.clock, { offload: true, names: [`${portName}-${dev}`, portName] });
    const port = impaired ? impair(bridgeEnd, this.clock, DB_IMPAIRMENT) : bridgeEnd;
    this.ports.push(hostEnd, port);
    bridge.addPort(port);
    stack.addInterface(hostEnd, { name: dev, addresses: [cidr] });
    return impaired ? (port as ImpairedPort) : undefined;
  }

  get stacks(): Stack[] {
    return [...this.hosts.values(), this.gw, this.internet];
  }

  async close(): Promise<void> {
    for (const a of this.apps) a.close();
    await this.published?.close().catch(() => undefined);
    this.dns.close();
    for (const s of this.stacks) s.close();
    this.app.close();
    this.outside.close();
    await Promise.allSettled(this.ports.map((p) => p.close()));
    await this.writer.close().catch(() => undefined);
    this.clock.close();
  }
}

/** GET from the host itself: Node's http on a real kernel socket, no keep-alive. */
function hostGet(url: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url} did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** One echo request from `from` to `to`, sent again (up to `tries`) when lost; the tries it took, or 0. */
async function pingPair(from: Stack, to: string, tries = 3): Promise<number> {
  for (let t = 1; t <= tries; t++) {
    try {
      await from.icmp.ping(to, { timeoutMs: 1000 });
      return t;
    } catch {
      // lost (db's cable drops 1%) or unreachable: try again
    }
  }
  return 0;
}

/** Resolves on the first SIGINT or SIGTERM (Ctrl-C ends a --stay demo normally). */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

class StepFailed extends Error {}

/** Runs the demo; resolves true when every step did what it shows. */
export async function runMemoryDemo(opts: MemoryDemoOptions): Promise<boolean> {
  const write = opts.out ?? ((l: string) => void process.stdout.write(l + '\n'));
  const indent = (text: string): void => {
    for (const l of text.trimEnd().split('\n')) if (l !== '') write(`    ${l}`);
  };
  /** Prints ✓ and the step's lines, or ✗ and throws the reason. */
  const step = async (what: string, run: () => Promise<string>): Promise<void> => {
    let lines: string;
    try {
      lines = await run();
    } catch (e) {
      write(`✗ ${what}`);
      throw new StepFailed(`${what}: ${(e as Error).message}`);
    }
    write(`✓ ${what}`);
    indent(lines);
  };
  const started = performance.now();
  let lab: MemoryLab | undefined;
  let ok = true;
  try {
    lab = new MemoryLab(opts.pcapPath);
    const { gw } = lab;
    write(`created network app 172.30.0.0/24: a wirelab Bridge (br-app), gateway app-gw ${GW} (router, NAT, DNS)`);
    write(`created network outside 203.0.113.0/24: a wirelab Bridge (br-outside), app-gw's uplink ${UPLINK} masquerades`);
    await lab.dns.start();
    lab.apps.push(
      startDb(lab.host('db')), startCache(lab.host('cache')), startApi(lab.host('api')),
      startWeb(lab.host('web')), startInternet(lab.internet),
    );
    write('hosts up (each a wirelab Stack in this process, on a pipe into its bridge; no root, no TAP):');
    write(`  app-gw    ${GW}  dns :53, router, masquerade out of uplink ${UPLINK}`);
    for (const h of HOSTS) write(`  ${h.name.padEnd(8)}  ${h.address}  ${h.runs}`);
    write(`  internet  ${INTERNET}  http :80 (answers with the client address it sees)`);
    write(`  db's cable, bridge → db: delay ${DB_IMPAIRMENT.delayMs}ms loss ${DB_IMPAIRMENT.loss * 100}% (netem-like; TCP recovers)`);
    lab.published = await publishPort(gw, `127.0.0.1:${opts.port}:80`, HOSTS[0].address, { owner: 'web' });
    write(`published web:80 on 127.0.0.1:${opts.port} (a real host socket, spliced through app-gw: docker-proxy's job)`);
    write(`capturing every bridge port into ${opts.pcapPath}`);
    const workerResults: WorkerResult[] = [];
    const firstWorker = new Promise<WorkerResult>((resolve) => {
      lab!.apps.push(startWorker(lab!.host('worker'), INTERNET, WORKER_EVERY_MS, (r) => {
        workerResults.push(r);
        if (workerResults.length === 1) resolve(r);
      }));
    });
    write('');

    const url = `http://127.0.0.1:${opts.port}/`;
    await step(`host$ GET ${url}   (Node's http on a real kernel socket → app-gw → web → api → db)`, async () => {
      const r = await hostGet(url);
      if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body.trim()}`);
      const first = r.body.split('\n')[0]!;
      return `HTTP ${r.status}  ${first.length > 110 ? `${first.slice(0, 110)}…` : first}`;
    });

    await step('api reaches db by name (DNS on app-gw, then TCP over the lossy cable)', async () => {
      const api = lab!.host('api');
      const { address } = await api.dns.lookup('db');
      if (address !== HOSTS[2].address) throw new Error(`db resolved to ${address}, expected ${HOSTS[2].address}`);
      const t0 = performance.now();
      const answer = await dbGet(api, address, 'motd');
      return `api$ lookup db → ${address}\napi$ GET motd → ${answer}   (${(performance.now() - t0).toFixed(0)} ms)`;
    });

    await step('pingall: every host pings every other (ICMP echo, wirelab stacks)', async () => {
      const names = [...HOSTS.map((h) => h.name), 'app-gw'];
      const stacks = [...HOSTS.map((h) => lab!.host(h.name)), gw];
      const addresses = [...HOSTS.map((h) => h.address), GW];
      const rows = await Promise.all(stacks.map((s, i) =>
        Promise.all(addresses.map((a, j) => (i === j ? Promise.resolve(-1) : pingPair(s, a))))));
      let sent = 0;
      let answered = 0;
      let retried = 0;
      const lines = ['*** Ping: testing ping reachability'];
      rows.forEach((row, i) => {
        const cells = row.flatMap((t, j) => (t < 0 ? [] : [t > 0 ? names[j]! : 'X']));
        for (const t of row) if (t >= 0) (sent++, t > 0 ? (answered++, (retried += t - 1)) : undefined);
        lines.push(`${names[i]!.padEnd(6)} -> ${cells.join(' ')}`);
      });
      const loss = Math.round((100 * (sent - answered)) / sent);
      lines.push(`*** Results: ${loss}% dropped (${answered}/${sent} received)` +
        (retried > 0 ? `; ${retried} ping(s) sent again after a frame lost on db's cable` : ''));
      if (answered !== sent) throw new Error(lines.slice(1).join('; '));
      return lines.join('\n');
    });

    await step(`worker fetches http://${INTERNET}/ through app-gw's NAT`, async () => {
      const r = await firstWorker;
      if (!r.ok) throw new Error(r.error);
      const seen = /you are (\S+)/.exec(r.body)?.[1] ?? '?';
      if (r.status !== 200 || seen !== UPLINK) throw new Error(`HTTP ${r.status}, internet saw ${seen}, expected the uplink ${UPLINK}`);
      // TCP only, as `conntrack -L -p tcp`: app-gw also tracks its own DNS answers and pings (counted below).
      const all = gw.nat.conntrack.format().split('\n').filter((l) => l !== '');
      const tcp = all.filter((l) => l.startsWith('tcp '));
      if (!tcp.some((l) => l.includes(`dst=${INTERNET}`) && l.includes(`dst=${UPLINK}`))) {
        throw new Error(`no masqueraded conntrack entry for ${INTERNET}:\n${all.join('\n')}`);
      }
      return `worker$ GET http://${INTERNET}/ → HTTP ${r.status}: ${r.body.trim()}   (masquerade: ${HOSTS[4].address} became ${UPLINK})\n` +
        `$ conntrack -L -p tcp   (app-gw's table: the published port's splice and the worker's masqueraded flow)\n` +
        `${tcp.map((l) => `  ${l}`).join('\n')}\n  (+${all.length - tcp.length} udp/icmp entries: DNS queries and pings to app-gw itself)`;
    });

    await step(`capture: every bridge port in one pcapng file`, async () => {
      await lab!.writer.flush();
      const cap = readCapture(await readFile(opts.pcapPath));
      if (!cap.ok) throw new Error(`${opts.pcapPath} does not read back: ${cap.message}`);
      const perIf = new Map<string, number>();
      for (const r of cap.value.records) {
        const n = cap.value.interfaces[r.interfaceId]?.name ?? `if${r.interfaceId}`;
        perIf.set(n, (perIf.get(n) ?? 0) + 1);
      }
      const busy = [...perIf].filter(([, n]) => n > 0);
      if (busy.length < 2) throw new Error(`frames on only ${busy.length} interface(s)`);
      return `${opts.pcapPath}: ${cap.value.records.length} frames on ${busy.length} interfaces (one per bridge port)\n` +
        `${busy.map(([n, c]) => `${n} ${c}`).join('   ')}\n` +
        `open it: wireshark ${opts.pcapPath}   or   tshark -r ${opts.pcapPath}`;
    });

    const dbStats = lab.dbLink.impairStats;
    const proxy = lab.published.stats().tcp;
    write('');
    write(`summary: ${lab.stacks.length} wirelab hosts on 2 bridges, ${lab.dns.stats.queries.udp + lab.dns.stats.queries.tcp} DNS queries answered by app-gw, ` +
      `${proxy.connections} connection(s) through 127.0.0.1:${opts.port}, db's cable lost ${dbStats.lost} of ${dbStats.sent} frames` +
      (dbStats.lost > 0 ? ' and nothing failed: TCP retransmits, ARP and ping retries made up for them' : ''));
    if (opts.stay) {
      write('');
      write(`up until Ctrl-C; try:  curl http://127.0.0.1:${opts.port}/   (and afterwards: wireshark ${opts.pcapPath})`);
      const sig = await untilSignal();
      const fetched = workerResults.filter((r) => r.ok).length;
      write(`${sig}: stopping (the worker fetched ${fetched} time(s) through the NAT meanwhile)`);
    }
  } catch (e) {
    ok = false;
    write('');
    write(`demo FAILED: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    await lab?.close();
  }
  if (ok) {
    write('');
    write(`demo passed: web, api, db, cache and worker talked through wirelab's switch, router, NAT and DNS in memory ` +
      `(${((performance.now() - started) / 1000).toFixed(1)} s); everything closed`);
  }
  return ok;
}
