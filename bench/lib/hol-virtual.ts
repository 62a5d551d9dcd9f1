/**
 * The head-of-line-blocking benchmark on the virtual clock: two wirelab
 * hosts joined by an in-memory pipe whose two ends are both impaired
 * (src/link/impair.ts: delay, jitter, random or Gilbert–Elliott loss,
 * reorder — the same settings each way, seeded per direction), a sender on
 * one and a receiving application on the other. Time moves only when this
 * file advances the clock, so a run of 2,000 messages over a 20 ms RTT path
 * takes a fraction of a second of wall time and repeats exactly for a seed.
 *
 * Each message is `messageBytes` long and carries its sequence number
 * (uint32) and its send time (float64 ms) in its first 12 bytes; the
 * receiver stamps `clock.now()` when the application has the WHOLE message:
 *
 *   - `tcp`: one connection, messages back to back on the byte stream,
 *     framed by their fixed size; TCP_NODELAY on (an application that cares
 *     about latency sets it, and Nagle would add its own wait to every
 *     figure). A message counts as sent when the application offers it, so
 *     time spent in a full send buffer counts too.
 *   - `tcp-n`: `connections` such connections, message k on connection
 *     k mod N.
 *   - `udp`: one datagram per message through the stack's dgram-shaped
 *     sockets (receive queues large enough that a burst never overflows
 *     them); a lost one is never delivered.
 *   - `udp-rtx`: the receiver answers every datagram it gets with a 4-byte
 *     acknowledgement (the sequence number), duplicates included, so a lost
 *     ack is repaired by the next copy; the application gets each message the
 *     first time it arrives (later copies are dropped as duplicates). The
 *     sender resends a message not acknowledged within
 *       RTO = 2 × baseRtt + 4 × jitter + 10 ms
 *     (twice the round trip, so a late ack is not taken for a loss, plus
 *     four jitter deviations and 10 ms for timer and queueing slack) and
 *     again every RTO until it is acknowledged — no backoff and no
 *     congestion control, the simplest scheme that repairs loss without
 *     ordering.
 *
 * TCP runs on the TcpLayer's connection handlers rather than the
 * `net`-shaped Duplex (src/tcp/api.ts): the handlers are called from the
 * timer that delivers the segment, so `clock.now()` there is the exact
 * virtual arrival time, while the Duplex hands data over on Node's
 * `nextTick`, after the clock has already moved on. UDP's `message` event
 * is deferred through the injected clock (src/udp/socket.ts), so it is exact
 * too. The connections are set up before time zero; the first message is
 * sent at 0.
 *
 * A run ends when every message has been delivered or `drainMs` (5 s)
 * after the last send, whichever comes first. `baseRttMs` is the median of
 * five pings over a loss-free copy of the link (same delay, jitter and
 * seed).
 */
import { impair, type ImpairedPort, type ImpairmentOptions } from '../../src/link/impair.js';
import { createPipe } from '../../src/link/pipe.js';
import { createStack, type Stack } from '../../src/stack.js';
import type { TcpConnection } from '../../src/tcp/connection.js';
import type { TcpConnectionHandler } from '../../src/tcp/state.js';
import { Timer, VirtualClock } from '../../src/time/index.js';
import { parseIPv4 } from '../../src/wire/address.js';
import type { HolMessage, HolRunResult, HolRunSpec } from './hol-types.js';

/** Bytes of a message taken by its header: sequence number (uint32) and send time (float64 ms). */
export const HOL_HEADER_BYTES = 12;
/** How long a run waits for stragglers after the last send, virtual ms. */
export const DRAIN_MS = 5000;
/** Mean length, in frames, of a Gilbert–Elliott loss burst (r = 1/4). */
export const GE_MEAN_BURST_FRAMES = 4;

const SENDER_IP = '10.77.0.1';
const RECEIVER_IP = '10.77.0.2';
const PORT = 7000;
/** Virtual ms per step of the drain loop (timers inside a step fire at their exact deadlines). */
const STEP_MS = 10;

/**
 * The impairment of one direction for `spec`. Gilbert–Elliott with a loss of
 * 1 in the bad state and 0 in the good one loses the stationary share of bad
 * frames, p / (p + r); with r = 1/4 (mean burst 4 frames) the same average
 * loss L as the random model needs p = L·r / (1 − L).
 */
