/**
 * Conntrack with exact packets on the virtual clock: every TCP state and its
 * Linux timeout, UDP unreplied / replied / stream, ICMP echo, the table
 * limit (early drop, then refusal), invalid packets counted (never thrown),
 * TCP reopen, and ICMP errors about a translated flow (outer and quoted
 * headers rewritten, checksums valid).
 */
import { describe, expect, it } from 'vitest';
import { decodeIcmp, decodeQuotedDatagram } from '../../src/wire/icmp.js';
import { decodeIPv4, ipv4ChecksumValid } from '../../src/wire/ipv4.js';
import { formatIPv4 } from '../../src/wire/address.js';
import { echo, hookRouter, icmpError, tcp, TCP_FLAG, udp } from './helpers.js';

const { SYN, ACK, FIN, RST, PSH } = TCP_FLAG;
const A = '172.30.0.2';
const S = '10.201.0.2';
const R = '10.201.0.1';

function state(h: ReturnType<typeof hookRouter>): string | undefined {
  return h.nat.conntrack.toJSON()[0]?.state;
}
function timeout(h: ReturnType<typeof hookRouter>): number | undefined {
  return h.nat.conntrack.toJSON()[0]?.timeout;
}

/** Expects the single entry to live exactly `seconds` more (gone 1 ms after). */
function expectExpiry(h: ReturnType<typeof hookRouter>, seconds: number): void {
  h.clock.advance(seconds * 1000 - 1);
  expect(h.nat.conntrack.size).toBe(1);
  h.clock.advance(1);
  expect(h.nat.conntrack.size).toBe(0);
  expect(h.nat.stats.conntrack.expired).toBeGreaterThanOrEqual(1);
}

/** A masqueraded handshake A:1234 -> S:80; returns the NAT port. */
function handshake(h: ReturnType<typeof hookRouter>): number {
  expect(h.out(tcp(A, 1234, S, 80, { flags: SYN, seq: 1000 }))).toBe(true);
  expect(state(h)).toBe('SYN_SENT');
  const port = h.nat.conntrack.toJSON()[0]!.reply.dport!;
  expect(h.back(tcp(S, 80, R, port, { flags: SYN | ACK, seq: 5000, ack: 1001 }))).toBe(true);
  expect(state(h)).toBe('SYN_RECV');
  expect(h.out(tcp(A, 1234, S, 80, { flags: ACK, seq: 1001, ack: 5001 }))).toBe(true);
  expect(state(h)).toBe('ESTABLISHED');
  return port;
}

