/**
 * What `ss -tni` shows: a connection's TcpInfo (state, addresses, cwnd in
 * segments, RTT estimates, queues, negotiated options) and the table of
 * sockets with its second line of internals, in ss's words.
 *
 * Hand-written: the numbers live in wirelab's own TCP core.
 */
import { formatIPv4 } from '../wire/address.js';
import { INITIAL_SSTHRESH } from './cc/index.js';
import type { TcpConnection } from './connection.js';
import type { TcpInfo } from './state.js';

export function connectionInfo(c: TcpConnection): TcpInfo {
  const snd = c.snd;
  const mss = c.mss;
  const i: TcpInfo = {
    state: c.state,
    localAddress: formatIPv4(c.localAddress),
    localPort: c.localPort,
    remoteAddress: formatIPv4(c.remoteAddress),
    remotePort: c.remotePort,
    cwnd: Math.max(1, Math.floor(snd.cc.cwnd / mss)),
    ssthresh: snd.cc.ssthresh >= INITIAL_SSTHRESH ? undefined : Math.max(2, Math.floor(snd.cc.ssthresh / mss)),
    srttMs: snd.rtt.srtt,
    rttvarMs: snd.rtt.rttvar,
    rtoMs: snd.rtt.rto,
    mss,
    retransmits: snd.retransSegs,
    bytesSent: snd.bytesSent,
    bytesAcked: snd.bytesAcked,
    bytesReceived: c.rcv.bytesReceived,
    sendQueue: snd.buffered,
    receiveQueue: c.rcv.unconsumed,
    sack: c.sackOk,
    timestamps: c.tsOk,
    cc: snd.cc.name,
    caState: snd.rec.caState,
    ecn: c.ecnOk,
    ecnSeen: c.ecnSeen,
    sndWnd: snd.sndWnd,
    rcvWnd: c.rcv.window,
  };
  if (c.wsOk) i.wscale = [c.sndWscale, c.rcvWscale];
  return i;
}

/** Rows for listeners and connections, columns padded like ss. */
export function formatSockets(
  listeners: ReadonlyArray<{ address: string; port: number; synQueue: number; backlog: number }>,
  conns: readonly TcpConnection[],
  timeWaits: readonly TcpInfo[] = [],
): string {
  const rows: string[][] = [['State', 'Recv-Q', 'Send-Q', 'Local Address:Port', 'Peer Address:Port']];
  const details: Array<string | undefined> = [undefined];
  for (const l of listeners) {
    rows.push(['LISTEN', String(l.synQueue), String(l.backlog), `${l.address}:${l.port}`, '0.0.0.0:*']);
    details.push(undefined);
  }
  for (const c of conns) {
    const i = c.info();
    rows.push([i.state, String(i.receiveQueue), String(i.sendQueue), `${i.localAddress}:${i.localPort}`, `${i.remoteAddress}:${i.remotePort}`]);
    details.push(formatInternals(i, c));
  }
  for (const i of timeWaits) {
    rows.push([i.state, '0', '0', `${i.localAddress}:${i.localPort}`, `${i.remoteAddress}:${i.remotePort}`]);
    details.push(undefined);
  }
  const widths = rows[0]!.map((_, k) => Math.max(...rows.map((r) => r[k]!.length)));
  const out: string[] = [];
  rows.forEach((r, n) => {
    out.push(r.map((cell, k) => (k === r.length - 1 ? cell : cell.padEnd(widths[k]! + 1))).join(' ').trimEnd());
    const d = details[n];
    if (d !== undefined) out.push(`\t ${d}`);
  });
  return out.join('\n');
}

function ms(v: number): string {
  return String(Math.round(v * 1000) / 1000);
}

function formatInternals(i: TcpInfo, c: TcpConnection): string {
  const parts: string[] = [];
  if (i.timestamps) parts.push('ts');
  if (i.sack) parts.push('sack');
  if (i.ecn) parts.push('ecn');
  if (i.ecnSeen) parts.push('ecnseen');
  parts.push(i.cc);
  if (i.wscale !== undefined) parts.push(`wscale:${i.wscale[0]},${i.wscale[1]}`);
  parts.push(`rto:${ms(i.rtoMs)}`);
  if (i.srttMs !== undefined) parts.push(`rtt:${ms(i.srttMs)}/${ms(i.rttvarMs)}`);
  parts.push(`mss:${i.mss}`, `pmtu:${c.pmtu}`, `rcvmss:${c.rcv.rcvMss}`, `advmss:${c.advMss}`, `cwnd:${i.cwnd}`);
  if (i.ssthresh !== undefined) parts.push(`ssthresh:${i.ssthresh}`);
  parts.push(`bytes_sent:${i.bytesSent}`);
  if (i.retransmits > 0) parts.push(`retrans:0/${i.retransmits}`);
  parts.push(`bytes_acked:${i.bytesAcked}`, `bytes_received:${i.bytesReceived}`, `snd_wnd:${i.sndWnd}`, `rcv_wnd:${i.rcvWnd}`);
  if (i.caState !== 'open') parts.push(`ca_state:${i.caState}`);
  return parts.join(' ');
}
