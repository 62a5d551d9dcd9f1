/**
 * `wirelab demo` as root: the containers lecture's web application as a lab
 * of real containers on wirelab networks, shown step by step in a minute.
 *
 *   app (172.30.0.0/24)                         outside (203.0.113.0/24)
 *   web  api  db~  cache  worker ── edge (router, NAT) ── internet
 *   web published on 127.0.0.1:PORT; db's link delayed 20 ms (netem words)
 *
 * It is an ordinary lab file (built here, loaded by the same loader as
 * `wirelab up -f`) brought up by `RunningLab`; every network is captured
 * into one pcapng file. The steps run what a user would try — curl through
 * the published port, api reaching db by name, pingall, the worker's
 * request through the NAT and the router's conntrack table — print what
 * they print, take the lab down, and say what the capture holds and how to
 * open it. Needs root (namespaces, TAPs), python3 and curl.
 */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { readCapture } from '../link/capture-reader.js';
import { writeDemoApps } from './demo-apps.js';
import { parseLabText } from './file/load.js';
import { formatPingAll, pingAll } from './file/pingall.js';
import { formatServiceTable, labLogDir, RunningLab } from './file/up.js';
import { installCleanupHandlers } from './registry.js';
import { hostExec, insideUserNamespace } from './rootless.js';

export interface LabDemoOptions {
  /** Host port web is published on (127.0.0.1). Default 8080. */
  port?: number;
  /** Where the capture goes. Default ./demo.pcapng. */
  pcapPath?: string;
  /** Keep the lab up until Ctrl-C. */
  stay?: boolean;
  write?: (line: string) => void;
}

/** The demo's lab file. */
export function demoLabText(apps: string, port: number, pcapPath: string): string {
  const py = (name: string): string => JSON.stringify(['python3', '-u', `${apps}/${name}.py`]);
  return `# wirelab demo: the containers lecture's web application
name: demo
networks:
  app:
    ipam:
      config:
        - subnet: 172.30.0.0/24
  outside:
    ipam:
      config:
        - subnet: 203.0.113.0/24
routers:
  edge:
    networks: [app, outside]
    uplink: outside
    nat: masquerade
services:
  db:
    command: ${py('db')}
    networks:
      app:
        impair: delay 20ms
    healthcheck:
      test: ["CMD", "python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 5432), 1)"]
      interval: 200ms
      retries: 50
  cache:
    command: ${py('cache')}
    networks: [app]
  api:
    command: ${py('api')}
    networks: [app]
    depends_on:
      db: { condition: service_healthy }
      cache: { condition: service_started }
    healthcheck:
      test: ["CMD", "python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 8000), 1)"]
      interval: 200ms
      retries: 50
  web:
    command: ${py('web')}
    networks: [app]
    ports: ["127.0.0.1:${port}:80"]
    depends_on:
      api: { condition: service_healthy }
    healthcheck:
      test: ["CMD", "python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 80), 1)"]
      interval: 200ms
      retries: 50
  internet:
    command: ${py('internet')}
    networks: [outside]
    healthcheck:
      test: ["CMD", "python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 80), 1)"]
      interval: 200ms
      retries: 50
  worker:
    command: ["sh", "-c", "while true; do curl -s -m 5 -o /dev/null http://internet/; sleep 2; done"]
    networks: [app]
    depends_on:
      internet: { condition: service_healthy }
      web: { condition: service_healthy }
captures:
  demo:
    file: ${JSON.stringify(pcapPath)}
    of: [app, outside]
`;
}

function hostCurl(url: string): Promise<{ ok: boolean; out: string }> {
  // Without root the lab runs in a namespace of its own: the host is where the user is (rootless.ts).
  if (insideUserNamespace()) return hostExec(['curl', '-sS', '--max-time', '10', '-w', '\nHTTP %{http_code}', url]);
  return new Promise((done) =>
    execFile('curl', ['-sS', '--max-time', '10', '-w', '\nHTTP %{http_code}', url], (err, stdout, stderr) =>
      done({ ok: err === null, out: err === null ? stdout : stderr || String(err) }),
    ),
  );
}

