/**
 * The UDP a VXLAN port rides on, kept behind a small interface so the same
 * port works over a real host socket (Node's `dgram`, a lab across machines)
 * and over a wirelab UDP socket (a wirelab underlay, or a test on the
 * virtual clock). Both are `dgram`-shaped, so one adapter serves both.
 *
 * Buffers: the port asks the underlay for a buffer, writes the whole
 * datagram (VXLAN header + frame) into it and sends it. Node's `dgram` may
 * send after `send()` returns (an address lookup, a full socket buffer), so
 * by default every datagram gets a fresh buffer (from Node's pool: cheap for
 * small sizes); a socket known to send synchronously (wirelab's) can reuse
 * one (`reuseBuffer`). Send errors are counted, never thrown or emitted
 * (an unhandled 'error' event would end the process).
 *
 * `bindHostUnderlay` makes the host-side socket: remotes are IPv4 literals,
 * so its `lookup` answers at once (Node's default defers every send by a
 * tick through dns.lookup), and it asks for 4 MiB socket buffers (the
 * kernel caps them at net.core.rmem_max / wmem_max) so a burst of
 * datagrams waits in the kernel while the event loop is busy.
 */
import { createSocket, type Socket } from 'node:dgram';
export interface VxlanUnderlay {
  /** A buffer of at least `len` bytes to write one datagram into, at offset 0. */
  buffer(len: number): Uint8Array;
  /** Sends `buf[0, len)` to address:port. Never throws: failures are counted in `stats`. */
  send(buf: Uint8Array, len: number, address: string, port: number): void;
  /** Set by the port: each datagram received. `buf` is borrowed for the call only. */
  onMessage: ((buf: Uint8Array, address: string, port: number) => void) | null;
  readonly stats: { sendErrors: number; socketErrors: number };
  /** Closes the socket. Idempotent. */
  close(): Promise<void>;
}

/** What both Node's `dgram.Socket` and wirelab's `UdpSocket` offer. */
export interface DgramLike {
  send(
    msg: Uint8Array,
    offset: number,
    length: number,
    port: number,
    address: string,
    callback: (error: Error | null, bytes: number) => void,
  ): void;
  on(event: 'message', listener: (msg: Uint8Array, rinfo: { address: string; port: number }) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  close(callback?: () => void): unknown;
}

export interface DgramUnderlayOptions {
  /** The socket sends before `send()` returns (wirelab's): one buffer is reused. Default false. */
  reuseBuffer?: boolean;
}

class DgramUnderlay implements VxlanUnderlay {
  onMessage: ((buf: Uint8Array, address: string, port: number) => void) | null = null;
  readonly stats = { sendErrors: 0, socketErrors: 0 };
  private scratch = new Uint8Array(2048);
  private closed = false;
  /** One callback for every send: no closure per datagram. */
  private readonly onSent = (error: Error | null): void => {
    if (error !== null) this.stats.sendErrors++;
  };

  constructor(
    private readonly socket: DgramLike,
    private readonly reuse: boolean,
  ) {
    socket.on('message', (msg, rinfo) => this.onMessage?.(msg, rinfo.address, rinfo.port));
    socket.on('error', () => this.stats.socketErrors++);
  }

  buffer(len: number): Uint8Array {
    if (!this.reuse) return Buffer.allocUnsafe(len);
    if (this.scratch.length < len) this.scratch = new Uint8Array(Math.max(len, this.scratch.length * 2));
    return this.scratch;
  }

  send(buf: Uint8Array, len: number, address: string, port: number): void {
    if (this.closed) {
      this.stats.sendErrors++;
      return;
    }
    try {
      this.socket.send(buf, 0, len, port, address, this.onSent);
    } catch {
      this.stats.sendErrors++;
    }
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.onMessage = null;
    // Not waiting for 'close': the socket stops receiving at once, and a
    // wirelab socket's 'close' comes on its clock, which may be virtual.
    try {
      this.socket.close();
    } catch {
      // already closed
    }
    return Promise.resolve();
  }
}

/** A VXLAN underlay on a bound `dgram`-shaped socket (Node's, or a wirelab host's). The underlay owns it. */
export function dgramUnderlay(socket: DgramLike, opts: DgramUnderlayOptions = {}): VxlanUnderlay {
  return new DgramUnderlay(socket, opts.reuseBuffer ?? false);
}

const HOST_SOCKET_BUFFER = 4 * 1024 * 1024;

/** An address is already an address: no resolver round trip per datagram. */
function literalLookup(hostname: string, _options: unknown, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  callback(null, hostname, 4);
}

/** A host UDP socket bound to `address:port`, as a VXLAN underlay. Rejects with the bind error (EADDRINUSE, EADDRNOTAVAIL…). */
export async function bindHostUnderlay(port: number, address = '0.0.0.0'): Promise<VxlanUnderlay> {
  const sock: Socket = createSocket({ type: 'udp4', lookup: literalLookup, recvBufferSize: HOST_SOCKET_BUFFER, sendBufferSize: HOST_SOCKET_BUFFER });
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(port, address, () => {
        sock.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    sock.close();
    throw e;
  }
  return dgramUnderlay(sock);
}
