/**
 * A Docker-style bridge network in memory: two containers behind a wirelab
 * router that masquerades them onto its uplink and publishes the web
 * container's port 80 as 8080 (DNAT). A client on the uplink fetches a page
 * through the published port (the container sees the client's own address),
 * the web container sends a UDP query out (the server sees the router's
 * address), and the other container reaches the web container through the
 * published address (hairpin). Then it prints the router's conntrack table,
 * as `conntrack -L` would, and its NAT port usage.
 *
 * Everything runs on a VirtualClock: no root, no TAPs, same output each run.
 *
 *   node --import tsx examples/nat-router.ts
 */
import { Bridge, createPipe, createStack, VirtualClock, type Stack } from '../src/index.js';

const clock = new VirtualClock();

/** Runs virtual time until `p` settles. */
async function until<T>(p: Promise<T>): Promise<T> {
  let done = false;
  const guarded = p.finally(() => (done = true));
  for (let i = 0; i < 10_000 && !done; i++) {
    clock.advance(1);
    await new Promise((r) => setImmediate(r));
  }
  return guarded;
}

// 172.30.0.0/24: the bridge network, with the router as its gateway.
const bridge = new Bridge({ clock, name: 'br0' });
const web = createStack({ clock, name: 'web' });
const app = createStack({ clock, name: 'app' });
const router = createStack({ clock, name: 'router', forwarding: true });
for (const [host, cidr] of [[web, '172.30.0.2/24'], [app, '172.30.0.3/24'], [router, '172.30.0.1/24']] as const) {
  const [hostEnd, bridgeEnd] = createPipe(clock);
  bridge.addPort(bridgeEnd);
  host.addInterface(hostEnd, { name: 'eth0', addresses: [cidr] });
}
web.addRoute('default', { via: '172.30.0.1' });
app.addRoute('default', { via: '172.30.0.1' });

// 10.201.0.0/24: the uplink, with a client/server outside.
const outside = createStack({ clock, name: 'outside' });
const [up, out] = createPipe(clock);
router.addInterface(up, { name: 'eth1', addresses: ['10.201.0.1/24'] });
outside.addInterface(out, { name: 'eth0', addresses: ['10.201.0.2/24'] });

// The NAT: masquerade out of eth1, and -p 8080:80 for the web container.
router.nat.masquerade('eth1', { portRange: [1024, 65535] });
router.nat.publish({ protocol: 'tcp', port: 8080, toAddress: '172.30.0.2', toPort: 80, owner: 'web' });

// The web container answers with the address it saw.
web.tcp.createServer((sock) => {
  sock.end(`hello ${sock.remoteAddress}:${sock.remotePort}\n`);
}).listen(80);

function fetch(from: Stack, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const sock = from.tcp.connect({ host, port });
    sock.on('data', (d: Buffer) => (text += d.toString()));
    sock.on('end', () => resolve(text.trim()));
    sock.on('error', reject);
  });
}

// A UDP server outside that logs who asked.
const dns = outside.udp.createSocket();
dns.on('message', (msg, rinfo) => {
  console.log(`outside UDP server got "${msg.toString()}" from ${rinfo.address}:${rinfo.port}`);
  dns.send(msg, rinfo.port, rinfo.address);
});
dns.bind(53);

console.log(`outside -> 10.201.0.1:8080: ${await until(fetch(outside, '10.201.0.1', 8080))}`);
console.log(`app -> 10.201.0.1:8080 (hairpin): ${await until(fetch(app, '10.201.0.1', 8080))}`);

const query = web.udp.createSocket();
query.bind(5353);
const answered = new Promise<void>((resolve) => query.once('message', () => resolve()));
query.send(Buffer.from('who-is-outside'), 53, '10.201.0.2');
await until(answered);

console.log('\nconntrack -L on the router:');
console.log(router.nat.conntrack.format());
const usage = router.nat.portUsage();
console.log(`\nNAT ports in use: tcp ${usage.tcp.inUse}, udp ${usage.udp.inUse}; published: ${usage.published.join(', ')}`);

for (const h of [web, app, router, outside]) h.close();
bridge.close();
