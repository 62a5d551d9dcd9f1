/**
 * Conntrack entries as text and data. The text matches the conntrack tool's
 * default output (`conntrack -L`, libnetfilter_conntrack's default format):
 *
 *   tcp      6 431999 ESTABLISHED src=… dst=… sport=… dport=… src=… dst=… sport=… dport=… [ASSURED] mark=0 use=1
 *   udp      17 29 src=… dst=… sport=… dport=… [UNREPLIED] src=… dst=… sport=… dport=… mark=0 use=1
 *   icmp     1 29 src=… dst=… type=8 code=0 id=… src=… dst=… type=0 code=0 id=… mark=0 use=1
 */
import { formatIPv4 } from '../wire/address.js';
import { IP_PROTOCOL } from '../wire/ipv4.js';
import { CT_STATUS, type ConnEntry, type TupleNode } from './entry.js';
import { TCP_CT_NAMES } from './timeouts.js';

export interface ConntrackTupleJSON {
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  type?: number;
  code?: number;
  id?: number;
}

export interface ConntrackEntryJSON {
  id: number;
  protocol: string;
  protonum: number;
  /** Seconds left, as conntrack prints it. */
  timeout: number;
  state?: string;
  original: ConntrackTupleJSON;
  reply: ConntrackTupleJSON;
  /** IPS_* bits by name: SEEN_REPLY, ASSURED, SRC_NAT, DST_NAT, … */
  status: string[];
  packets: { original: number; reply: number };
  bytes: { original: number; reply: number };
}

export function protocolName(protocol: number): string {
  return protocol === IP_PROTOCOL.TCP ? 'tcp' : protocol === IP_PROTOCOL.UDP ? 'udp' : protocol === IP_PROTOCOL.ICMP ? 'icmp' : 'unknown';
}

function tupleText(e: ConnEntry, n: TupleNode): string {
  const addr = `src=${formatIPv4(n.src)} dst=${formatIPv4(n.dst)}`;
  if (e.protocol === IP_PROTOCOL.ICMP) return `${addr} type=${n.dport} code=0 id=${n.sport}`;
  return `${addr} sport=${n.sport} dport=${n.dport}`;
}

function tupleJSON(e: ConnEntry, n: TupleNode): ConntrackTupleJSON {
  const t: ConntrackTupleJSON = { src: formatIPv4(n.src), dst: formatIPv4(n.dst) };
  if (e.protocol === IP_PROTOCOL.ICMP) Object.assign(t, { type: n.dport, code: 0, id: n.sport });
  else Object.assign(t, { sport: n.sport, dport: n.dport });
  return t;
}

export function secondsLeft(e: ConnEntry, now: number): number {
  return Math.max(0, Math.floor((e.expiresAt - now) / 1000));
}

/** One `conntrack -L` line. */
export function formatEntry(e: ConnEntry, now: number): string {
  const parts = [`${protocolName(e.protocol).padEnd(8)} ${e.protocol} ${secondsLeft(e, now)}`];
  if (e.protocol === IP_PROTOCOL.TCP) parts.push(TCP_CT_NAMES[e.state] ?? 'NONE');
  parts.push(tupleText(e, e.orig));
  if (!e.has(CT_STATUS.SEEN_REPLY)) parts.push('[UNREPLIED]');
  parts.push(tupleText(e, e.reply));
  if (e.has(CT_STATUS.ASSURED)) parts.push('[ASSURED]');
  parts.push('mark=0 use=1');
  return parts.join(' ');
}

const STATUS_NAMES: readonly [number, string][] = [
  [CT_STATUS.SEEN_REPLY, 'SEEN_REPLY'],
  [CT_STATUS.ASSURED, 'ASSURED'],
  [CT_STATUS.CONFIRMED, 'CONFIRMED'],
  [CT_STATUS.SRC_NAT, 'SRC_NAT'],
  [CT_STATUS.DST_NAT, 'DST_NAT'],
  [CT_STATUS.SRC_NAT_DONE, 'SRC_NAT_DONE'],
  [CT_STATUS.DST_NAT_DONE, 'DST_NAT_DONE'],
];

export function entryToJSON(e: ConnEntry, now: number): ConntrackEntryJSON {
  return {
    id: e.id,
    protocol: protocolName(e.protocol),
    protonum: e.protocol,
    timeout: secondsLeft(e, now),
    ...(e.protocol === IP_PROTOCOL.TCP ? { state: TCP_CT_NAMES[e.state] ?? 'NONE' } : {}),
    original: tupleJSON(e, e.orig),
    reply: tupleJSON(e, e.reply),
    status: STATUS_NAMES.filter(([bit]) => e.has(bit)).map(([, name]) => name),
    packets: { original: e.packets[0]!, reply: e.packets[1]! },
    bytes: { original: e.bytes[0]!, reply: e.bytes[1]! },
  };
}