export function impairmentFor(spec: HolRunSpec, seed: number, withLoss = true): ImpairmentOptions {
  const L = withLoss ? spec.lossPercent / 100 : 0;
  const o: ImpairmentOptions = {
    seed,
    delayMs: spec.delayMs,
    jitterMs: spec.jitterMs,
    reorder: spec.reorderPercent / 100,
  };
  if (L > 0) {
    if (spec.lossModel === 'gilbert-elliott') {
      const r = 1 / GE_MEAN_BURST_FRAMES;
      o.gilbertElliott = { p: Math.min(1, (L * r) / (1 - L)), r, lossGood: 0, lossBad: 1 };
    } else {
      o.loss = L;
    }
  }
  return o;
}

/** The RTO of `udp-rtx` (see the header comment). */
export function udpRtxTimeoutMs(baseRttMs: number, jitterMs: number): number {
  return 2 * baseRttMs + 4 * jitterMs + 10;
}

interface Link {
  clock: VirtualClock;
  sender: Stack;
  receiver: Stack;
  ports: ImpairedPort[];
  close(): void;
}

function makeLink(spec: HolRunSpec, withLoss: boolean): Link {
  const clock = new VirtualClock();
  const [pa, pb] = createPipe(clock);
  const seed = spec.seed | 0;
  const toReceiver = impair(pa, clock, impairmentFor(spec, Math.imul(seed, 2) + 1, withLoss));
  const toSender = impair(pb, clock, impairmentFor(spec, Math.imul(seed, 2) + 2, withLoss));
  // RACK-TLP on, as Linux's default (tcp_recovery = 1) and wirelab's: the real mode's kernel
  // endpoints recover with it, and the two modes are compared (spelled out so they stay equal).
  const sender = createStack({ clock, name: 'hol-sender', seed: seed * 3 + 1, tcp: { seed: seed * 5 + 1, rack: true } });
  const receiver = createStack({ clock, name: 'hol-receiver', seed: seed * 3 + 2, tcp: { seed: seed * 5 + 2, rack: true } });
  sender.addInterface(toReceiver, { addresses: [`${SENDER_IP}/24`], announce: false });
  receiver.addInterface(toSender, { addresses: [`${RECEIVER_IP}/24`], announce: false });
  // No ARP: a lost ARP request would add a second's wait that has nothing to do with the transport.
  sender.neighbours.addPermanent(parseIPv4(RECEIVER_IP), receiver.interfaces[0]!.mac, 'eth0');
  receiver.neighbours.addPermanent(parseIPv4(SENDER_IP), sender.interfaces[0]!.mac, 'eth0');
  return {
    clock,
    sender,
    receiver,
    ports: [toReceiver, toSender],
    close: () => {
      sender.close();
      receiver.close();
    },
  };
}

/** Median of five pings over a loss-free copy of the link (ms). */
export async function measureBaseRtt(spec: HolRunSpec): Promise<number> {
  const link = makeLink(spec, false);
  try {
    const rtts: number[] = [];
    for (let i = 0; i < 5; i++) {
      let rtt: number | undefined;
      let failed: unknown;
      link.sender.icmp.ping(RECEIVER_IP, { timeoutMs: 10_000 }).then(
        (r) => (rtt = r.rttMs),
        (e: unknown) => (failed = e),
      );
      while (rtt === undefined && failed === undefined) {
        link.clock.advance(1);
        await Promise.resolve();
        await Promise.resolve();
      }
      if (failed !== undefined) throw failed;
      rtts.push(rtt!);
    }
    rtts.sort((x, y) => x - y);
    return rtts[2]!;
  } finally {
    link.close();
  }
}

/** Send time of message `k`, ms from the start of the run. */
export function sendTimeMs(spec: HolRunSpec, k: number): number {
  if (spec.pattern === 'burst' && spec.burstSize > 1) return Math.floor(k / spec.burstSize) * spec.intervalMs * spec.burstSize;
  return k * spec.intervalMs;
}

function encodeMessage(size: number, seq: number, sentMs: number): Uint8Array {
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  v.setUint32(0, seq);
  v.setFloat64(4, sentMs);
  for (let i = HOL_HEADER_BYTES; i < size; i++) b[i] = (seq + i) & 0xff;
  return b;
}

/** Where the receiving application records what it got. */
class Arrivals {
  readonly receivedMs: Array<number | null>;
  delivered = 0;
  /** Header send times that disagree with the sender's record: a framing bug, never expected. */
  mismatches = 0;

  constructor(
    private readonly clock: VirtualClock,
    private readonly t0: number,
    private readonly sentMs: number[],
  ) {
    this.receivedMs = new Array<number | null>(sentMs.length).fill(null);
  }

  /** The application has message bytes `b[off, off + 12)` (header) whole; false for a duplicate. */
  take(b: Uint8Array, off: number): boolean {
    const v = new DataView(b.buffer, b.byteOffset + off, HOL_HEADER_BYTES);
    const seq = v.getUint32(0);
    const sent = v.getFloat64(4);
    if (seq >= this.receivedMs.length || this.receivedMs[seq] !== null) return false;
    if (sent !== this.sentMs[seq]) this.mismatches++;
    this.receivedMs[seq] = this.clock.now() - this.t0;
    this.delivered++;
    return true;
  }
}

