/**
 * How a container's interface meets the wirelab switch: a TAP device held by
 * wirelab (the default), or a veth pair whose outer end wirelab holds through
 * an AF_PACKET port (src/link/packet-port.ts).
 *
 * Why two: a TAP needs /dev/net/tun, which some machines keep root-only
 * (crw------- here); a lab running without root in a user namespace
 * (rootless.ts) can still make veth pairs and open packet sockets in its own
 * network namespace. Either way the caller moves `link` into the container
 * (renamed eth0, eth1, …) and plugs `port` into the switch.
 *
 * `WIRELAB_LINK=tap|veth` chooses; otherwise TAP when /dev/net/tun opens,
 * veth when it does not.
 */
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { PacketPort } from '../link/packet-port.js';
import { openTap, type TapPort } from '../link/tap.js';
import { runChecked, run } from './command.js';
import { forgetInterface, recordInterface } from './registry.js';

export type ContainerLinkKind = 'tap' | 'veth';

export interface ContainerLink {
  /** What the switch port is: the TAP, or the AF_PACKET port on the veth's outer end. */
  port: TapPort | PacketPort;
  /** The interface to move into the container. */
  link: string;
}

let tunUsable: boolean | undefined;

/** Which kind of link containers get in this process (see the header). */
export function containerLinkKind(): ContainerLinkKind {
  const forced = process.env.WIRELAB_LINK;
  if (forced === 'tap' || forced === 'veth') return forced;
  if (tunUsable === undefined) {
    try {
      closeSync(openSync('/dev/net/tun', 'r+'));
      tunUsable = true;
    } catch {
      tunUsable = false;
    }
  }
  return tunUsable ? 'tap' : 'veth';
}

/** The veth's outer end: closing the port deletes the pair (if the container's namespace has not already). */
class VethPort extends PacketPort {
  override async close(): Promise<void> {
    if (this.isClosed) return;
    await super.close();
    await run(['ip', 'link', 'del', this.ifname]);
    forgetInterface(this.ifname);
  }
}

/**
 * Opens a link whose container end is `name` (≤ 15 bytes); a veth's outer
 * end is `name` with its 15th byte (or an added one) made 'x'.
 */
export async function openContainerLink(name: string, vnetHdr: boolean): Promise<ContainerLink> {
  if (containerLinkKind() === 'tap') return { port: openTap(name, { vnetHdr }), link: name };
  const outer = `${name.slice(0, 14)}x`;
  // Recorded first: a crash between here and the move leaves nothing unrecorded.
  recordInterface(outer);
  try {
    await runChecked(['ip', 'link', 'add', outer, 'type', 'veth', 'peer', 'name', name]);
    // The outer end carries no addresses: keep IPv6 autoconfiguration off it.
    try {
      writeFileSync(`/proc/sys/net/ipv6/conf/${outer}/disable_ipv6`, '1');
    } catch {
      // no IPv6 in this kernel
    }
    await runChecked(['ip', 'link', 'set', outer, 'up']);
    return { port: new VethPort(outer), link: name };
  } catch (e) {
    await run(['ip', 'link', 'del', outer]);
    forgetInterface(outer);
    throw e;
  }
}
