/**
 * Containers finding each other by name, in memory on a virtual clock: a
 * wirelab Bridge joins a gateway, a "web" host and a "client" host; the
 * gateway runs a DnsServer (as Docker's embedded DNS serves a user-defined
 * network) that knows the lab's names and forwards the rest to an upstream.
 * The client resolves 'web' with `stack.dns.lookup` — Node's
 * `dns.promises.lookup`, on wirelab — then fetches http://web/ with Node's
 * own `http.get` over wirelab TCP, and the gateway prints its cache and
 * counters.
 *
 *   node --import tsx examples/dns.ts
 */
import http from 'node:http';
import { Bridge, createPipe, createStack, DnsServer, VirtualClock } from '../src/index.js';

const clock = new VirtualClock();
const bridge = new Bridge({ clock });
const hosts = {
  gateway: createStack({ clock, name: 'gateway' }),
  web: createStack({ clock, name: 'web' }),
  client: createStack({ clock, name: 'client' }),
};
const addresses = { gateway: '10.0.0.1', web: '10.0.0.2', client: '10.0.0.3' };
for (const [name, stack] of Object.entries(hosts) as Array<[keyof typeof hosts, (typeof hosts)[keyof typeof hosts]]>) {
  const [hostEnd, bridgeEnd] = createPipe(clock, { names: [`${name}0`, `br-${name}`] });
  stack.addInterface(hostEnd, { addresses: [`${addresses[name]}/24`] });
  bridge.addPort(bridgeEnd);
}

/** Runs the virtual clock until `p` settles: a second of virtual time takes milliseconds. */
async function run<T>(p: Promise<T>): Promise<T> {
  let done = false;
  const watched = p.finally(() => (done = true));
  watched.catch(() => undefined); // handled by the caller's await; not "unhandled" meanwhile
  for (let i = 0; i < 100_000 && !done; i++) {
    clock.advance(1);
    await new Promise((r) => setImmediate(r));
  }
  return watched;
}

// The gateway's DNS server: lab names with authority, everything else upstream (none here).
const dns = new DnsServer(hosts.gateway, { domain: 'lab' });
await run(dns.start());
dns.addHost('web', addresses.web, { aliases: ['www'], network: 'frontend' });
dns.addHost('client', addresses.client, { network: 'frontend' });

// A web server on the web host: Node's http.Server fed wirelab TCP connections.
const site = http.createServer((_req, res) => res.end('hello from web\n'));
hosts.web.tcp.createServer((sock) => site.emit('connection', sock)).listen(80);

// The client resolves names through the gateway, as a container with resolv.conf would.
hosts.client.dns.setServers([addresses.gateway]);
hosts.client.dns.configure({ search: ['frontend'] });
const { address, family } = await run(hosts.client.dns.lookup('web'));
console.log(`lookup('web') -> ${address} (IPv${family})`);
console.log(`lookup('www.frontend', { all: true }) ->`, await run(hosts.client.dns.lookup('www.frontend', { all: true })));
try {
  await run(hosts.client.dns.lookup('nope.lab'));
} catch (e) {
  console.log(`lookup('nope.lab') -> ${(e as Error).message}`);
}

const body = await run(
  new Promise<string>((resolve, reject) => {
    http
      .get({ host: address, port: 80, path: '/', agent: hosts.client.tcp.agent() }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  }),
);
console.log(`GET http://web/ -> ${body.trim()}`);

console.log('\ngateway DNS counters:');
console.log(dns.formatStats());
console.log('\nclient resolver cache:');
console.log(hosts.client.dns.cache.format());

dns.close();
for (const s of Object.values(hosts)) s.close();
bridge.close();
