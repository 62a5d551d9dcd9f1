/**
 * Connection-tracking states and timeouts, with Linux's defaults
 * (net.netfilter.nf_conntrack_tcp_timeout_*, nf_conntrack_udp_timeout*,
 * nf_conntrack_icmp_timeout), so a wirelab table ages exactly as the
 * kernel's does and `conntrack -L` output from both can be compared.
 */

/** TCP conntrack states, numbered as Linux's enum tcp_conntrack. */
export const TCP_CT = {
  NONE: 0,
  SYN_SENT: 1,
  SYN_RECV: 2,
  ESTABLISHED: 3,
  FIN_WAIT: 4,
  CLOSE_WAIT: 5,
  LAST_ACK: 6,
  TIME_WAIT: 7,
  CLOSE: 8,
  SYN_SENT2: 9,
  /** Table markers, not states: sIV (invalid) and sIG (ignore). */
  INVALID: 10,
  IGNORE: 11,
} as const;

export type TcpCtState = number;

/** Names as `conntrack -L` prints them. */
export const TCP_CT_NAMES: readonly string[] = [
  'NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2',
];

/** Per-protocol timeouts in milliseconds. */
export interface ConntrackTimeouts {
  /** Indexed by TCP_CT state (nf_conntrack_tcp_timeout_syn_sent, …). */
  tcp: number[];
  /** nf_conntrack_tcp_timeout_max_retrans (after 3 retransmissions). */
  tcpMaxRetrans: number;
  /** nf_conntrack_tcp_timeout_unacknowledged: cap while data is unacknowledged. */
  tcpUnacknowledged: number;
  /** nf_conntrack_udp_timeout: unreplied, or replied within the first 2 s. */
  udp: number;
  /** nf_conntrack_udp_timeout_stream: replied both ways and still alive after 2 s (ASSURED). */
  udpStream: number;
  /** nf_conntrack_icmp_timeout. */
  icmp: number;
}

const S = 1000;

/** Linux 6.x defaults. */
export function defaultTimeouts(): ConntrackTimeouts {
  const tcp: number[] = [];
  tcp[TCP_CT.NONE] = 0;
  tcp[TCP_CT.SYN_SENT] = 120 * S;
  tcp[TCP_CT.SYN_RECV] = 60 * S;
  tcp[TCP_CT.ESTABLISHED] = 5 * 24 * 3600 * S; // 432000 s
  tcp[TCP_CT.FIN_WAIT] = 120 * S;
  tcp[TCP_CT.CLOSE_WAIT] = 60 * S;
  tcp[TCP_CT.LAST_ACK] = 30 * S;
  tcp[TCP_CT.TIME_WAIT] = 120 * S;
  tcp[TCP_CT.CLOSE] = 10 * S;
  tcp[TCP_CT.SYN_SENT2] = 120 * S;
  return { tcp, tcpMaxRetrans: 300 * S, tcpUnacknowledged: 300 * S, udp: 30 * S, udpStream: 120 * S, icmp: 30 * S };
}

/** How long a UDP flow must live (after its first reply) before it counts as a stream (Linux: 2 s). */
export const UDP_STREAM_AFTER_MS = 2 * S;
