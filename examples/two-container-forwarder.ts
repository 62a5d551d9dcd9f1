/**
 * Two containers joined by a TypeScript forwarder: the smallest proof that
 * real kernel frames cross wirelab.
 *
 *   node --import tsx examples/two-container-forwarder.ts [--vnet]
 *       makes containers A (10.210.0.1/24) and B (10.210.0.2/24), each with a
 *       TAP eth0 held by this process, forwards between them, pings A→B and
 *       B→A, prints the ports' counters, and cleans up. With --stay it keeps
 *       running until Ctrl-C, so you can `ip netns exec <A> …` yourself.
 *
 *   node --import tsx examples/two-container-forwarder.ts --taps TAP_A TAP_B [--vnet]
 *       only opens (creates) the two TAPs, prints READY and forwards until
 *       SIGTERM: bench/tap-forward moves the TAPs into its own containers.
 */
import { randomBytes } from 'node:crypto';
import { openTap } from '../src/link/tap.js';
import { installCleanupHandlers, Lab } from '../src/lab/index.js';
import { forward } from './forwarder.js';

const args = process.argv.slice(2);
const vnetHdr = args.includes('--vnet');

async function tapsOnly(nameA: string, nameB: string): Promise<void> {
  const a = openTap(nameA, { vnetHdr });
  const b = openTap(nameB, { vnetHdr });
  forward(a, b);
  process.stdout.write('READY\n');
  const stop = async () => {
    await Promise.all([a.close(), b.close()]);
    process.stderr.write(`forwarded ${a.stats.rxFrames} + ${b.stats.rxFrames} frames; drops ${JSON.stringify({ ...a.stats.drops, ...b.stats.drops })}\n`);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

async function demo(): Promise<void> {
  installCleanupHandlers();
  const id = randomBytes(3).toString('hex');
  const a = openTap(`wlx${id}a`, { vnetHdr });
  const b = openTap(`wlx${id}b`, { vnetHdr });
  const lab = new Lab();
  try {
    forward(a, b);
    const ca = await lab.container({ link: a.ifname, address: '10.210.0.1/24', mac: '02:00:00:00:00:0a' });
    const cb = await lab.container({ link: b.ifname, address: '10.210.0.2/24', mac: '02:00:00:00:00:0b' });
    process.stdout.write(`containers ${ca.name} (10.210.0.1) and ${cb.name} (10.210.0.2), vnet_hdr ${vnetHdr ? 'on' : 'off'}\n`);
    for (const [from, to] of [[ca, '10.210.0.2'], [cb, '10.210.0.1']] as const) {
      const r = await from.exec(['ping', '-c', '3', '-i', '0.2', '-W', '2', to]);
      process.stdout.write(r.stdout.split('\n').filter((l) => /packets transmitted|rtt/.test(l)).map((l) => `  ${from.name}: ${l}\n`).join(''));
      if (r.code !== 0) process.exitCode = 1;
    }
    for (const p of [a, b]) {
      process.stdout.write(`  ${p.ifname}: rx ${p.stats.rxFrames} frames ${p.stats.rxBytes} bytes, tx ${p.stats.txFrames} frames ${p.stats.txBytes} bytes, drops ${JSON.stringify(p.stats.drops)}\n`);
    }
    if (args.includes('--stay')) {
      process.stdout.write('forwarding; Ctrl-C to stop and clean up\n');
      await new Promise(() => undefined);
    }
  } finally {
    await lab.close();
    await Promise.all([a.close(), b.close()]);
  }
}

const ti = args.indexOf('--taps');
if (ti >= 0) {
  const [nameA, nameB] = [args[ti + 1], args[ti + 2]];
  if (!nameA || !nameB) throw new Error('--taps needs two interface names');
  await tapsOnly(nameA, nameB);
} else {
  await demo();
}
