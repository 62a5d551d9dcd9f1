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
 *
 *   node --import tsx examples/two-container-forwarder.ts --packet IF_A IF_B
 *       the same between two existing interfaces, through AF_PACKET ports
 *       (src/link/packet-port.ts): bench/tap-forward's veth path.
 */
import { openTap } from '../src/link/tap.js';
import { openPacketPort } from '../src/link/packet-port.js';
import type { Port } from '../src/link/port.js';
import { runDemo } from '../src/lab/demo.js';
import { forward } from '../src/link/forward.js';

const args = process.argv.slice(2);
const vnetHdr = args.includes('--vnet');

async function tapsOnly(nameA: string, nameB: string, packet = false): Promise<void> {
  const open = (name: string): Port => (packet ? openPacketPort(name) : openTap(name, { vnetHdr }));
  const a = open(nameA);
  const b = open(nameB);
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

const ti = Math.max(args.indexOf('--taps'), args.indexOf('--packet'));
if (ti >= 0) {
  const [nameA, nameB] = [args[ti + 1], args[ti + 2]];
  if (!nameA || !nameB) throw new Error(`${args[ti]} needs two interface names`);
  await tapsOnly(nameA, nameB, args[ti] === '--packet');
} else {
  process.exitCode = (await runDemo({ vnetHdr, stay: args.includes('--stay') })) ? 0 : 1;
}