/** A message sender for one transport: `send(k)` hands message k to it. */
interface Transport {
  send(k: number, msg: Uint8Array): void;
  close(): void;
}

/** Reassembles fixed-size messages from one connection's byte stream. */
function streamReceiver(size: number, take: (b: Uint8Array, off: number) => void): TcpConnectionHandler & { conn: TcpConnection | null } {
  const partial = new Uint8Array(size);
  let have = 0;
  const h = {
    conn: null as TcpConnection | null,
    data(chunk: Uint8Array): void {
      let off = 0;
      while (off < chunk.length) {
        if (have === 0 && chunk.length - off >= size) {
          take(chunk, off);
          off += size;
          continue;
        }
        const n = Math.min(size - have, chunk.length - off);
        partial.set(chunk.subarray(off, off + n), have);
        have += n;
        off += n;
        if (have === size) {
          take(partial, 0);
          have = 0;
        }
      }
      h.conn?.consumed(chunk.length);
    },
    peerFin: () => undefined,
    writable: () => undefined,
    closed: () => undefined,
  };
  return h;
}

async function tcpTransport(link: Link, spec: HolRunSpec, n: number, arrivalsRef: { current: Arrivals | null }): Promise<Transport> {
  const { clock } = link;
  const size = spec.messageBytes;
  const receivers: Array<ReturnType<typeof streamReceiver>> = [];
  const take = (b: Uint8Array, off: number): void => void arrivalsRef.current!.take(b, off);
  link.receiver.tcpLayer.listen({ port: PORT, backlog: Math.max(16, n) }, (c) => {
    const h = streamReceiver(size, take);
    h.conn = c;
    c.handler = h;
    receivers.push(h);
  });
  const conns: TcpConnection[] = [];
  /** Bytes each connection still has to take (what did not fit into its send buffer). */
  const backlog: Uint8Array[][] = [];
  const established: boolean[] = [];
  let failure: Error | undefined;
  for (let i = 0; i < n; i++) {
    const queue: Uint8Array[] = [];
    backlog.push(queue);
    established.push(false);
    const conn: TcpConnection = link.sender.tcpLayer.connect(
      { remoteAddress: parseIPv4(RECEIVER_IP), remotePort: PORT },
      {
        established: () => (established[i] = true),
        data: (chunk) => conn.consumed(chunk.length),
        peerFin: () => undefined,
        writable: () => drain(conn, queue),
        closed: (e) => {
          if (e) failure ??= e;
        },
      },
    );
    conn.setNoDelay(true);
    conns.push(conn);
  }
  const limit = clock.now() + 120_000;
  while (!(established.every(Boolean) && receivers.length === n)) {
    if (failure) throw failure;
    if (clock.now() >= limit) throw new Error(`hol tcp: ${established.filter(Boolean).length}/${n} connections established after 120 s`);
    clock.advance(1);
  }
  for (const r of receivers) r.conn!.setNoDelay(true);
  await Promise.resolve();
  return {
    send(k, msg) {
      const i = k % n;
      const queue = backlog[i]!;
      if (queue.length > 0) queue.push(msg);
      else {
        const w = conns[i]!.write(msg);
        if (w < msg.length) queue.push(msg.subarray(w));
      }
    },
    close() {
      for (const c of conns) c.abort();
    },
  };
}

function drain(conn: TcpConnection, queue: Uint8Array[]): void {
  while (queue.length > 0) {
    const head = queue[0]!;
    const w = conn.write(head);
    if (w < head.length) {
      queue[0] = head.subarray(w);
      return;
    }
    queue.shift();
  }
}