describe('TCP states and timeouts (Linux nf_conntrack_tcp_timeout_* defaults)', () => {
  it('SYN_SENT lives 120 s', () => {
    const h = hookRouter();
    h.nat.masquerade('eth1');
    h.out(tcp(A, 1234, S, 80, { flags: SYN, seq: 1000 }));
    expect(state(h)).toBe('SYN_SENT');
    expect(timeout(h)).toBe(120);
    expect(h.nat.conntrack.format()).toContain('[UNREPLIED]');
    expectExpiry(h, 120);
  });

  it('SYN_RECV lives 60 s', () => {
    const h = hookRouter();
    h.nat.masquerade('eth1');
    h.out(tcp(A, 1234, S, 80, { flags: SYN, seq: 1000 }));
    h.back(tcp(S, 80, R, 1234, { flags: SYN | ACK, seq: 5000, ack: 1001 }));
    expect(state(h)).toBe('SYN_RECV');
    expectExpiry(h, 60);
  });

  it('ESTABLISHED (ASSURED) lives 432000 s; with unacknowledged data 300 s', () => {
    const h = hookRouter();
    h.nat.masquerade('eth1');
    handshake(h);
    expect(timeout(h)).toBe(432000);
    expect(h.nat.conntrack.toJSON()[0]!.status).toContain('ASSURED');
    h.out(tcp(A, 1234, S, 80, { flags: ACK | PSH, seq: 1001, ack: 5001, payload: new Uint8Array(100) }));
    expect(timeout(h)).toBe(300);
    h.back(tcp(S, 80, R, 1234, { flags: ACK, seq: 5001, ack: 1101 }));
    expect(timeout(h)).toBe(432000);
    expectExpiry(h, 432000);
  });

  it('a segment retransmitted 3 times caps the timeout at nf_conntrack_tcp_timeout_max_retrans', () => {
    const h = hookRouter({ nat: { conntrack: { timeouts: { tcpMaxRetrans: 200_000 } } } });
    h.nat.masquerade('eth1');
    handshake(h);
    const seg = () => tcp(A, 1234, S, 80, { flags: ACK | PSH, seq: 1001, ack: 5001, payload: new Uint8Array(10) });
    h.out(seg());
    expect(timeout(h)).toBe(300); // unacknowledged
    h.out(seg());
    h.out(seg());
    expect(timeout(h)).toBe(300);
    h.out(seg());
    expect(timeout(h)).toBe(200);
  });

  it('FIN_WAIT 120 s, CLOSE_WAIT 60 s, LAST_ACK 30 s, TIME_WAIT 120 s', () => {
    const h = hookRouter();
    h.nat.masquerade('eth1');
    handshake(h);
    h.out(tcp(A, 1234, S, 80, { flags: FIN | ACK, seq: 1001, ack: 5001 }));
    expect([state(h), timeout(h)]).toEqual(['FIN_WAIT', 120]);
    h.back(tcp(S, 80, R, 1234, { flags: ACK, seq: 5001, ack: 1002 }));
    expect([state(h), timeout(h)]).toEqual(['CLOSE_WAIT', 60]);
    h.clock.advance(59_000);
    h.back(tcp(S, 80, R, 1234, { flags: FIN | ACK, seq: 5001, ack: 1002 }));
    expect([state(h), timeout(h)]).toEqual(['LAST_ACK', 30]);
    h.out(tcp(A, 1234, S, 80, { flags: ACK, seq: 1002, ack: 5002 }));
    expect([state(h), timeout(h)]).toEqual(['TIME_WAIT', 120]);
    expectExpiry(h, 120);
  });

  it('FIN_WAIT, LAST_ACK and CLOSE_WAIT each expire on their own timeout', () => {
    for (const [steps, name, secs] of [
      [1, 'FIN_WAIT', 120],
      [2, 'CLOSE_WAIT', 60],
      [3, 'LAST_ACK', 30],
    ] as const) {
      const h = hookRouter();
      h.nat.masquerade('eth1');
      handshake(h);
      h.out(tcp(A, 1234, S, 80, { flags: FIN | ACK, seq: 1001, ack: 5001 }));
      if (steps >= 2) h.back(tcp(S, 80, R, 1234, { flags: ACK, seq: 5001, ack: 1002 }));
      if (steps >= 3) h.back(tcp(S, 80, R, 1234, { flags: FIN | ACK, seq: 5001, ack: 1002 }));
      expect(state(h)).toBe(name);
      expectExpiry(h, secs);
    }
  });

  it('RST: CLOSE for 10 s; a RST answering the SYN removes the entry at once', () => {
    const h = hookRouter();
    h.nat.masquerade('eth1');
    handshake(h);
    h.back(tcp(S, 80, R, 1234, { flags: RST, seq: 5001 }));
    expect([state(h), timeout(h)]).toEqual(['CLOSE', 10]);
    expectExpiry(h, 10);

    h.out(tcp(A, 1235, S, 81, { flags: SYN, seq: 7 }));
    expect(h.back(tcp(S, 81, R, 1235, { flags: RST | ACK, seq: 0, ack: 8 }))).toBe(true);
    expect(h.nat.conntrack.size).toBe(0);
    expect(h.nat.stats.conntrack.deleted).toBe(1);
  });

  it('SYN_SENT2 (simultaneous open) lives 120 s', () => {
    const h = hookRouter();
    h.nat.masquerade('eth1');
    h.out(tcp(A, 1234, S, 80, { flags: SYN, seq: 1000 }));
    h.back(tcp(S, 80, R, 1234, { flags: SYN, seq: 5000 }));
    expect(state(h)).toBe('SYN_SENT2');
    expectExpiry(h, 120);
  });

  it('a SYN in TIME_WAIT reopens the connection as a new entry', () => {
    const h = hookRouter();
    h.nat.masquerade('eth1');
    handshake(h);
    h.out(tcp(A, 1234, S, 80, { flags: FIN | ACK, seq: 1001, ack: 5001 }));
    h.back(tcp(S, 80, R, 1234, { flags: FIN | ACK, seq: 5001, ack: 1002 }));
    h.out(tcp(A, 1234, S, 80, { flags: ACK, seq: 1002, ack: 5002 }));
    expect(state(h)).toBe('TIME_WAIT');
    const firstId = h.nat.conntrack.toJSON()[0]!.id;
    expect(h.out(tcp(A, 1234, S, 80, { flags: SYN, seq: 900000 }))).toBe(true);
    expect(state(h)).toBe('SYN_SENT');
    expect(h.nat.conntrack.toJSON()[0]!.id).not.toBe(firstId);
  });
});

