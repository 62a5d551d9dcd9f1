/**
 * UdpSocket: a `dgram.Socket` for wirelab's own stack.
 *
 * Hand-written because Node's `dgram` is a thin wrapper over kernel sockets
 * and cannot sit on a user-space IP layer; the API (argument forms, events,
 * error codes and messages) copies Node 20's so code written for `dgram`
 * runs unchanged. The kernel side of the behaviour (address rebinding on
 * connect, pending ICMP errors, ephemeral ports) copies Linux's UDP.
 *
 * Differences from Node, all deliberate:
 * - bind happens synchronously (the port is taken when `bind` returns);
 *   'listening' and 'error' are still emitted asynchronously, through the
 *   injected clock, so virtual-time runs are deterministic.
 * - send on a connected socket with any port or address throws
 *   ERR_SOCKET_DGRAM_IS_CONNECTED (Node silently ignores `send(msg, port, addr)`
 *   there because of an argument-shuffling quirk).
 * - send(msg) on an unconnected socket throws ERR_SOCKET_BAD_PORT, exactly
 *   as Node 20 does (not ERR_SOCKET_DGRAM_NOT_CONNECTED, which Node only
 *   throws from remoteAddress() and disconnect()); an error of the send
 *   itself (EACCES, EMSGSIZE, …) goes to the callback, and is dropped when
 *   there is none, as in Node.
 * - addresses are IPv4 literals or 'localhost'; anything else fails as an
 *   unresolvable name (ENOTFOUND), since the stack has no resolver here.
 */
import { EventEmitter } from 'node:events';
import { Timer } from '../time/index.js';
import { type IPv4Address, formatIPv4, parseIPv4 } from '../wire/address.js';
import { describeValue, nodeError, notFound, systemError as socketSystemError, validatePort, type SocketError } from '../ip/socket-errors.js';
import type { UdpLayer } from './udp.js';

export interface RemoteInfo {
  address: string;
  family: 'IPv4';
  port: number;
  size: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4';
  port: number;
}

export type UdpError = SocketError;

export interface UdpSocketEvents {
  listening: [];
  message: [msg: Buffer, rinfo: RemoteInfo];
  error: [err: UdpError];
  close: [];
  connect: [];
}

export interface UdpSocketOptions {
  type?: 'udp4';
  /** SO_REUSEADDR: share a port with other sockets that set it too. */
  reuseAddr?: boolean;
  /** Datagrams that may wait undelivered before new ones are dropped (counted). Default 256. */
  recvBufferFrames?: number;
}

export interface BindOptions {
  port?: number;
  address?: string;
  exclusive?: boolean;
}

export type SendMessage = string | ArrayBufferView | ReadonlyArray<string | ArrayBufferView>;
export type ConnectCallback = (error?: UdpError) => void;
export type SendCallback = (error: UdpError | null, bytes: number) => void;

/** A system error shaped like Node's `exceptionWithHostPort`: `send EACCES 255.255.255.255:9` (port 0 is left out, as dgram does). */
export function systemError(code: string, syscall: string, address?: string, port?: number): UdpError {
  return socketSystemError(code, syscall, address, port !== undefined && port > 0 ? port : undefined);
}

function invalidArgType(name: string, value: unknown): UdpError {
  return nodeError(
    'ERR_INVALID_ARG_TYPE',
    `The "${name}" argument must be of type string or an instance of Buffer, TypedArray, or DataView. ` +
      `Received ${describeValue(value)}`,
    TypeError,
  );
}

function asBytes(part: unknown, name: string): Uint8Array {
  if (typeof part === 'string') return Buffer.from(part, 'utf8');
  if (ArrayBuffer.isView(part)) return new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
  throw invalidArgType(name, part);
}

/** Node's sliceBuffer for send(msg, offset, length, …). */
function sliceMessage(msg: unknown, offset: unknown, length: unknown): Uint8Array {
  const bytes = asBytes(msg, 'buffer');
  const off = Number(offset) >>> 0;
  const len = Number(length) >>> 0;
  if (off > bytes.length) {
    throw nodeError('ERR_BUFFER_OUT_OF_BOUNDS', '"offset" is outside of buffer bounds', RangeError);
  }
  if (off + len > bytes.length) {
    throw nodeError('ERR_BUFFER_OUT_OF_BOUNDS', '"length" is outside of buffer bounds', RangeError);
  }
  return bytes.subarray(off, off + len);
}

