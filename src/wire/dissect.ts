/**
 * Whole-frame dissection: Ethernet (with VLAN tags), or a Linux cooked
 * header (SLL, SLL2: `tcpdump -i any`) → ARP or IPv4 → ICMP, UDP or TCP, each layer decoded with its own codec. Used by the CLI's
 * `read` and `decode`, by logs and by test failure messages. Not on the hot
 * path: it builds representations for every layer.
 */
import { formatIPv4, formatMac } from './address.js';
import { decodeArp, describeArp, type ArpPacket } from './arp.js';
import { decodeEthernet, describeEthernet, ETHERTYPE, formatEtherType, type EthernetFrame } from './ethernet.js';
import { decodeIcmp, describeIcmp, type IcmpMessage } from './icmp.js';
import { decodeIPv4, describeIPv4, formatIpProtocol, IP_PROTOCOL, type IPv4Packet } from './ipv4.js';
import { fail, formatWireError, ok, type Decoded, type WireError } from './result.js';
import { decodeTcp, describeTcp, type TcpSegment } from './tcp.js';
import { decodeUdp, describeUdp, type UdpDatagram } from './udp.js';

export type Layer =
  | { readonly layer: 'ethernet'; readonly value: EthernetFrame }
  | { readonly layer: 'sll'; readonly value: LinuxCookedHeader }
  | { readonly layer: 'sll2'; readonly value: LinuxCookedHeader }
  | { readonly layer: 'arp'; readonly value: ArpPacket }
  | { readonly layer: 'ipv4'; readonly value: IPv4Packet }
  | { readonly layer: 'icmp'; readonly value: IcmpMessage }
  | { readonly layer: 'udp'; readonly value: UdpDatagram }
  | { readonly layer: 'tcp'; readonly value: TcpSegment };

export interface Dissection {
  readonly layers: Layer[];
  /** One line, like tcpdump without -v. */
  readonly summary: string;
  /** One line per layer, like tcpdump -v -e spread over lines. */
  readonly details: string[];
  /** The fault that stopped decoding, if any. Layers before it are kept. */
  readonly error?: WireError;
}

function start(prefix = ''): { layers: Layer[]; details: string[]; done: Done } {
  const layers: Layer[] = [];
  const details: string[] = [];
  const done = (body: string, error?: WireError): Dissection => {
    const summary = prefix + body;
    if (error) details.push(`[malformed ${formatWireError(error)}]`);
    return error
      ? { layers, summary: `${summary}${summary ? ' ' : ''}[malformed ${formatWireError(error)}]`, details, error }
      : { layers, summary, details };
  };
  return { layers, details, done };
}

/** Dissects an Ethernet frame (LINKTYPE_ETHERNET). */
export function dissect(frame: Uint8Array): Dissection {
  const { layers, details, done } = start();

  const eth = decodeEthernet(frame);
  if (!eth.ok) return done('', eth);
  const e = eth.value;
  layers.push({ layer: 'ethernet', value: e });
  details.push(describeEthernet(e));
  const vlan = e.tags.map((t) => `vlan ${t.vid}, p ${t.pcp}, `).join('');
  return dissectNetwork(e.etherType, e.payload, frame.length, vlan, layers, details, done);
}

type Done = (summary: string, error?: WireError) => Dissection;

