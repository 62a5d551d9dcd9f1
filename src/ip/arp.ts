/**
 * The ARP responder and requester of a host (RFC 826, with Linux's habits):
 * answers requests for our addresses, feeds every ARP packet to the
 * neighbour table (which applies RFC 826's merge rule), sends broadcast or
 * unicast solicitations for it, and announces addresses with gratuitous ARP.
 */
import { MAC_BROADCAST, type IPv4Address, type Mac } from '../wire/address.js';
import { ARP_OP, arpPacket, decodeArp, writeArp, ARP_LENGTH } from '../wire/arp.js';
import { ETHERTYPE, writeEthernet } from '../wire/ethernet.js';
import type { NetInterface } from './interface.js';
import type { IpLayer } from './ipv4.js';

export interface ArpStats {
  requestsIn: number;
  repliesIn: number;
  requestsOut: number;
  repliesOut: number;
  gratuitousOut: number;
  drops: Record<string, number>;
}

export class ArpResponder {
  readonly stats: ArpStats = { requestsIn: 0, repliesIn: 0, requestsOut: 0, repliesOut: 0, gratuitousOut: 0, drops: {} };

  constructor(private readonly ip: IpLayer) {
    ip.arpInput = (payload, iface) => this.input(payload, iface);
    ip.arpSolicit = (target, iface, unicastMac) => this.solicit(target, iface, unicastMac);
  }

  private drop(reason: string): void {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
  }

  input(payload: Uint8Array, iface: NetInterface): void {
    const d = decodeArp(payload);
    if (!d.ok) return this.drop(d.code);
    const p = d.value;
    if (p.senderMac === MAC_BROADCAST || Math.floor(p.senderMac / 0x10000000000) % 2 === 1) return this.drop('multicastSender');
    const targetIsUs = iface.hasAddress(p.targetIp);
    if (p.operation === ARP_OP.REQUEST) this.stats.requestsIn++;
    else if (p.operation === ARP_OP.REPLY) this.stats.repliesIn++;
    else return this.drop('unknownOperation');
    // Probes (sender 0.0.0.0, RFC 5227) teach nothing about the sender.
    if (p.senderIp !== 0) {
      this.ip.neighbours.input(p.senderIp, p.senderMac, iface.name, { isReply: p.operation === ARP_OP.REPLY, targetIsUs });
    }
    if (p.operation === ARP_OP.REQUEST && targetIsUs) {
      this.send(iface, p.senderMac, ARP_OP.REPLY, p.targetIp, p.senderMac, p.senderIp);
      this.stats.repliesOut++;
    }
  }

  solicit(target: IPv4Address, iface: NetInterface, unicastMac: Mac | undefined): void {
    const src = iface.sourceFor(target);
    if (src === undefined) return this.drop('noSourceAddress');
    this.send(iface, unicastMac ?? MAC_BROADCAST, ARP_OP.REQUEST, src, 0, target);
    this.stats.requestsOut++;
  }

  /** Gratuitous ARP (a request for our own address), as Linux sends when an address comes up. */
  announce(iface: NetInterface, address: IPv4Address): void {
    this.send(iface, MAC_BROADCAST, ARP_OP.REQUEST, address, 0, address);
    this.stats.gratuitousOut++;
    this.ip.flushDirty();
  }

  private send(iface: NetInterface, dstMac: Mac, op: number, senderIp: IPv4Address, targetMac: Mac, targetIp: IPv4Address): void {
    if (!iface.up) return this.drop('down');
    const frame = new Uint8Array(14 + ARP_LENGTH);
    writeEthernet({ dst: dstMac, src: iface.mac, tags: [], etherType: ETHERTYPE.ARP }, frame, 0);
    writeArp(arpPacket(op, iface.mac, senderIp, targetMac, targetIp), frame, 14);
    if (iface.port.send(frame, 0, frame.length, -1)) {
      iface.stats.txFrames++;
      iface.stats.txBytes += frame.length;
    }
    iface.dirty = true;
  }
}
