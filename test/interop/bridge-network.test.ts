/**
 * A Docker-style bridge network made of wirelab parts (BridgeNetwork), with
 * real containers: addresses from the subnet in Docker's order, containers
 * reaching each other and the gateway through the wirelab bridge, names
 * through the gateway's DNS (`getent`, `curl http://web/`, `dig`), an
 * "outside" namespace on the gateway's uplink that sees containers as the
 * gateway's address (masquerade), `curl` on the host reaching
 * `python3 -m http.server` in a container through `-p 127.0.0.1:PORT:80`
 * (proxy mode), and DNAT mode keeping the outside client's address, with
 * hairpin from a sibling container.
 */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../src/lab/lab.js';
import { BridgeNetwork, type Endpoint } from '../../src/lab/network.js';
import type { Container } from '../../src/lab/netns.js';
import { openTap, type TapPort } from '../../src/link/tap.js';
import { requireRoot } from '../helpers/netns.js';
import { loopbackPort } from '../helpers/ports.js';

const cap = requireRoot(['curl', 'python3', 'ping', 'dig', 'getent']);
const lab = new Lab();
let net: BridgeNetwork | undefined;
let web: Endpoint;
let client: Endpoint;
let outside: Container;
let uplinkTap: TapPort | undefined;
let webServer: ReturnType<Container['spawn']> | undefined;
/** A TCP server that prints each peer's address and port. */
const PEER_LOGGER = [
  'import socket',
  's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 9000)); s.listen(8)',
  'print("ready", flush=True)',
  'while True:',
  '    c, a = s.accept(); print("peer", a[0], a[1], flush=True); c.sendall(b"hi"); c.close()',
].join('\n');

beforeAll(async () => {
  if (cap.skip) return;
  cap.assert();
  uplinkTap = openTap(`wlup${process.pid.toString(36)}`);
  outside = await lab.container({ link: uplinkTap.ifname, address: '10.220.0.2/24' });
  net = new BridgeNetwork({ name: 'wltest', subnet: '10.219.0.0/24', uplink: { port: uplinkTap, address: '10.220.0.1/24' } });
  web = await net.run(lab, { name: 'web', aliases: ['www'] });
  client = await net.run(lab, { name: 'client' });
  webServer = web.container.spawn(['python3', '-u', '-m', 'http.server', '80', '--bind', '0.0.0.0', '--directory', '/proc/self']);
  await webServer.waitForOutput(/Serving HTTP/, 10_000);
});

afterAll(async () => {
  webServer?.child.kill('SIGKILL');
  await lab.close().catch(() => undefined);
  await net?.close();
  await uplinkTap?.close().catch(() => undefined);
});

/** The lines python's http.server logged since `from` (stderr), one per request. */
const logSince = (from: number): string => webServer!.stderrText.slice(from);

describe.skipIf(cap.skip)('BridgeNetwork with containers', () => {
  it('hands out the gateway first, then containers in order, as Docker does', () => {
    expect(net!.inspect()).toMatchObject({
      name: 'wltest',
      subnet: '10.219.0.0/24',
      gateway: '10.219.0.1',
      containers: [
        { name: 'web', aliases: ['www'], ipv4Address: '10.219.0.2' },
        { name: 'client', ipv4Address: '10.219.0.3' },
      ],
    });
  });

  it('containers reach each other and the gateway through the wirelab bridge', async () => {
    const r1 = await client.container.exec(['ping', '-c', '2', '-i', '0.2', '-W', '2', web.address]);
    expect(r1.stdout).toMatch(/2 received/);
    const r2 = await web.container.exec(['ping', '-c', '1', '-W', '2', net!.gatewayAddress]);
    expect(r2.stdout).toMatch(/1 received/);
    // The bridge learned both containers' MACs on their TAP ports.
    const ports = net!.bridge.fdbEntries().map((e) => e.port);
    expect(ports).toEqual(expect.arrayContaining([web.tap.ifname, client.tap.ifname]));
  });

  it('names resolve through the gateway DNS: getent, dig, curl http://web/', async () => {
    const g = await client.container.exec(['getent', 'hosts', 'www'], { check: true });
    expect(g.stdout).toMatch(/^10\.219\.0\.2\s+www/m);
    const d = await client.container.exec(['dig', '+short', `@${net!.gatewayAddress}`, 'web.wltest'], { check: true });
    expect(d.stdout.trim()).toBe('10.219.0.2');
    const from = webServer!.stderrText.length;
    const c = await client.container.exec(['curl', '-sS', '--max-time', '10', 'http://web/'], { check: true });
    expect(c.stdout).toMatch(/Directory listing/);
    expect(logSince(from)).toMatch(/^10\.219\.0\.3 - - .*"GET \/ HTTP\/1\.1" 200/m);
  });

  it('a container reaches a server outside, which sees the gateway’s uplink address (masquerade)', async () => {
    const srv = outside.spawn(['python3', '-u', '-c', PEER_LOGGER]);
    try {
      await srv.waitForOutput(/ready/, 10_000);
      await client.container.exec(['python3', '-c', 'import socket; s=socket.create_connection(("10.220.0.2", 9000), 5); s.recv(10); s.close()'], { check: true, timeoutMs: 15_000 });
      await srv.waitForOutput(/peer /, 5_000);
      expect(srv.stdoutText).toMatch(/^peer 10\.220\.0\.1 \d+$/m);
      expect(net!.gateway.nat.conntrack.format()).toMatch(/src=10\.219\.0\.3 dst=10\.220\.0\.2 sport=\d+ dport=9000 src=10\.220\.0\.2 dst=10\.220\.0\.1/);
    } finally {
      srv.child.kill('SIGKILL');
    }
  });

  it('curl on the host reaches the web container through -p 127.0.0.1:PORT:80 (proxy mode)', async () => {
    const port = await loopbackPort();
    const p = await net!.publish(`${port}:80`, 'web');
    try {
      const from = webServer!.stderrText.length;
      const body = await new Promise<string>((resolve, reject) =>
        execFile('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${port}/`], (err, out, errOut) => (err ? reject(new Error(errOut || String(err))) : resolve(out))),
      );
      expect(body).toMatch(/Directory listing/);
      // Proxy mode, as docker-proxy, hides the client: the server sees the gateway.
      expect(logSince(from)).toMatch(/^10\.219\.0\.1 - - .*"GET \/ HTTP\/1\.1" 200/m);
    } finally {
      await p.close();
    }
  });

  it('DNAT mode keeps the outside client’s address, and a sibling reaches it through the uplink address (hairpin)', async () => {
    const h = await net!.publish('8080:80', 'web', { mode: 'dnat' });
    try {
      let from = webServer!.stderrText.length;
      await outside.exec(['curl', '-sS', '--max-time', '10', '-o', '/dev/null', 'http://10.220.0.1:8080/'], { check: true });
      expect(logSince(from)).toMatch(/^10\.220\.0\.2 - - .*"GET \/ HTTP\/1\.1" 200/m);
      from = webServer!.stderrText.length;
      await client.container.exec(['curl', '-sS', '--max-time', '10', '-o', '/dev/null', 'http://10.220.0.1:8080/'], { check: true });
      // Hairpin: Docker's --userland-proxy=false masquerades the sibling to the gateway.
      expect(logSince(from)).toMatch(/^10\.219\.0\.1 - - .*"GET \/ HTTP\/1\.1" 200/m);
    } finally {
      await h.close();
    }
  });
});
