/**
 * A lab network's way to other machines: the VXLAN port (src/link/vxlan.ts)
 * on a real host UDP socket, as `networks.<n>.vxlan` asks. Kept apart from
 * up.ts because it is the one place a lab binds a host socket for its
 * datapath, and its failures (the port taken, the address not on this
 * host) must read as the lab file's problem, not as a stack trace.
 */
import { VxlanPort } from '../link/vxlan.js';
import { bindHostUnderlay, type VxlanUnderlay } from '../link/vxlan-underlay.js';
import type { Clock } from '../time/index.js';
import type { VxlanModel } from './file/model.js';

/** Binds `local:port` (every address when no local is given) and makes the port; rejects with a sentence naming the network. */
export async function openVxlanPort(clock: Clock, network: string, vx: VxlanModel, mtu: number): Promise<VxlanPort> {
  const where = `${vx.local ?? '0.0.0.0'}:${vx.port}`;
  let underlay: VxlanUnderlay;
  try {
    underlay = await bindHostUnderlay(vx.port, vx.local);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'EADDRINUSE' ? 'the port is taken (another lab or a kernel vxlan device on this host?)'
      : code === 'EADDRNOTAVAIL' ? `${vx.local ?? ''} is not an address of this host`
      : e instanceof Error ? e.message : String(e);
    throw new Error(`network ${network}: cannot listen for VXLAN on UDP ${where}: ${why}`);
  }
  return new VxlanPort({ clock, underlay, vni: vx.vni, remotes: vx.remotes, port: vx.port, mtu });
}