/** Everything above the link layer: ARP or IPv4 by EtherType, then ICMP, UDP or TCP. */
function dissectNetwork(
  etherType: number,
  payload: Uint8Array,
  frameLength: number,
  vlan: string,
  layers: Layer[],
  details: string[],
  done: Done,
): Dissection {
  if (etherType === ETHERTYPE.ARP) {
    const arp = decodeArp(payload);
    if (!arp.ok) return done(`${vlan}ARP`, arp);
    layers.push({ layer: 'arp', value: arp.value });
    details.push(describeArp(arp.value));
    return done(vlan + describeArp(arp.value));
  }
  if (etherType !== ETHERTYPE.IPV4) {
    return done(`${vlan}${formatEtherType(etherType)}, length ${frameLength}`);
  }

  const ip4 = decodeIPv4(payload);
  if (!ip4.ok) return done(`${vlan}IP`, ip4);
  const ip = ip4.value;
  layers.push({ layer: 'ipv4', value: ip });
  details.push(describeIPv4(ip));
  const pair = { src: ip.src, dst: ip.dst };
  const addrs = `IP ${formatIPv4(ip.src)} > ${formatIPv4(ip.dst)}`;

  if (ip.fragmentOffset !== 0) {
    // A later fragment carries no transport header of its own.
    return done(
      `${vlan}${addrs}: ${formatIpProtocol(ip.protocol)} fragment, id ${ip.identification}, offset ${ip.fragmentOffset}, length ${ip.payload.length}${ip.moreFragments ? ', more' : ''}`,
    );
  }
  const frag = ip.moreFragments ? ` (first fragment, id ${ip.identification})` : '';
  const transportChecksum = !ip.moreFragments; // a first fragment holds only part of what the checksum covers

  switch (ip.protocol) {
    case IP_PROTOCOL.ICMP: {
      const m = decodeIcmp(ip.payload, { verifyChecksum: transportChecksum });
      if (!m.ok) return done(`${vlan}${addrs}: ICMP`, m);
      layers.push({ layer: 'icmp', value: m.value });
      details.push(describeIcmp(m.value));
      return done(`${vlan}${addrs}: ${describeIcmp(m.value)}${frag}`);
    }
    case IP_PROTOCOL.UDP: {
      const u = decodeUdp(ip.payload, { ...pair, verifyChecksum: transportChecksum });
      if (!u.ok) return done(`${vlan}${addrs}: UDP`, u);
      layers.push({ layer: 'udp', value: u.value });
      details.push(describeUdp(u.value, pair));
      return done(`${vlan}IP ${describeUdp(u.value, pair)}${frag}`);
    }
    case IP_PROTOCOL.TCP: {
      const t = decodeTcp(ip.payload, { ...pair, verifyChecksum: transportChecksum });
      if (!t.ok) return done(`${vlan}${addrs}: TCP`, t);
      layers.push({ layer: 'tcp', value: t.value });
      details.push(describeTcp(t.value, pair));
      return done(`${vlan}IP ${describeTcp(t.value, pair)}${frag}`);
    }
    default:
      return done(`${vlan}${addrs}: ${formatIpProtocol(ip.protocol)}, length ${ip.payload.length}`);
  }
}


// ---------------------------------------------------------------------------
// Linux "cooked" captures: what `tcpdump -i any` writes.

export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_LINUX_SLL2 = 276;
const SLL_HEADER_LENGTH = 16;
const SLL2_HEADER_LENGTH = 20;

/** The header of a LINKTYPE_LINUX_SLL (v1, 16 bytes) or LINKTYPE_LINUX_SLL2 (v2, 20 bytes) record. */
export interface LinuxCookedHeader {
  /** The network-layer protocol: an EtherType (0x0800 IPv4, 0x0806 ARP, …). */
  readonly protocolType: number;
  /** The interface's index in the capturing host's namespace (SLL2 only; 0 for SLL). */
  readonly interfaceIndex: number;
  /** ARPHRD_ type of the interface: 1 Ethernet, 772 loopback, … */
  readonly arphrdType: number;
  /** 0 to us, 1 broadcast, 2 multicast, 3 to another host, 4 sent by us. */
  readonly packetType: number;
  /** tcpdump's word for `packetType`: In, B, M, P, Out. */
  readonly direction: string;
  /** The link-layer source address (its first `addressLength` bytes, at most 8). */
  readonly address: Uint8Array;
  readonly headerLength: number;
  readonly payload: Uint8Array;
}

/** tcpdump's sll_pkttype_values. */
const PACKET_TYPES = ['In', 'B', 'M', 'P', 'Out'];

function cookedDirection(packetType: number): string {
  return PACKET_TYPES[packetType] ?? `type${packetType}`;
}

