/**
 * `wirelab demo`: two containers whose eth0 are TAPs held by wirelab, joined
 * by a TypeScript wire. Pings both ways, prints what crossed, cleans up.
 * The first thing a new user runs; needs root (namespaces and TAPs).
 */
import { randomBytes } from 'node:crypto';
import { openTap } from '../link/tap.js';
import { forward } from '../link/forward.js';
import { Lab } from './lab.js';
import { installCleanupHandlers } from './registry.js';

export interface DemoOptions {
  vnetHdr?: boolean;
  /** Keep forwarding until the process is interrupted. */
  stay?: boolean;
  write?: (line: string) => void;
}

/** Runs the demo; resolves true if every ping got its replies. */
export async function runDemo(opts: DemoOptions = {}): Promise<boolean> {
  const write = opts.write ?? ((l: string) => process.stdout.write(l + '\n'));
  const vnetHdr = opts.vnetHdr ?? false;
  if (process.getuid?.() !== 0) {
    throw new Error('the demo creates network namespaces and TAP devices: run it as root (sudo npx wirelab demo)');
  }
  // With --stay, Ctrl-C is how the user ends the demo: it ends the wait and
  // the demo removes everything itself, then says so. Only other signals
  // take the emergency path (remove what is recorded, exit 128+n).
  const uninstall = installCleanupHandlers(opts.stay ? ['SIGTERM', 'SIGHUP'] : undefined);
  const id = randomBytes(3).toString('hex');
  const a = openTap(`wlx${id}a`, { vnetHdr });
  const b = openTap(`wlx${id}b`, { vnetHdr });
  const lab = new Lab();
  let ok = true;
  try {
    const ca = await lab.container({ link: a.ifname, address: '10.210.0.1/24', mac: '02:00:00:00:00:0a' });
    const cb = await lab.container({ link: b.ifname, address: '10.210.0.2/24', mac: '02:00:00:00:00:0b' });
    // The wire goes in once both ends are up: a frame forwarded to a TAP
    // whose interface is still down fails with EIO (the kernel drops it), a
    // drop a passing demo should not show.
    forward(a, b);
    write(`container ${ca.name}: eth0 10.210.0.1/24 is TAP ${a.ifname}, held by wirelab`);
    write(`container ${cb.name}: eth0 10.210.0.2/24 is TAP ${b.ifname}, held by wirelab`);
    write(`wirelab forwards every frame between them in TypeScript (vnet_hdr ${vnetHdr ? 'on' : 'off'})`);
    for (const [from, to] of [[ca, '10.210.0.2'], [cb, '10.210.0.1']] as const) {
      const r = await from.exec(['ping', '-c', '3', '-i', '0.2', '-W', '2', to]);
      write(`$ ip netns exec ${from.name} ping -c 3 ${to}`);
      for (const l of r.stdout.split('\n').filter((x) => /bytes from|packets transmitted|rtt/.test(x))) write(`  ${l}`);
      if (r.code !== 0) ok = false;
    }
    for (const p of [a, b]) {
      const s = p.stats;
      write(`${p.ifname}: rx ${s.rxFrames} frames/${s.rxBytes} bytes, tx ${s.txFrames} frames/${s.txBytes} bytes, drops ${JSON.stringify(s.drops)}`);
    }
    if (opts.stay) {
      write(`forwarding until Ctrl-C; try: ip netns exec ${ca.name} ping 10.210.0.2`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
  } finally {
    await lab.close();
    await Promise.all([a.close(), b.close()]);
    uninstall();
  }
  write(ok ? 'demo passed: both containers reached each other through wirelab; everything removed' : 'demo FAILED: a ping got no reply');
  return ok;
}
