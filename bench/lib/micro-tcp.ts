/**
 * bench/micro's `tcp` group: the TCP hot paths issue 14 changed, each as one
 * synchronous operation on the virtual clock, so benny can time it like the
 * codec and table cases (one operation = one 64 KiB transfer, or one
 * connection's whole life):
 *
 *   - 64 KiB through a plain 1500-byte pipe: every segment built,
 *     checksummed, parsed and ACKed (the sender's ACK path, the receiver's
 *     copy and the socket's push);
 *   - the same with GRO on both interfaces (as a TAP host has it): one ACK
 *     per received batch, contiguous chunks joined into one push;
 *   - 64 KiB through an offload pipe: 64 KB super-frames, partial checksums;
 *   - a connection's whole life: open, 100 bytes each way, close, the
 *     TIME-WAIT record (the 4-tuple table and src/tcp/timewait.ts).
 *
 * Each case drives two stacks through the TCP layer's connection API (the
 * socket API defers its events to process.nextTick, which a synchronous
 * operation cannot wait for) and advances the virtual clock until the bytes
 * are in. The socket layer's own cost is in bench/tcp part (c).
 */
import { createPipe } from '../../src/link/pipe.js';
import { createStack, type Stack } from '../../src/stack.js';
import type { TcpConnection } from '../../src/tcp/connection.js';
import { VirtualClock } from '../../src/time/index.js';
import { parseIPv4 } from '../../src/wire/address.js';

type Cases = Record<string, () => void>;

const CHUNK = new Uint8Array(64 * 1024).map((_, i) => (i * 31 + 7) & 0xff);

interface Pair {
  clock: VirtualClock;
  a: Stack;
  b: Stack;
}

function pair(offload: boolean, gro: boolean, tag: string): Pair {
  const clock = new VirtualClock();
  const [pa, pb] = createPipe(clock, { offload });
  const a = createStack({ clock, name: `micro-a-${tag}` });
  const b = createStack({ clock, name: `micro-b-${tag}` });
  a.addInterface(pa, { addresses: ['10.245.0.1/24'], gro });
  b.addInterface(pb, { addresses: ['10.245.0.2/24'], gro });
  return { clock, a, b };
}

/** Advances the clock a millisecond at a time until `done()`; throws past `limitMs` (a stuck case must not spin forever). */
function runUntil(clock: VirtualClock, done: () => boolean, limitMs = 60_000): void {
  for (let t = 0; !done(); t++) {
    if (t > limitMs) throw new Error('bench/micro tcp: the transfer did not finish');
    clock.advance(1);
  }
}

const ignore = (): void => undefined;

/** One connection; each operation writes 64 KiB and waits until the server has taken it (and read it, reopening the window). */
function bulkCase(offload: boolean, gro: boolean, tag: string): () => void {
  const { clock, a, b } = pair(offload, gro, tag);
  let received = 0;
  b.tcpLayer.listen({ port: 7000 }, (c) => {
    c.handler = {
      data: (d) => {
        received += d.length;
        c.consumed(d.length);
      },
      peerFin: ignore,
      writable: ignore,
      closed: ignore,
    };
  });
  let open = false;
  const conn = a.tcpLayer.connect({ remoteAddress: parseIPv4('10.245.0.2'), remotePort: 7000 }, {
    established: () => (open = true),
    data: ignore,
    peerFin: ignore,
    writable: ignore,
    closed: ignore,
  });
  runUntil(clock, () => open);
  let sent = 0;
  return () => {
    let off = 0;
    for (;;) {
      off += conn.write(off === 0 ? CHUNK : CHUNK.subarray(off));
      if (off === CHUNK.length) break;
      clock.advance(1);
    }
    sent += CHUNK.length;
    runUntil(clock, () => received === sent);
  };
}

/** Each operation: connect, 100 bytes each way, both ends close; the client's end stays in TIME-WAIT. */
function lifeCase(): () => void {
  const { clock, a, b } = pair(true, false, 'life');
  const request = CHUNK.subarray(0, 100);
  b.tcpLayer.listen({ port: 7001, backlog: 1024 }, (c) => {
    c.handler = {
      data: (d) => {
        c.consumed(d.length);
        c.write(d);
        c.shutdown();
      },
      peerFin: () => c.close(),
      writable: ignore,
      closed: ignore,
    };
  });
  return () => {
    let closed = false;
    const conn: TcpConnection = a.tcpLayer.connect({ remoteAddress: parseIPv4('10.245.0.2'), remotePort: 7001 }, {
      established: () => void conn.write(request),
      data: (d) => conn.consumed(d.length),
      peerFin: () => conn.close(),
      writable: ignore,
      closed: () => (closed = true),
    });
    runUntil(clock, () => closed);
  };
}

export function tcpCases(): Cases {
  return {
    'tcp: 64 KiB through a 1500-byte pipe': bulkCase(false, false, 'plain'),
    'tcp: 64 KiB through a 1500-byte pipe, GRO on': bulkCase(false, true, 'gro'),
    'tcp: 64 KiB through an offload pipe': bulkCase(true, false, 'offload'),
    'tcp: connection life (open, 100 B each way, close)': lifeCase(),
  };
}

export const TCP_CASE_COUNT = 4;
