/**
 * TcpApi: the `net` module of one wirelab host — createServer, connect /
 * createConnection — plus an `http.Agent` whose connections run over
 * wirelab's TCP, so Node's own `http.request` / `http.get` work unchanged:
 *
 *   const res = await new Promise((r) => http.get({ host: '10.0.0.2', port: 80, agent: host.tcp.agent() }, r));
 *
 * Hand-written: Node's `net` and `http.Agent` always open kernel sockets;
 * the only seam Node offers is `createConnection`, which this fills.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { TcpServer, type TcpServerOptions } from './server.js';
import { TcpSocket, type SocketLayer, type TcpConnectOptions, type TcpLookupFunction, type TcpSocketOptions } from './socket.js';

export type TcpApiConnectOptions = TcpConnectOptions & TcpSocketOptions;

export interface TcpAgentOptions extends http.AgentOptions {}

export interface TcpApiOptions {
  /**
   * The host's resolver for names in `connect({ host })`, asked on every
   * connect (undefined: names fail with ENOTFOUND). The stack passes
   * `stack.dns.lookup` once DNS servers are set.
   */
  lookup?: () => TcpLookupFunction | undefined;
}

export class TcpApi {
  constructor(
    readonly layer: SocketLayer,
    private readonly apiOptions: TcpApiOptions = {},
  ) {}

  createServer(connectionListener?: (socket: TcpSocket) => void): TcpServer;
  createServer(options?: TcpServerOptions, connectionListener?: (socket: TcpSocket) => void): TcpServer;
  createServer(
    a?: TcpServerOptions | ((socket: TcpSocket) => void),
    b?: (socket: TcpSocket) => void,
  ): TcpServer {
    if (typeof a === 'function') return new TcpServer(this.layer, {}, a);
    return new TcpServer(this.layer, a ?? {}, b);
  }

  /** connect({ host, port, localAddress?, localPort?, timeout? }, cb?) or connect(port, host?, cb?). */
  connect(options: TcpApiConnectOptions, connectListener?: () => void): TcpSocket;
  connect(port: number | string, host?: string, connectListener?: () => void): TcpSocket;
  connect(port: number | string, connectListener?: () => void): TcpSocket;
  connect(
    a: TcpApiConnectOptions | number | string,
    b?: string | (() => void),
    c?: () => void,
  ): TcpSocket {
    const options: TcpApiConnectOptions =
      typeof a === 'object' && a !== null ? a : { port: a, ...(typeof b === 'string' ? { host: b } : {}) };
    const cb = typeof b === 'function' ? b : c;
    const socketOptions: TcpSocketOptions = {};
    if (options.allowHalfOpen !== undefined) socketOptions.allowHalfOpen = options.allowHalfOpen;
    if (options.highWaterMark !== undefined) socketOptions.highWaterMark = options.highWaterMark;
    if (options.readableHighWaterMark !== undefined) socketOptions.readableHighWaterMark = options.readableHighWaterMark;
    if (options.writableHighWaterMark !== undefined) socketOptions.writableHighWaterMark = options.writableHighWaterMark;
    const socket = new TcpSocket({ clock: this.layer.clock, layer: this.layer }, socketOptions);
    const lookup = options.lookup ?? this.apiOptions.lookup?.();
    return socket.connect(lookup !== undefined ? { ...options, lookup } : options, cb);
  }

  /** Same as `connect`, as Node's `net.createConnection`. */
  createConnection(options: TcpApiConnectOptions, connectListener?: () => void): TcpSocket;
  createConnection(port: number | string, host?: string, connectListener?: () => void): TcpSocket;
  createConnection(port: number | string, connectListener?: () => void): TcpSocket;
  createConnection(
    a: TcpApiConnectOptions | number | string,
    b?: string | (() => void),
    c?: () => void,
  ): TcpSocket {
    if (typeof a === 'object') return this.connect(a, typeof b === 'function' ? b : undefined);
    if (typeof b === 'function') return this.connect(a, b);
    return this.connect(a, b, c);
  }

  /**
   * An `http.Agent` that opens its connections on this stack (keepAlive,
   * maxSockets etc. as Node's Agent). Destroy it when done when keepAlive
   * is on, as with any Agent.
   */
  agent(options?: TcpAgentOptions): TcpAgent {
    return new TcpAgent(this, options);
  }
}

/** An `http.Agent` whose `createConnection` returns a wirelab TcpSocket. */
export class TcpAgent extends http.Agent {
  constructor(
    private readonly api: TcpApi,
    options?: TcpAgentOptions,
  ) {
    super(options);
  }

  override createConnection(options: http.ClientRequestArgs): Duplex {
    const o = options as http.ClientRequestArgs & { timeout?: number };
    const port = o.port ?? o.defaultPort ?? 80;
    return this.api.connect({
      host: o.host ?? o.hostname ?? 'localhost',
      port,
      ...(o.localAddress !== undefined ? { localAddress: o.localAddress } : {}),
      ...(typeof o.timeout === 'number' ? { timeout: o.timeout } : {}),
    });
  }
}
