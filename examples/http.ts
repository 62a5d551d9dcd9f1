/**
 * Node's own http, server and client, on wirelab TCP between two hosts in
 * memory. Node's http uses real timers, so this runs on a RealClock.
 *
 *   node --import tsx examples/http.ts
 */
import { createStack, createPipe, RealClock } from 'wirelab';

const clock = new RealClock();
const [p1, p2] = createPipe(clock);
const a = createStack({ clock, name: 'client' });
const b = createStack({ clock, name: 'server' });
a.addInterface(p1, { addresses: ['10.0.0.1/24'] });
b.addInterface(p2, { addresses: ['10.0.0.2/24'] });

const server = b.http.createServer((req, res) => res.end(`hello from wirelab, ${req.socket.remoteAddress}\n`));
server.listen(80);
a.http.get({ host: '10.0.0.2', port: 80, path: '/' }, (res) => {
  res.pipe(process.stdout);
  res.on('end', () => {
    server.close();
    a.close();
    b.close();
    clock.close();
  });
});
