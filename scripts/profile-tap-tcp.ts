/**
 * One direction of bench/tcp part (a), alone, for a CPU profile: a wirelab
 * host on a TAP and a python peer in a container, 5 s of bulk TCP, then the
 * goodput, the TCP layer's non-zero counters and the port's counters.
 *
 *   node --cpu-prof --cpu-prof-dir=prof --import tsx scripts/profile-tap-tcp.ts on|off from|to
 *
 * `on|off`: vnet_hdr on the TAP; `from`: the kernel sends to wirelab, `to`:
 * wirelab sends to the kernel. The profile then says where wirelab's time
 * goes (issue 14's closing note quotes it). With `from`, the container's
 * `ss -tin` after 2 s shows whether the kernel sender is window-limited.
 * Traffic stays between this host and the container it creates (10.243.0.0/24).
 */
import { Lab } from '../src/lab/lab.js';
import { openTap } from '../src/link/tap.js';
import { createStack } from '../src/stack.js';
import { RealClock } from '../src/time/index.js';

const vnet = process.argv[2] !== 'off';
const direction = process.argv[3] === 'to' ? 'to' : 'from';
const SECONDS = 5;

const clock = new RealClock();
const name = `wlpf${Math.floor(Math.random() * 1e5)}`;
const tap = openTap(name, { vnetHdr: vnet });
const lab = new Lab();
const stack = createStack({ clock, name });
try {
  const c = await lab.container({ link: name, address: '10.243.0.1/24', sysctls: { 'net.ipv6.conf.all.disable_ipv6': '1' } });
  stack.addInterface(tap, { addresses: ['10.243.0.2/24'] });
  await c.exec(['ping', '-c', '2', '-i', '0.2', '10.243.0.2']);
  const t0 = performance.now();
  let n = 0;
  if (direction === 'from') {
    const done = new Promise<void>((resolve) => {
      stack.tcp
        .createServer((sock) => {
          sock.on('data', (d: Uint8Array) => (n += d.length));
          sock.on('end', () => {
            sock.end();
            resolve();
          });
        })
        .listen(5300, '10.243.0.2');
    });
    const py = `import socket,time,os\ns=socket.socket()\ns.connect(('10.243.0.2',5300))\nb=os.urandom(1<<20)\ne=time.monotonic()+${SECONDS}\nwhile time.monotonic()<e: s.sendall(b)\ns.shutdown(socket.SHUT_WR)\nwhile s.recv(65536): pass\n`;
    const ss = setTimeout(() => void c.exec(['ss', '-tin']).then((r) => process.stdout.write(r.stdout)), 2000);
    await c.exec(['python3', '-c', py], { timeoutMs: 60_000 });
    clearTimeout(ss);
    await done;
  } else {
    const py = `import socket\ns=socket.socket()\ns.bind(('10.243.0.1',5301))\ns.listen(1)\nprint('ready',flush=True)\nc,_=s.accept()\nb=bytearray(1<<20)\nwhile c.recv_into(b): pass\nprint('done',flush=True)\n`;
    const p = c.spawn(['python3', '-c', py]);
    await p.waitForOutput(/ready/, 5000);
    const sock = stack.tcp.connect({ host: '10.243.0.1', port: 5301 });
    const chunk = new Uint8Array(1 << 20);
    const end = performance.now() + SECONDS * 1000;
    await new Promise<void>((resolve) => {
      const pump = (): void => {
        while (performance.now() < end) {
          n += chunk.length;
          if (!sock.write(chunk)) {
            sock.once('drain', pump);
            return;
          }
        }
        sock.end(() => resolve());
      };
      pump();
    });
    await p.waitForOutput(/done/, 30_000);
  }
  const s = (performance.now() - t0) / 1000;
  process.stdout.write(`${direction} kernel, vnet_hdr ${vnet ? 'on' : 'off'}: ${((n * 8) / s / 1e6).toFixed(0)} Mbit/s\n`);
  const counters = Object.entries(stack.tcpLayer.stats as unknown as Record<string, unknown>).filter(([, v]) => typeof v === 'number' && v > 0);
  process.stdout.write(`tcp: ${counters.map(([k, v]) => `${k}=${String(v)}`).join(' ')}\nport: ${JSON.stringify(tap.stats)}\n`);
} finally {
  await lab.close();
  stack.close();
  await tap.close();
  clock.close();
}
