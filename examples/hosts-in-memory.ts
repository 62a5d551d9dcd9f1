/**
 * Two wirelab hosts on an in-memory cable, on a virtual clock: a UDP echo
 * server, a 4000-byte ping (fragmented and reassembled), and the tables
 * `ip neigh` and `ip route` would print.
 *
 *   node --import tsx examples/hosts-in-memory.ts
 */
import { createStack, createPipe, VirtualClock } from 'wirelab';

const clock = new VirtualClock(); // or new RealClock() with TAPs
const [p1, p2] = createPipe(clock); // a cable; impair(p1, clock, { loss: 0.01 }) makes it lossy
const a = createStack({ clock, name: 'a' });
const b = createStack({ clock, name: 'b' });
a.addInterface(p1, { addresses: ['10.0.0.1/24'] });
b.addInterface(p2, { addresses: ['10.0.0.2/24'] });
const echo = b.udp.createSocket(); // like dgram
echo.on('message', (m, r) => echo.send(m, r.port, r.address)).bind(7);
const reply = a.icmp.ping('10.0.0.2', { size: 4000 });
clock.advance(10); // virtual time: nothing waits
console.log(await reply, a.neighbours.format(), a.routes.format());

a.close();
b.close();
