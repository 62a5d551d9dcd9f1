/**
 * Whole-frame dissection: Ethernet (with VLAN tags) → ARP or IPv4 → ICMP,
 * UDP or TCP, each layer decoded with its own codec. Used by the CLI's
 * `read` and `decode`, by logs and by test failure messages. Not on the hot
 * path: it builds representations for every layer.
 */
import { formatIPv4, formatMac } from './address.js';
import { decodeArp, describeArp, type ArpPacket } from './arp.js';
import { decodeEthernet, describeEthernet, ETHERTYPE, formatEtherType, type EthernetFrame } from './ethernet.js';
import { decodeIcmp, describeIcmp, type IcmpMessage } from './icmp.js';
import { decodeIPv4, describeIPv4, formatIpProtocol, IP_PROTOCOL, type IPv4Packet } from './ipv4.js';
import { formatWireError, type WireError } from './result.js';
import { decodeTcp, describeTcp, type TcpSegment } from './tcp.js';
import { decodeUdp, describeUdp, type UdpDatagram } from './udp.js';

export type Layer =
  | { readonly layer: 'ethernet'; readonly value: EthernetFrame }
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

export function dissect(frame: Uint8Array): Dissection {
  const layers: Layer[] = [];
  const details: string[] = [];
  const done = (summary: string, error?: WireError): Dissection => {
    if (error) details.push(`[malformed ${formatWireError(error)}]`);
    return error
      ? { layers, summary: `${summary}${summary ? ' ' : ''}[malformed ${formatWireError(error)}]`, details, error }
      : { layers, summary, details };
  };

  const eth = decodeEthernet(frame);
  if (!eth.ok) return done('', eth);
  const e = eth.value;
  layers.push({ layer: 'ethernet', value: e });
  details.push(describeEthernet(e));
  const vlan = e.tags.map((t) => `vlan ${t.vid}, p ${t.pcp}, `).join('');

  if (e.etherType === ETHERTYPE.ARP) {
    const arp = decodeArp(e.payload);
    if (!arp.ok) return done(`${vlan}ARP`, arp);
    layers.push({ layer: 'arp', value: arp.value });
    details.push(describeArp(arp.value));
    return done(vlan + describeArp(arp.value));
  }
  if (e.etherType !== ETHERTYPE.IPV4) {
    return done(`${vlan}${formatEtherType(e.etherType)}, length ${frame.length}`);
  }

  const ip4 = decodeIPv4(e.payload);
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