describe('UDP and ICMP timeouts', () => {
  it('UDP: unreplied 30 s', () => {
    const h = hookRouter();
    h.nat.masquerade('eth1');
    h.out(udp(A, 5000, S, 53));
    expect(h.nat.conntrack.format()).toMatch(/^udp {6}17 30 src=172\.30\.0\.2 dst=10\.201\.0\.2 sport=5000 dport=53 \[UNREPLIED\] src=10\.201\.0\.2 dst=10\.201\.0\.1 sport=53 dport=5000 mark=0 use=1$/);
    expectExpiry(h, 30);
  });

  it('UDP: replied at once stays 30 s and unassured; still talking after 2 s it is a stream: 120 s, ASSURED', () => {
    const h = hookRouter();
    h.nat.masquerade('eth1');
    h.out(udp(A, 5000, S, 53));
    h.back(udp(S, 53, R, 5000));
    h.out(udp(A, 5000, S, 53));
    let j = h.nat.conntrack.toJSON()[0]!;
    expect(j.timeout).toBe(30);
    expect(j.status).not.toContain('ASSURED');
    h.clock.advance(2500);
    h.out(udp(A, 5000, S, 53));
    j = h.nat.conntrack.toJSON()[0]!;
    expect(j.timeout).toBe(120);
    expect(j.status).toContain('ASSURED');
    expect(h.nat.conntrack.format()).toMatch(/sport=53 dport=5000 \[ASSURED\] mark=0 use=1$/);
    expectExpiry(h, 120);
  });

  it('ICMP echo: keyed by identifier, 30 s', () => {
    const h = hookRouter();
    h.nat.masquerade('eth1');
    h.out(echo(A, S, 77));
    h.back(echo(S, R, 77, 'echo-reply'));
    expect(h.nat.conntrack.format()).toMatch(/^icmp {5}1 30 src=172\.30\.0\.2 dst=10\.201\.0\.2 type=8 code=0 id=77 src=10\.201\.0\.2 dst=10\.201\.0\.1 type=0 code=0 id=77 mark=0 use=1$/);
    // Another identifier is another flow.
    h.out(echo(A, S, 78));
    expect(h.nat.conntrack.size).toBe(2);
    h.clock.advance(30_000);
    expect(h.nat.conntrack.size).toBe(0);
  });

  it('two hosts pinging with one identifier get distinct NAT identifiers', () => {
    const h = hookRouter();
    h.nat.masquerade('eth1');
    const p1 = echo(A, S, 5);
    const p2 = echo('172.30.0.3', S, 5);
    h.out(p1);
    h.out(p2);
    const ids = h.nat.conntrack.toJSON().map((e) => e.reply.id);
    expect(ids[0]).toBe(5);
    expect(ids[1]).not.toBe(5);
    // The reply to the second goes back to the second host with its own identifier.
    const reply = echo(S, R, ids[1]!, 'echo-reply');
    expect(h.back(reply)).toBe(true);
    const d = decodeIPv4(reply);
    expect(d.ok && formatIPv4(d.value.dst)).toBe('172.30.0.3');
    const m = d.ok ? decodeIcmp(d.value.payload) : undefined;
    expect(m?.ok && m.value.kind === 'echo-reply' && m.value.identifier).toBe(5);
  });
});

