/**
 * A Docker-style bridge network made of wirelab parts (BridgeNetwork), with
 * real containers: addresses from the subnet in Docker's order, containers
 * reaching each other and the gateway through the wirelab bridge, and
 * `curl` on the host reaching `python3 -m http.server` in a container
 * through `-p 127.0.0.1:PORT:80`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../src/lab/lab.js';
import { BridgeNetwork, type Endpoint } from '../../src/lab/network.js';
import { requireRoot } from '../helpers/netns.js';

const cap = requireRoot(['curl', 'python3', 'ping']);
const lab = new Lab();
let net: BridgeNetwork | undefined;
let web: Endpoint;
let client: Endpoint;
const PORT = 20000 + (process.pid % 20000);

beforeAll(async () => {
  if (cap.skip) return;
  cap.assert();
  net = new BridgeNetwork({ name: 'wltest', subnet: '10.219.0.0/24' });
  web = await net.run(lab, { name: 'web', aliases: ['www'] });
  client = await net.run(lab, { name: 'client' });
});

afterAll(async () => {
  await lab.close().catch(() => undefined);
  await net?.close();
});

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

  it('curl on the host reaches the web container through -p 127.0.0.1:PORT:80', async () => {
    const server = web.container.spawn(['python3', '-m', 'http.server', '80', '--bind', '0.0.0.0', '--directory', '/proc/self']);
    try {
      await server.waitForOutput(/Serving HTTP/, 10_000);
      const p = await net!.publish(`${PORT}:80`, 'web');
      const { execFile } = await import('node:child_process');
      const body = await new Promise<string>((resolve, reject) =>
        execFile('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${PORT}/`], (err, out, errOut) => (err ? reject(new Error(errOut || String(err))) : resolve(out))),
      );
      expect(body).toMatch(/Directory listing/);
      // python's log line names the gateway: proxy mode, as docker-proxy, hides the client.
      expect(server.stderrText).toMatch(new RegExp(`${net!.gatewayAddress.replace(/\./g, '\\.')} - - .*"GET / HTTP/1\\.1" 200`));
      await p.close();
    } finally {
      server.child.kill('SIGKILL');
    }
  });
});