function decodeCooked(frame: Uint8Array, v2: boolean): Decoded<LinuxCookedHeader> {
  const layer = v2 ? 'sll2' : 'sll';
  const need = v2 ? SLL2_HEADER_LENGTH : SLL_HEADER_LENGTH;
  if (frame.length < need) return fail(layer, 'truncated', `header needs ${need} bytes, frame has ${frame.length}`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  // SLL:  packet type(2) ARPHRD(2) address length(2) address(8) protocol(2)
  // SLL2: protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) address length(1) address(8)
  const protocolType = v2 ? view.getUint16(0) : view.getUint16(14);
  const interfaceIndex = v2 ? view.getUint32(4) : 0;
  const arphrdType = v2 ? view.getUint16(8) : view.getUint16(2);
  const packetType = v2 ? view.getUint8(10) : view.getUint16(0);
  const addressLength = v2 ? view.getUint8(11) : view.getUint16(4);
  const addrStart = v2 ? 12 : 6;
  const address = frame.subarray(addrStart, addrStart + Math.min(addressLength, 8));
  return ok({
    protocolType, interfaceIndex, arphrdType, packetType, direction: cookedDirection(packetType),
    address, headerLength: need, payload: frame.subarray(need),
  });
}

function dissectCooked(frame: Uint8Array, v2: boolean): Dissection {
  const h = decodeCooked(frame, v2);
  if (!h.ok) return start().done('', h);
  const c = h.value;
  // tcpdump -r: "eth0  Out IP …" for SLL2 (the name looked up on the reading
  // host); the index itself here, since the capture may come from another
  // namespace or machine. SLL has no interface: the direction alone.
  const prefix = `${v2 ? `if${c.interfaceIndex}`.padEnd(5) + ' ' : ''}${c.direction.padEnd(3)} `;
  const { layers, details, done } = start(prefix);
  layers.push({ layer: v2 ? 'sll2' : 'sll', value: c });
  const addr = Array.from(c.address, (b) => b.toString(16).padStart(2, '0')).join(':');
  details.push(
    `${v2 ? `ifindex ${c.interfaceIndex} ` : ''}${c.direction} ${addr || '-'} ARPHRD ${c.arphrdType}, ${formatEtherType(c.protocolType)}, length ${frame.length}`,
  );
  return dissectNetwork(c.protocolType, c.payload, c.payload.length, '', layers, details, done);
}

/** Dissects a LINKTYPE_LINUX_SLL (113) record: `tcpdump -i any` before libpcap 1.10. */
export function dissectLinuxSll(frame: Uint8Array): Dissection {
  return dissectCooked(frame, false);
}

/** Dissects a LINKTYPE_LINUX_SLL2 (276) record: `tcpdump -i any` since libpcap 1.10. */
export function dissectLinuxSll2(frame: Uint8Array): Dissection {
  return dissectCooked(frame, true);
}

/** Dissects a record of the given link type; undefined for a link type it does not know. */
export function dissectLinkType(linkType: number, frame: Uint8Array): Dissection | undefined {
  if (linkType === 1) return dissect(frame);
  if (linkType === LINKTYPE_LINUX_SLL) return dissectLinuxSll(frame);
  if (linkType === LINKTYPE_LINUX_SLL2) return dissectLinuxSll2(frame);
  return undefined;
}

/** A JSON-safe view: addresses formatted, byte fields as hex, payloads as lengths. */
export function dissectionToJson(d: Dissection): Record<string, unknown> {
  const out: Record<string, unknown> = { summary: d.summary };
  for (const l of d.layers) out[l.layer] = toJson(l.value as unknown as Record<string, unknown>, l.layer);
  if (d.error) out['error'] = { layer: d.error.layer, code: d.error.code, message: d.error.message };
  return out;
}

const ADDRESS_FIELDS: Record<string, 'mac' | 'ip'> = {
  src: 'ip', dst: 'ip', senderIp: 'ip', targetIp: 'ip', senderMac: 'mac', targetMac: 'mac',
};

function toJson(value: Record<string, unknown>, layer: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v instanceof Uint8Array) {
      if (k === 'payload' || k === 'data' || k === 'body' || k === 'quoted') out[`${k}Length`] = v.length;
      else out[k] = Buffer.from(v.buffer, v.byteOffset, v.length).toString('hex');
    } else if (typeof v === 'number' && (ADDRESS_FIELDS[k] !== undefined)) {
      const kind = layer === 'ethernet' ? 'mac' : ADDRESS_FIELDS[k];
      out[k] = kind === 'mac' ? formatMac(v) : formatIPv4(v);
    } else if (Array.isArray(v)) {
      out[k] = v.map((x: unknown) =>
        typeof x === 'object' && x !== null ? toJson(x as Record<string, unknown>, layer) : x,
      );
    } else {
      out[k] = v;
    }
  }
  return out;
}