describe('table limit (nf_conntrack_max)', () => {
  it('a full table drops an unassured entry first (early drop), then refuses with a counter and one log line', () => {
    const lines: string[] = [];
    const h = hookRouter({ nat: { conntrack: { maxEntries: 2 }, log: (l) => lines.push(l) } });
    h.nat.masquerade('eth1');
    h.out(udp(A, 1, S, 53));
    h.out(udp(A, 2, S, 53));
    expect(h.out(udp(A, 3, S, 53))).toBe(true);
    expect(h.nat.stats.conntrack.earlyDrop).toBe(1);
    expect(h.nat.conntrack.size).toBe(2);

    const g = hookRouter({ nat: { conntrack: { maxEntries: 2 }, log: (l) => lines.push(l) } });
    g.nat.masquerade('eth1');
    handshake(g);
    g.out(tcp(A, 2000, S, 80, { flags: SYN, seq: 1 }));
    g.back(tcp(S, 80, R, 2000, { flags: SYN | ACK, seq: 9, ack: 2 }));
    g.out(tcp(A, 2000, S, 80, { flags: ACK, seq: 2, ack: 10 }));
    expect(g.out(tcp(A, 3000, S, 80, { flags: SYN, seq: 1 }))).toBe(false);
    expect(g.out(tcp(A, 3001, S, 80, { flags: SYN, seq: 1 }))).toBe(false);
    expect(g.nat.stats.conntrack.refusedTableFull).toBe(2);
    expect(g.nat.stats.refused.tableFull).toBe(2);
    expect(lines).toEqual(['wirelab nat r: conntrack table full (2 entries), dropping the first packet of tcp 172.30.0.2 -> 10.201.0.2']);
  });

  it('early drop finds an unassured entry behind long-lived assured ones (a flood cannot lock new flows out)', () => {
    // Found by bench/soak: with the eight oldest entries assured (established connections, the
    // oldest entries of any busy NAT), a table full of unassured flood entries refused every new
    // flow. Linux's early_drop looks in hash buckets, not at the oldest entries, and drops the
    // unassured ones it finds there; wirelab drops the oldest unassured entry.
    const lines: string[] = [];
    const h = hookRouter({ nat: { conntrack: { maxEntries: 12 }, log: (l) => lines.push(l) } });
    h.nat.masquerade('eth1');
    for (let i = 0; i < 10; i++) {
      const sport = 2000 + i;
      h.out(tcp(A, sport, S, 80, { flags: SYN, seq: 1 }));
      const port = h.nat.conntrack.toJSON().find((e) => e.original.sport === sport)!.reply.dport!;
      h.back(tcp(S, 80, R, port, { flags: SYN | ACK, seq: 9, ack: 2 }));
      h.out(tcp(A, sport, S, 80, { flags: ACK, seq: 2, ack: 10 }));
    }
    expect(h.nat.conntrack.toJSON().filter((e) => e.status.includes('ASSURED'))).toHaveLength(10);
    // Two unassured flows fill the table; each new one replaces the oldest unassured.
    h.out(udp(A, 1, S, 53));
    h.out(udp(A, 2, S, 53));
    for (let p = 3; p < 20; p++) expect(h.out(udp(A, p, S, 53))).toBe(true);
    expect(h.nat.stats.conntrack.refusedTableFull).toBe(0);
    expect(h.nat.stats.conntrack.earlyDrop).toBe(17);
    const left = h.nat.conntrack.toJSON();
    expect(left).toHaveLength(12);
    expect(left.filter((e) => e.protocol === 'udp').map((e) => e.original.sport).sort((a, b) => a! - b!)).toEqual([18, 19]);
    // Once only assured entries are left, a new flow is refused (nothing may be dropped for it).
    const g = hookRouter({ nat: { conntrack: { maxEntries: 1 }, log: (l) => lines.push(l) } });
    g.nat.masquerade('eth1');
    handshake(g);
    expect(g.out(udp(A, 1, S, 53))).toBe(false);
    expect(g.nat.stats.conntrack.refusedTableFull).toBe(1);
  });
});

describe('invalid packets are counted, never thrown', () => {
  it('no entry, bad state, out of window, malformed, bad ICMP', () => {
    const h = hookRouter();
    h.nat.masquerade('eth1');
    // A RST with no entry: counted, passed untracked (Linux: INVALID, not NATed).
    expect(h.out(tcp(A, 9, S, 80, { flags: RST, seq: 1 }))).toBe(true);
    expect(h.nat.stats.conntrack.invalid.tcpNoEntry).toBe(1);
    expect(h.nat.conntrack.size).toBe(0);
    handshake(h);
    // Data far outside the window: dropped.
    expect(h.back(tcp(S, 80, R, 1234, { flags: ACK, seq: 5001 + 0x40000000, ack: 1001, payload: new Uint8Array(10) }))).toBe(false);
    expect(h.nat.stats.conntrack.invalid.tcpOutOfWindow).toBe(1);
    // A SYN-ACK from the client in ESTABLISHED: bad state, dropped.
    expect(h.out(tcp(A, 1234, S, 80, { flags: SYN | ACK, seq: 1001, ack: 5001 }))).toBe(false);
    expect(h.nat.stats.conntrack.invalid.tcpBadState).toBe(1);
    expect(h.nat.stats.droppedInvalid).toBe(2);
    // The connection still works.
    expect(h.back(tcp(S, 80, R, 1234, { flags: ACK, seq: 5001, ack: 1001, payload: new Uint8Array(10) }))).toBe(true);
    // A truncated TCP header.
    const bad = tcp(A, 1, S, 2, { flags: SYN, seq: 1 }).subarray(0, 30);
    expect(h.out(bad)).toBe(true);
    expect(h.nat.stats.conntrack.invalid.malformed).toBe(1);
    // An echo reply nobody asked for; an ICMP error with a bad checksum.
    h.back(echo(S, R, 999, 'echo-reply'));
    expect(h.nat.stats.conntrack.invalid.icmpNoEntry).toBe(1);
    const err = icmpError(S, R, tcp(R, 1234, S, 80, { flags: SYN, seq: 1 }));
    err[22] = err[22]! ^ 0xff;
    expect(h.back(err)).toBe(true);
    expect(h.nat.stats.conntrack.invalid.icmpBadChecksum).toBe(1);
    // With nf_conntrack_tcp_be_liberal the out-of-window segment passes.
    h.nat.conntrack.tcpBeLiberal = true;
    expect(h.back(tcp(S, 80, R, 1234, { flags: ACK, seq: 5001 + 0x40000000, ack: 1001, payload: new Uint8Array(10) }))).toBe(true);
  });

  it('random bytes through both hooks never throw', () => {
    const h = hookRouter();
    h.nat.masquerade('eth1');
    h.nat.publish({ protocol: 'tcp', port: 80, toAddress: A, toPort: 80 });
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) & 0xff;
    for (let i = 0; i < 3000; i++) {
      const base = [tcp(A, 1, S, 2, { flags: SYN, seq: 1 }), udp(S, 3, R, 80), echo(A, S, 4), icmpError(S, R, udp(R, 1, S, 2))][i % 4]!;
      const p = base.slice();
      for (let k = 0; k < 4; k++) p[20 + (rnd() % (p.length - 20))] = rnd();
      expect(() => (i & 1 ? h.out(p) : h.back(p))).not.toThrow();
    }
  });
});

