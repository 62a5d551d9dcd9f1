/**
 * `docker run -p 127.0.0.1:PORT:80` with wirelab, all in one process: a
 * wirelab gateway host and a wirelab "container" host joined by an
 * in-memory cable on the real clock; the container serves HTTP on port 80
 * with Node's own `http.Server`; the port is published on the host's
 * 127.0.0.1 in proxy mode and fetched with Node's `http.get`, then
 * everything is closed.
 *
 *   node --import tsx examples/port-publish.ts [PORT]     (default 18080)
 *
 * It prints the response, then the published ports as `docker port` does.
 */
import http from 'node:http';
import { createPipe, createStack, formatPortTable, publishPort, RealClock } from '../src/index.js';

const hostPort = Number(process.argv[2] ?? 18080);

const clock = new RealClock();
const [gatewayEnd, containerEnd] = createPipe(clock);
const gateway = createStack({ clock, name: 'gateway' });
gateway.addInterface(gatewayEnd, { addresses: ['10.88.0.1/24'] });
const container = createStack({ clock, name: 'web' });
container.addInterface(containerEnd, { addresses: ['10.88.0.2/24'] });
container.addRoute('default', { via: '10.88.0.1' });

// The "container": an unmodified http.Server on wirelab's TCP.
const web = http.createServer((req, res) => res.end(`hello from ${container.name}, you asked for ${req.url}\n`));
const listener = container.tcp.createServer((socket) => web.emit('connection', socket));
listener.listen(80, '10.88.0.2');

// -p 127.0.0.1:PORT:80 (127.0.0.1 is also the default when no address is written).
const published = await publishPort(gateway, `127.0.0.1:${hostPort}:80`, '10.88.0.2', { owner: 'web' });

const body = await new Promise<string>((resolve, reject) => {
  http
    .get({ host: '127.0.0.1', port: published.hostPort, path: '/index.html' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve(`HTTP ${res.statusCode}: ${text}`));
    })
    .on('error', reject);
});
process.stdout.write(body);
process.stdout.write(formatPortTable());

await published.close();
listener.close();
web.close();
gateway.close();
container.close();
clock.close();