/** One contiguous payload from a message or a list of them (Node accepts both). */
function messageBytes(msg: unknown): Uint8Array {
  if (!Array.isArray(msg)) return asBytes(msg, 'buffer');
  const parts = msg.map((p: unknown) => asBytes(p, 'buffer list arguments'));
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** An IPv4 literal or 'localhost'; '' / undefined give `fallback`. Undefined when it cannot be resolved. */
function resolveIPv4(text: string | undefined, fallback: IPv4Address): IPv4Address | undefined {
  if (text === undefined || text === '') return fallback;
  if (text === 'localhost') return 0x7f000001;
  try {
    return parseIPv4(text);
  } catch {
    return undefined;
  }
}


const notRunning = (): UdpError => nodeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
const isConnected = (): UdpError => nodeError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
const notConnected = (): UdpError => nodeError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');

/**
 * @internal The socket's place in the port table, read and written by its
 * UdpLayer. Addresses are numbers, 0 meaning "any"; Linux field names in
 * brackets.
 */
export interface UdpBinding {
  /** Address datagrams must be sent to [inet_rcv_saddr]. */
  rcvAddr: IPv4Address;
  /** Source address of datagrams sent; 0 = chosen by route [inet_saddr]. */
  srcAddr: IPv4Address;
  /** Local port, 0 when not in the port table. */
  port: number;
  /** Peer of a connected socket [inet_daddr], 0 otherwise. */
  remoteAddr: IPv4Address;
  /** Peer port of a connected socket [inet_dport], 0 otherwise. */
  remotePort: number;
  readonly reuseAddr: boolean;
  /** The address was given to bind [SOCK_BINDADDR_LOCK]; disconnect keeps it. */
  addrLocked: boolean;
  /** The port was given to bind [SOCK_BINDPORT_LOCK]; disconnect otherwise releases it. */
  portLocked: boolean;
}

type BindState = 'unbound' | 'bound';
type ConnectState = 'disconnected' | 'connected';

export class UdpSocket extends EventEmitter<UdpSocketEvents> {
  readonly type = 'udp4';
  readonly recvBufferFrames: number;
  /** drops: datagrams refused because `recvBufferFrames` were waiting (Linux RcvbufErrors). */
  readonly stats = { received: 0, sent: 0, drops: 0 };
  /** @internal */
  readonly binding: UdpBinding;
  /** @internal Datagrams and payload bytes waiting for delivery (ss Recv-Q). */
  recvQueueFrames = 0;
  /** @internal */
  recvQueueBytes = 0;

  private bindState: BindState = 'unbound';
  private connectState: ConnectState = 'disconnected';
  private closed = false;
  private broadcast = false;
  private ttl: number | undefined;
  /** A hard ICMP error not yet reported [sk_err]. */
  private pendingError: { code: string } | undefined;
  private readonly deferred: Array<(() => void) | undefined> = [];
  private deferredHead = 0;
  private readonly deferredTimer: Timer;

  /** @internal Use `UdpLayer.createSocket`. */
  constructor(
    private readonly layer: UdpLayer,
    opts: UdpSocketOptions = {},
  ) {
    super();
    const frames = opts.recvBufferFrames ?? 256;
    if (!Number.isInteger(frames) || frames < 1) {
      throw new RangeError(`recvBufferFrames must be a positive integer, got ${frames}`);
    }
    this.recvBufferFrames = frames;
    this.binding = {
      rcvAddr: 0,
      srcAddr: 0,
      port: 0,
      remoteAddr: 0,
      remotePort: 0,
      reuseAddr: opts.reuseAddr === true,
      addrLocked: false,
      portLocked: false,
    };
    this.deferredTimer = new Timer(layer.clock.timers, () => this.runDeferred());
  }

  // ---- bind / connect ----

  bind(port?: number, address?: string, callback?: () => void): this;
  bind(port?: number, callback?: () => void): this;
  bind(callback?: () => void): this;
  bind(options: BindOptions, callback?: () => void): this;
  bind(a?: number | BindOptions | (() => void), b?: string | (() => void), c?: () => void): this {
    this.healthCheck();
    if (this.bindState !== 'unbound') throw nodeError('ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
    let port: unknown;
    let address: string | undefined;
    if (a !== null && typeof a === 'object') {
      port = a.port;
      address = a.address;
    } else {
      port = typeof a === 'function' ? undefined : a;
      address = typeof b === 'string' ? b : undefined;
    }
    const portNumber = port === undefined || port === null ? 0 : validatePort(port, 'Port', true);
    const cb = typeof c === 'function' ? c : typeof b === 'function' ? b : typeof a === 'function' ? a : undefined;
    if (cb !== undefined) {
      // As Node: the callback is a one-shot 'listening' listener, dropped if 'error' comes first.
      const onListening = (): void => {
        this.removeListener('error', removeListeners);
        cb.call(this);
      };
      const removeListeners = (): void => {
        this.removeListener('error', removeListeners);
        this.removeListener('listening', onListening);
      };
      this.on('error', removeListeners);
      this.on('listening', onListening);
    }
    const addressText = address === undefined || address === '' ? '0.0.0.0' : address;
    const addr = resolveIPv4(addressText, 0);
    if (addr === undefined) {
      this.defer(() => this.emit('error', notFound(addressText)));
      return this;
    }
    const failure = this.layer.bindSocket(this, addr, portNumber);
    if (failure !== undefined) {
      const err = systemError(failure, 'bind', formatIPv4(addr), portNumber);
      this.defer(() => this.emit('error', err));
      return this;
    }
    this.binding.addrLocked = addr !== 0;
    this.binding.portLocked = portNumber !== 0;
    this.startListening();
    return this;
  }

  /** The callback gets the error when connecting fails (no 'error' event then), as in Node. */
  connect(port: number, address?: string, callback?: ConnectCallback): void;
  connect(port: number, callback: ConnectCallback): void;
  connect(port: number, b?: string | ConnectCallback, c?: ConnectCallback): void {
    const remotePort = validatePort(port, 'Port', false);
    let address: unknown = b;
    let callback = c;
    if (typeof b === 'function') {
      callback = b;
      address = '';
    } else if (b === undefined) {
      address = '';
    }
    if (typeof address !== 'string') {
      throw nodeError(
        'ERR_INVALID_ARG_TYPE',
        `The "address" argument must be of type string. Received ${describeValue(address)}`,
        TypeError,
      );
    }
    this.healthCheck();
    if (this.connectState !== 'disconnected') throw isConnected();
    const fail = (err: UdpError): void => {
      this.defer(() => {
        if (callback !== undefined) callback.call(this, err);
        else this.emit('error', err);
      });
    };
    const autobindError = this.ensureBound();
    if (autobindError !== undefined) return fail(autobindError);
    const dst = resolveIPv4(address, 0x7f000001);
    if (dst === undefined) return fail(notFound(address));
    const code = this.layer.connectSocket(this, dst, remotePort, this.broadcast);
    if (code !== undefined) return fail(systemError(code, 'connect', address, remotePort));
    this.connectState = 'connected';
    if (callback !== undefined) this.once('connect', callback);
    this.defer(() => this.emit('connect'));
  }

  disconnect(): void {
    this.healthCheck();
    if (this.connectState !== 'connected') throw notConnected();
    this.layer.disconnectSocket(this);
    this.pendingError = undefined;
    this.connectState = 'disconnected';
  }

  // ---- send ----

  /** Connected socket: send(msg, cb?) or send(msg, offset, length, cb?). */
  send(msg: SendMessage, callback?: SendCallback): void;
  send(msg: SendMessage, offset: number, length: number, callback?: SendCallback): void;
  /** Unconnected socket: send(msg, port, address?, cb?) or send(msg, offset, length, port, address?, cb?). */
  send(msg: SendMessage, port: number, address?: string, callback?: SendCallback): void;
  send(msg: SendMessage, port: number, callback?: SendCallback): void;
  send(msg: SendMessage, offset: number, length: number, port: number, address?: string, callback?: SendCallback): void;
  send(msg: SendMessage, a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown): void {
    const connected = this.connectState === 'connected';
    let bytes: Uint8Array;
    let port: unknown;
    let address: unknown;
    let callback: unknown;
    if (!connected) {
      if (d || (c && typeof c !== 'function')) {
        bytes = sliceMessage(msg, a, b);
        port = c;
        address = d;
        callback = e;
      } else {
        bytes = messageBytes(msg);
        port = a;
        address = b;
        callback = c;
      }
      port = validatePort(port, 'Port', false);
      if (typeof address === 'function') {
        callback = address;
        address = undefined;
      } else if (address !== undefined && address !== null && typeof address !== 'string') {
        throw nodeError(
          'ERR_INVALID_ARG_TYPE',
          `The "address" argument must be of type string. Received ${describeValue(address)}`,
          TypeError,
        );
      }
    } else if (typeof b === 'number') {
      bytes = sliceMessage(msg, a, b);
      const rest = [c, d, e];
      callback = rest.find((x) => typeof x === 'function');
      if (rest.some((x) => x !== undefined && x !== null && typeof x !== 'function')) throw isConnected();
    } else {
      bytes = messageBytes(msg);
      if (typeof a === 'function') callback = a;
      else if ((a !== undefined && a !== null) || (b !== undefined && b !== null)) throw isConnected();
    }
    const cb = typeof callback === 'function' ? (callback as SendCallback) : undefined;
    this.healthCheck();

    const fail = (err: UdpError, emitWithoutCallback: boolean): void => {
      this.layer.stats.sendErrors++;
      if (cb !== undefined) this.defer(() => cb.call(this, err, 0));
      else if (emitWithoutCallback) this.defer(() => this.emit('error', err));
      // Node drops errors of the send itself when there is no callback.
    };
    const autobindError = this.ensureBound();
    if (autobindError !== undefined) return fail(autobindError, true);

    let dst: IPv4Address;
    let dstPort: number;
    const addressText = typeof address === 'string' ? address : undefined;
    if (connected) {
      dst = this.binding.remoteAddr;
      dstPort = this.binding.remotePort;
    } else {
      const resolved = resolveIPv4(addressText, 0x7f000001);
      if (resolved === undefined) return fail(notFound(addressText ?? ''), true);
      dst = resolved;
      dstPort = port as number;
    }
    const errAddress = connected ? undefined : addressText;
    const errPort = connected ? undefined : dstPort;
    if (this.pendingError !== undefined) {
      // Linux reports a pending ICMP error on the next send and clears it.
      const code = this.pendingError.code;
      this.pendingError = undefined;
      return fail(systemError(code, 'send', errAddress, errPort), false);
    }
    const code = this.layer.transmit(this, bytes, dst, dstPort, this.broadcast, this.ttl);
    if (code !== undefined) return fail(systemError(code, 'send', errAddress, errPort), false);
    this.stats.sent++;
    const sent = bytes.length;
    if (cb !== undefined) this.defer(() => cb.call(this, null, sent));
  }

  // ---- options and addresses ----

  setBroadcast(flag: boolean): void {
    this.optionCheck('setBroadcast');
    this.broadcast = flag;
  }

  /** IP_TTL for datagrams sent (1..255); returns it, as Node does. */
  setTTL(ttl: number): number {
    if (typeof ttl !== 'number') {
      throw nodeError('ERR_INVALID_ARG_TYPE', `The "ttl" argument must be of type number. Received ${describeValue(ttl)}`, TypeError);
    }
    this.optionCheck('setTTL');
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw systemError('EINVAL', 'setTTL');
    this.ttl = ttl;
    return ttl;
  }

  address(): AddressInfo {
    this.healthCheck();
    if (this.bindState === 'unbound') throw systemError('EBADF', 'getsockname');
    const b = this.binding;
    return { address: formatIPv4(b.rcvAddr || b.srcAddr), family: 'IPv4', port: b.port };
  }

  remoteAddress(): AddressInfo {
    this.healthCheck();
    if (this.connectState !== 'connected') throw notConnected();
    return { address: formatIPv4(this.binding.remoteAddr), family: 'IPv4', port: this.binding.remotePort };
  }

  close(callback?: () => void): this {
    if (typeof callback === 'function') this.on('close', callback);
    this.healthCheck();
    this.closed = true;
    this.layer.unbindSocket(this);
    this.pendingError = undefined;
    this.recvQueueFrames = 0;
    this.recvQueueBytes = 0;
    this.defer(() => this.emit('close'));
    return this;
  }

  /** Node's ref/unref: wirelab sockets never hold the process open, so these only return the socket. */
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  // ---- called by UdpLayer ----

  /**
   * @internal Queues a received datagram for 'message' (copying the borrowed
   * payload). False when `recvBufferFrames` are already waiting: dropped.
   */
  enqueue(payload: Uint8Array, src: IPv4Address, srcPort: number): boolean {
    if (this.recvQueueFrames >= this.recvBufferFrames) {
      this.stats.drops++;
      return false;
    }
    const msg = Buffer.from(payload);
    const rinfo: RemoteInfo = { address: formatIPv4(src), family: 'IPv4', port: srcPort, size: msg.length };
    this.recvQueueFrames++;
    this.recvQueueBytes += msg.length;
    this.defer(() => {
      if (this.closed) return;
      this.recvQueueFrames--;
      this.recvQueueBytes -= msg.length;
      this.stats.received++;
      this.emit('message', msg, rinfo);
    });
    return true;
  }

  /**
   * @internal A hard ICMP error for this connected socket [sk_err]: reported
   * by the next send, or else as an 'error' event (`recvmsg ECONNREFUSED`),
   * the way libuv's read of the erroring socket surfaces it in Node.
   */
  reportIcmpError(code: string): void {
    const pending = { code };
    this.pendingError = pending;
    this.defer(() => {
      if (this.closed || this.pendingError !== pending) return;
      this.pendingError = undefined;
      this.emit('error', systemError(code, 'recvmsg'));
    });
  }

  /** @internal */
  get connected(): boolean {
    return this.connectState === 'connected';
  }

  // ---- internals ----

  private healthCheck(): void {
    if (this.closed) throw notRunning();
  }

  /** Node throws EBADF for socket options before bind (the fd does not exist yet). */
  private optionCheck(syscall: string): void {
    this.healthCheck();
    if (this.bindState === 'unbound') throw systemError('EBADF', syscall);
  }

  private startListening(): void {
    this.bindState = 'bound';
    this.defer(() => {
      if (!this.closed) this.emit('listening');
    });
  }

  /**
   * Binds an unbound socket to an ephemeral port (Node's implicit
   * bind, with 'listening'), or gives a bound socket that lost its
   * port on disconnect a new one silently (Linux autobind).
   */
  private ensureBound(): UdpError | undefined {
    if (this.bindState === 'unbound') {
      const failure = this.layer.bindSocket(this, 0, 0);
      // Reported once, by the caller: to its callback, or else as 'error'.
      if (failure !== undefined) return systemError(failure, 'bind', '0.0.0.0');
      this.startListening();
    } else if (this.binding.port === 0) {
      const failure = this.layer.bindSocket(this, this.binding.rcvAddr, 0);
      if (failure !== undefined) return systemError('EAGAIN', 'send');
    }
    return undefined;
  }

  private defer(fn: () => void): void {
    this.deferred.push(fn);
    if (!this.deferredTimer.armed) this.deferredTimer.arm(0);
  }

  /** Runs what was deferred before this run began, in order; later work runs in the next one. */
  private runDeferred(): void {
    const end = this.deferred.length;
    try {
      while (this.deferredHead < end) {
        const fn = this.deferred[this.deferredHead]!;
        this.deferred[this.deferredHead++] = undefined;
        fn();
      }
    } finally {
      if (this.deferredHead >= this.deferred.length) {
        this.deferred.length = 0;
        this.deferredHead = 0;
      } else {
        if (this.deferredHead > 1024 && this.deferredHead * 2 > this.deferred.length) {
          this.deferred.splice(0, this.deferredHead);
          this.deferredHead = 0;
        }
        if (!this.deferredTimer.armed) this.deferredTimer.arm(0);
      }
    }
  }
}