describe('ICMP errors about a translated flow', () => {
  it('time exceeded from a router beyond the uplink: outer destination and quoted source translated, checksums valid', () => {
    const h = hookRouter();
    h.nat.masquerade('eth1', { portRange: [40000, 40000] });
    const syn = tcp(A, 1234, S, 80, { flags: SYN, seq: 1000 });
    h.out(syn);
    expect(decodeIPv4(syn).ok && syn[20]! * 256 + syn[21]!).toBe(40000);
    const err = icmpError('10.201.0.254', R, syn, 'time-exceeded');
    expect(h.back(err)).toBe(true);
    expect(h.nat.stats.icmpErrorsTranslated).toBe(1);
    expect(ipv4ChecksumValid(err, 0)).toBe(true);
    const outer = decodeIPv4(err);
    if (!outer.ok) throw new Error('outer');
    expect(formatIPv4(outer.value.src)).toBe('10.201.0.254');
    expect(formatIPv4(outer.value.dst)).toBe(A);
    const m = decodeIcmp(outer.value.payload);
    if (!m.ok || m.value.kind !== 'time-exceeded') throw new Error('icmp');
    const q = decodeQuotedDatagram(m.value.quoted);
    if (!q.ok) throw new Error('quote');
    expect([formatIPv4(q.value.src), q.value.srcPort, formatIPv4(q.value.dst), q.value.dstPort]).toEqual([A, 1234, S, 80]);
    expect(ipv4ChecksumValid(m.value.quoted, 0)).toBe(true);
  });

  it('port unreachable from the published container: outer source becomes the router, quote the client view', () => {
    const h = hookRouter();
    h.nat.publish({ protocol: 'udp', port: 5353, toAddress: A, toPort: 53 });
    const q = udp('10.201.0.9', 1111, R, 5353);
    expect(h.back(q)).toBe(true); // DNAT'ed to A:53
    expect(q[16]).toBe(172);
    const err = icmpError(A, '10.201.0.9', q, 'dest-unreachable', 3);
    expect(h.out(err)).toBe(true);
    const outer = decodeIPv4(err);
    if (!outer.ok) throw new Error('outer');
    expect([formatIPv4(outer.value.src), formatIPv4(outer.value.dst)]).toEqual([R, '10.201.0.9']);
    const m = decodeIcmp(outer.value.payload);
    if (!m.ok || m.value.kind !== 'dest-unreachable') throw new Error('icmp');
    const qd = decodeQuotedDatagram(m.value.quoted);
    if (!qd.ok) throw new Error('quote');
    expect([formatIPv4(qd.value.src), qd.value.srcPort, formatIPv4(qd.value.dst), qd.value.dstPort]).toEqual(['10.201.0.9', 1111, R, 5353]);
  });

  it('an error about an untracked flow passes unchanged and is counted', () => {
    const h = hookRouter();
    h.nat.masquerade('eth1');
    const err = icmpError(S, R, udp(R, 1, S, 2));
    const before = err.slice();
    expect(h.back(err)).toBe(true);
    expect(err).toEqual(before);
    expect(h.nat.stats.icmpErrorsUnmatched).toBe(1);
  });
});