function udpTransport(link: Link, spec: HolRunSpec, rtoMs: number | null, arrivalsRef: { current: Arrivals | null }): Transport {
  const { clock } = link;
  const rx = link.receiver.udp.createSocket({ type: 'udp4', recvBufferFrames: 1 << 20 });
  rx.bind(PORT, RECEIVER_IP);
  const tx = link.sender.udp.createSocket({ type: 'udp4', recvBufferFrames: 1 << 20 });
  tx.bind(PORT + 1, SENDER_IP);
  rx.on('message', (msg, rinfo) => {
    arrivalsRef.current!.take(msg, 0);
    if (rtoMs !== null) {
      // Every copy is acknowledged, so a lost ack is repaired by the next retransmission.
      const ack = new Uint8Array(4);
      new DataView(ack.buffer).setUint32(0, new DataView(msg.buffer, msg.byteOffset, 4).getUint32(0));
      rx.send(ack, rinfo.port, rinfo.address);
    }
  });
  if (rtoMs === null) {
    return {
      send: (_k, msg) => tx.send(msg, PORT, RECEIVER_IP),
      close: () => {
        tx.close();
        rx.close();
      },
    };
  }
  const acked = new Uint8Array(spec.messages);
  const copies: Uint8Array[] = new Array<Uint8Array>(spec.messages);
  // Deadlines grow in the order they are set (one fixed RTO), so a FIFO is a timer queue.
  const qSeq: number[] = [];
  const qAt: number[] = [];
  let qHead = 0;
  const timer = new Timer(clock.timers, () => {
    const now = clock.now();
    while (qHead < qSeq.length && qAt[qHead]! <= now) {
      const seq = qSeq[qHead]!;
      qHead++;
      if (acked[seq]) continue;
      tx.send(copies[seq]!, PORT, RECEIVER_IP);
      qSeq.push(seq);
      qAt.push(now + rtoMs);
    }
    if (qHead < qSeq.length) timer.armAt(qAt[qHead]!);
  });
  tx.on('message', (msg) => {
    if (msg.length !== 4) return;
    const seq = new DataView(msg.buffer, msg.byteOffset, 4).getUint32(0);
    if (seq < acked.length) acked[seq] = 1;
  });
  return {
    send(k, msg) {
      copies[k] = msg;
      tx.send(msg, PORT, RECEIVER_IP);
      qSeq.push(k);
      qAt.push(clock.now() + rtoMs);
      if (!timer.armed) timer.armAt(qAt[qHead]!);
    },
    close() {
      timer.cancel();
      tx.close();
      rx.close();
    },
  };
}

/** One virtual-time run of `spec`. */
export async function runVirtualHol(spec: HolRunSpec): Promise<HolRunResult> {
  if (spec.messageBytes < HOL_HEADER_BYTES) throw new RangeError(`hol: messageBytes must be at least ${HOL_HEADER_BYTES}, got ${spec.messageBytes}`);
  const baseRttMs = await measureBaseRtt(spec);
  const link = makeLink(spec, true);
  const { clock } = link;
  const arrivalsRef: { current: Arrivals | null } = { current: null };
  let transport: Transport;
  try {
    switch (spec.transport) {
      case 'tcp':
        transport = await tcpTransport(link, spec, 1, arrivalsRef);
        break;
      case 'tcp-n':
        transport = await tcpTransport(link, spec, Math.max(1, spec.connections), arrivalsRef);
        break;
      case 'udp':
        transport = udpTransport(link, spec, null, arrivalsRef);
        break;
      case 'udp-rtx':
        transport = udpTransport(link, spec, udpRtxTimeoutMs(baseRttMs, spec.jitterMs), arrivalsRef);
        break;
    }
    // Losses during the handshake are not the messages' business.
    const lostBefore = link.ports.reduce((s, p) => s + p.impairStats.lost, 0);
    const t0 = clock.now();
    const sentMs: number[] = [];
    for (let k = 0; k < spec.messages; k++) sentMs.push(sendTimeMs(spec, k));
    const arrivals = new Arrivals(clock, t0, sentMs);
    arrivalsRef.current = arrivals;
    // One timer sends every message due at its time (a burst at once), then re-arms for the next.
    let next = 0;
    const sendTimer = new Timer(clock.timers, () => {
      const now = clock.now() - t0;
      while (next < spec.messages && sentMs[next]! <= now) {
        transport.send(next, encodeMessage(spec.messageBytes, next, sentMs[next]!));
        next++;
      }
      if (next < spec.messages) sendTimer.armAt(t0 + sentMs[next]!);
    });
    sendTimer.armAt(t0);
    const end = t0 + (sentMs[spec.messages - 1] ?? 0) + DRAIN_MS;
    while (clock.now() < end && !(next === spec.messages && arrivals.delivered === spec.messages)) {
      clock.advanceTo(Math.min(end, clock.now() + STEP_MS));
    }
    sendTimer.cancel();
    if (arrivals.mismatches > 0) throw new Error(`hol ${spec.transport}: ${arrivals.mismatches} messages arrived with a send time that is not theirs`);
    const messages: HolMessage[] = sentMs.map((s, seq) => ({ seq, sentMs: s, receivedMs: arrivals.receivedMs[seq] ?? null }));
    const linkLosses = link.ports.reduce((s, p) => s + p.impairStats.lost, 0) - lostBefore;
    transport.close();
    return { spec, mode: 'virtual', messages, linkLosses, baseRttMs };
  } finally {
    link.close();
  }
}
