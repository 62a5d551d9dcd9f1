/**
 * Any interface as a switch port: two namespaces on veth pairs whose outer
 * ends stay in this namespace, switched by a wirelab Bridge through AF_PACKET
 * ports (root: it creates namespaces and opens packet sockets).
 *
 *   node --import tsx examples/any-interface.ts
 *
 * Everything it creates has a random `ap…` name and is removed at the end.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Bridge, RealClock, defaultRouteInterfaces, openPacketPort, type PacketPort } from 'wirelab';

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });
const id = randomBytes(3).toString('hex');
const sides = ['a', 'b'].map((s, i) => ({ ns: `ap-${id}-${s}`, outer: `ap${id}${s}`, addr: `10.214.0.${i + 1}` }));
const ports: PacketPort[] = [];
const clock = new RealClock();
const bridge = new Bridge({ clock, name: 'br0' });
try {
  for (const s of sides) {
    ip('netns', 'add', s.ns);
    ip('link', 'add', s.outer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', s.ns);
    ip('link', 'set', s.outer, 'up');
    ip('-n', s.ns, 'addr', 'add', `${s.addr}/24`, 'dev', 'eth0');
    ip('-n', s.ns, 'link', 'set', 'eth0', 'up');
  }

  // The wirelab part: an existing interface becomes a Port like any TAP.
  for (const s of sides) {
    const port = openPacketPort(s.outer); // refuses the default-route interface unless { force: true }
    bridge.addPort(port);
    ports.push(port);
  }

  console.log(`default route interfaces (refused): ${[...defaultRouteInterfaces()].join(', ') || 'none'}`);
  // execFileSync would block the event loop that runs the bridge: ping asynchronously.
  const out = await new Promise<string>((resolve, reject) =>
    execFile('ip', ['netns', 'exec', sides[0]!.ns, 'ping', '-c', '3', '-i', '0.2', '-W', '2', sides[1]!.addr], (e, stdout) =>
      e ? reject(e) : resolve(stdout),
    ),
  );
  console.log(out.trim().split('\n').at(-2));
  for (const p of ports) console.log(`${p.name}: rx ${p.stats.rxFrames} tx ${p.stats.txFrames} drops ${JSON.stringify(p.stats.drops)}`);
} finally {
  for (const p of ports) await p.close();
  bridge.close();
  clock.close();
  for (const s of sides) {
    try {
      ip('netns', 'del', s.ns); // takes the veth pair with it
    } catch {
      // never created
    }
  }
}
