/**
 * Two containers whose eth0 are TAP devices wirelab holds, joined by a wire
 * in TypeScript; the first container pings the second. Needs root.
 *
 *   node --import tsx examples/containers-by-hand.ts
 */
import { openTap, forward, Lab } from 'wirelab';

const suffix = process.pid.toString(36);
const a = openTap(`wlexA${suffix}`, { vnetHdr: true }); // the TAP exists while wirelab holds it
const b = openTap(`wlexB${suffix}`, { vnetHdr: true });
forward(a, b); // a wire: every frame, both ways
const lab = new Lab();
try {
  const ca = await lab.container({ link: a.ifname, address: '10.0.0.1/24' });
  await lab.container({ link: b.ifname, address: '10.0.0.2/24' });
  console.log((await ca.exec(['ping', '-c', '1', '10.0.0.2'])).stdout);
} finally {
  await lab.close(); // namespaces, TAPs, processes: gone
  await Promise.all([a.close(), b.close()]);
}
