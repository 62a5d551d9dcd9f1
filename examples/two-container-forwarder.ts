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
import { openTap } from '../src/link/tap.js';
import { runDemo } from '../src/lab/demo.js';
import { forward } from '../src/link/forward.js';

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

const ti = args.indexOf('--taps');
if (ti >= 0) {
  const [nameA, nameB] = [args[ti + 1], args[ti + 2]];
  if (!nameA || !nameB) throw new Error('--taps needs two interface names');
  await tapsOnly(nameA, nameB);
} else {
  process.exitCode = (await runDemo({ vnetHdr, stay: args.includes('--stay') })) ? 0 : 1;
}