/** Runs the demo; resolves true if every step did what it shows. */
export async function runLabDemo(opts: LabDemoOptions = {}): Promise<boolean> {
  const write = opts.write ?? ((l: string) => process.stdout.write(l + '\n'));
  const port = opts.port ?? 8080;
  const pcapPath = resolve(opts.pcapPath ?? 'demo.pcapng');
  if (process.getuid?.() !== 0) throw new Error('the container demo creates network namespaces and TAP devices: run it as root, or use --memory');
  // With --stay, Ctrl-C is how the user ends the demo; only other signals take the emergency path.
  const uninstall = installCleanupHandlers(opts.stay ? ['SIGTERM', 'SIGHUP'] : undefined);
  const apps = writeDemoApps();
  let ok = true;
  const step = (what: string, good: boolean, lines = ''): void => {
    write(`${good ? '✓' : '✗'} ${what}`);
    for (const l of lines.trimEnd().split('\n')) if (l !== '') write(`    ${l}`);
    if (!good) ok = false;
  };
  let lab: RunningLab | undefined;
  const t0 = Date.now();
  try {
    const model = parseLabText(demoLabText(apps, port, pcapPath), 'demo.yaml');
    write('wirelab demo: web, api, db, cache and worker on a wirelab network; a wirelab router with NAT to the outside');
    lab = await RunningLab.up(model, { progress: (l) => write(`  ${l}`) });
    write('');
    write(formatServiceTable(lab.rows()));
    write(`(up in ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    write('');

    const page = await hostCurl(`http://127.0.0.1:${port}/`);
    step(`host$ curl http://127.0.0.1:${port}/   (web, published as -p 127.0.0.1:${port}:80)`, page.ok && /HTTP 200$/.test(page.out) && /apple/.test(page.out), page.out);

    const api = lab.container('api')!;
    const dns = await api.exec(['getent', 'hosts', 'db'], { timeoutMs: 10_000 });
    step('api$ getent hosts db   (the lab\'s DNS on the network\'s gateway)', dns.code === 0 && /^172\.30\.0\.\d+\s+db/.test(dns.stdout), dns.stdout + dns.stderr);
    const query = await api.exec(['python3', '-c', "import socket,time; t=time.time(); c=socket.create_connection(('db',5432)); c.sendall(b'GET items\\n'); a=c.makefile().readline().strip(); print(a); print('%.0f ms (db\\'s link is delayed 20 ms each way)' % ((time.time()-t)*1000))"], { timeoutMs: 15_000 });
    step('api$ db GET items   (by name, over TCP)', query.code === 0 && /apple/.test(query.stdout), query.stdout + query.stderr);

    const rows = lab.rows();
    const ping = await pingAll(rows, { count: 1, timeoutS: 2 });
    step('pingall   (every container pings every node)', ping.lossPercent === 0, formatPingAll(rows, ping));

    const worker = lab.container('worker')!;
    const fetched = await worker.exec(['curl', '-sS', '-m', '10', 'http://internet/'], { timeoutMs: 15_000 });
    step('worker$ curl http://internet/   (through the router edge, masqueraded)', fetched.code === 0 && /you are 203\.0\.113\.1\b/.test(fetched.stdout), fetched.stdout + fetched.stderr);
    const edge = lab.stack('edge')!;
    const tcp = edge.nat.conntrack.format().split('\n').filter((l) => l.startsWith('tcp'));
    step("edge$ conntrack -L -p tcp   (the router's table)", tcp.length > 0, tcp.join('\n'));
    write('');

    if (opts.stay) {
      write(`up until Ctrl-C; try:  curl http://127.0.0.1:${port}/   or   wirelab graph (in another shell: this lab is not detached)`);
      await new Promise<void>((done) => process.once('SIGINT', () => done()));
      write('SIGINT: taking the demo down');
    }
  } catch (e) {
    step(`the demo stopped: ${e instanceof Error ? e.message : String(e)}`, false);
  } finally {
    await lab?.down().catch((e: unknown) => step(`taking the lab down: ${e instanceof Error ? e.message : String(e)}`, false));
    rmSync(apps, { recursive: true, force: true });
    rmSync(labLogDir('demo'), { recursive: true, force: true });
    uninstall();
  }
  if (lab !== undefined) {
    const cap = readCapture(new Uint8Array(readFileSync(pcapPath)));
    if (cap.ok) {
      const per = new Map<string, number>();
      for (const r of cap.value.records) {
        const name = cap.value.interfaces[r.interfaceId]?.name ?? `#${r.interfaceId}`;
        per.set(name, (per.get(name) ?? 0) + 1);
      }
      step(`capture: ${cap.value.records.length} frames on ${per.size} interfaces in ${pcapPath}`, cap.value.records.length > 0,
        `${[...per].map(([n, c]) => `${n} ${c}`).join(', ')}\nopen it:  wireshark ${pcapPath}   or   tshark -r ${pcapPath}`);
    } else {
      step(`capture ${pcapPath} is unreadable: ${cap.message}`, false);
    }
  }
  write('');
  write(ok ? `demo passed in ${((Date.now() - t0) / 1000).toFixed(1)} s: names, routing, NAT, a published port and an impaired link, all through wirelab; everything removed` : 'demo FAILED: a step above did not do what it shows');
  return ok;
}
