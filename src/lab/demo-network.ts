/**
 * `wirelab demo`: a Docker bridge network in user space, shown in a minute.
 *
 * Two containers (`web`, running `python3 -m http.server`, and `client`) on
 * a wirelab network whose switch, gateway, NAT and DNS are TypeScript; an
 * "outside" namespace on the gateway's uplink stands for the world beyond
 * the NAT. The demo runs, inside the containers and on the host, the
 * commands a Docker user would try, prints what they print, then the
 * gateway's conntrack table, DNS counters and published ports, and removes
 * everything. Needs root (namespaces and TAPs), python3 and curl.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openTap, type TapPort } from '../link/tap.js';
import { formatPortTable } from '../nat/port-proxy.js';
import { Lab } from './lab.js';
import type { Container } from './netns.js';
import { BridgeNetwork } from './network.js';
import { installCleanupHandlers } from './registry.js';

export interface NetworkDemoOptions {
  /** Host port for `-p 127.0.0.1:PORT:80`. Default 8080. */
  port?: number;
  /** Keep the network up until Ctrl-C, with how to look inside. */
  stay?: boolean;
  write?: (line: string) => void;
}

const SUBNET = '10.210.0.0/24';
const OUTSIDE = '10.211.0.2';
const UPLINK = '10.211.0.1';

/** `curl` from the host: a child process, so the host's kernel is the client. */
function hostCurl(url: string): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) =>
    execFile('curl', ['-sS', '--max-time', '10', url], (err, stdout, stderr) => resolve({ ok: err === null, out: err === null ? stdout : stderr || String(err) })),
  );
}

/** Runs the demo; resolves true if every step did what it shows. */
export async function runNetworkDemo(opts: NetworkDemoOptions = {}): Promise<boolean> {
  const write = opts.write ?? ((l: string) => process.stdout.write(l + '\n'));
  const port = opts.port ?? 8080;
  if (process.getuid?.() !== 0) {
    throw new Error('the demo creates network namespaces and TAP devices: run it as root (sudo npx wirelab demo)');
  }
  // With --stay, Ctrl-C is how the user ends the demo: it ends the wait and
  // the demo removes everything itself, then says so. Only other signals
  // take the emergency path (remove what is recorded, exit 128+n).
  const uninstall = installCleanupHandlers(opts.stay ? ['SIGTERM', 'SIGHUP'] : undefined);
  const lab = new Lab();
  let uplink: TapPort | undefined;
  let net: BridgeNetwork | undefined;
  let ok = true;
  const step = (what: string, good: boolean, lines: string): void => {
    write(`${good ? '✓' : '✗'} ${what}`);
    for (const l of lines.trimEnd().split('\n')) if (l !== '') write(`    ${l}`);
    if (!good) ok = false;
  };
  const inside = async (c: Container, who: string, argv: string[], expect: RegExp): Promise<void> => {
    const r = await c.exec(argv, { timeoutMs: 15_000 });
    const out = (r.stdout + r.stderr).trim();
    step(`${who}$ ${argv.join(' ')}`, r.code === 0 && expect.test(out), out);
  };
  try {
    uplink = openTap(`wlup${randomBytes(3).toString('hex')}`);
    const outside = await lab.container({ link: uplink.ifname, address: `${OUTSIDE}/24` });
    net = new BridgeNetwork({ name: 'demo', subnet: SUBNET, uplink: { port: uplink, address: `${UPLINK}/24` } });
    const web = await net.run(lab, { name: 'web', aliases: ['www'] });
    const client = await net.run(lab, { name: 'client' });
    write(`network demo: ${SUBNET}, gateway ${net.gatewayAddress} (a wirelab host: switch, router, NAT and DNS in TypeScript)`);
    write(`  web     ${web.address}  namespace ${web.container.name}, eth0 = TAP ${web.tap.ifname}`);
    write(`  client  ${client.address}  namespace ${client.container.name}, eth0 = TAP ${client.tap.ifname}`);
    write(`  outside ${OUTSIDE}  namespace ${outside.name}, beyond the gateway's uplink ${UPLINK} (masquerade)`);
    write('');

    const server = web.container.spawn(['python3', '-u', '-m', 'http.server', '80', '--bind', '0.0.0.0', '--directory', '/usr/share']);
    const world = outside.spawn(['python3', '-u', '-m', 'http.server', '8000', '--bind', '0.0.0.0', '--directory', '/usr/share']);
    await Promise.all([server.waitForOutput(/Serving HTTP/, 10_000), world.waitForOutput(/Serving HTTP/, 10_000)]);

    await inside(client.container, 'client', ['getent', 'hosts', 'web'], new RegExp(`^${web.address.replace(/\./g, '\\.')}\\s+web`));
    await inside(client.container, 'client', ['curl', '-sS', '-o', '/dev/null', '-w', 'HTTP %{http_code} from %{remote_ip}\\n', 'http://www/'], /HTTP 200 from 10\.210\.0\.2/);
    const before = world.stderrText.length;
    await inside(client.container, 'client', ['curl', '-sS', '-o', '/dev/null', '-w', 'HTTP %{http_code}\\n', `http://${OUTSIDE}:8000/`], /HTTP 200/);
    const seen = /^(\S+) - -/m.exec(world.stderrText.slice(before))?.[1] ?? '?';
    step(`outside sees the client as ${seen} (the gateway's uplink: masquerade)`, seen === UPLINK, '');

    await net.publish(`127.0.0.1:${port}:80`, 'web');
    const r = await hostCurl(`http://127.0.0.1:${port}/`);
    step(`host$ curl http://127.0.0.1:${port}/   (-p 127.0.0.1:${port}:80, proxy mode)`, r.ok && /Directory listing/.test(r.out), r.ok ? 'HTTP 200, a directory listing of /usr/share from the web container' : r.out);

    await net.publish('8080:80', 'web', { mode: 'dnat' });
    const mark = server.stderrText.length;
    await inside(outside, 'outside', ['curl', '-sS', '-o', '/dev/null', '-w', 'HTTP %{http_code}\\n', `http://${UPLINK}:8080/`], /HTTP 200/);
    const client2 = /^(\S+) - -/m.exec(server.stderrText.slice(mark))?.[1] ?? '?';
    step(`web sees that request from ${client2} (DNAT keeps the client's own address)`, client2 === OUTSIDE, '');

    write('');
    write('$ conntrack -L   (the gateway\'s table)');
    for (const l of net.gateway.nat.conntrack.format().trimEnd().split('\n')) write(`  ${l}`);
    write('$ docker port web');
    for (const l of formatPortTable().trimEnd().split('\n')) write(`  ${l}`);
    if (net.dns !== undefined) {
      write('DNS on the gateway:');
      for (const l of net.dns.formatStats().trimEnd().split('\n')) write(`  ${l}`);
    }
    if (opts.stay) {
      write('');
      write(`up until Ctrl-C; try:  ip netns exec ${client.container.name} curl http://web/   or   curl http://127.0.0.1:${port}/`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
    server.child.kill('SIGKILL');
    world.child.kill('SIGKILL');
  } finally {
    await lab.close();
    await net?.close();
    await uplink?.close();
    uninstall();
  }
  write('');
  write(ok ? 'demo passed: names, NAT and published ports all worked through wirelab; everything removed' : 'demo FAILED: a step above did not do what it shows');
  return ok;
}
