/**
 * Proxy-mode UDP port publishing: a real Node `dgram` socket on the host
 * receives datagrams; each client (address, port) is a flow with its own
 * wirelab UDP socket on the gateway host, so the container's replies find
 * their way back to the right client — what docker-proxy does for UDP.
 *
 * Flows expire as conntrack's UDP entries do, on the gateway's Clock: 30 s
 * after the last datagram while the container has never answered
 * (nf_conntrack_udp_timeout), 120 s once it has
 * (nf_conntrack_udp_timeout_stream); every datagram either way re-arms the
 * timer. The flow table is bounded: a datagram that would open a flow past
 * `maxFlows` is dropped and counted (as nf_conntrack_max refuses a new
 * entry). Flows are keyed by the client's address and port packed into
 * one number (address × 65536 + port), never a string.
 *
 * Datagrams are not queued in the proxy: UDP has no backpressure, and a
 * datagram a full socket buffer cannot take is dropped, as by the kernel.
 */
import dgram from 'node:dgram';
import { Timer, type Clock, type TableUsage } from '../time/index.js';
import type { UdpLayer, UdpSocket } from '../udp/index.js';
import { parseIPv4 } from '../wire/address.js';
import type { PortMapping } from './portspec.js';
import { listenError } from './proxy-errors.js';

/** What the UDP proxy needs of the gateway host (a wirelab `Stack` has it). */
export interface UdpProxyGateway {
  readonly name: string;
  readonly clock: Clock;
  readonly udp: UdpLayer;
}

export interface UdpProxyOptions {
  /** Idle lifetime of a flow the container never answered. Default 30 s (nf_conntrack_udp_timeout). */
  unrepliedTimeoutMs?: number;
  /** Idle lifetime of a flow the container answered. Default 120 s (nf_conntrack_udp_timeout_stream). */
  repliedTimeoutMs?: number;
  /** Most concurrent flows; past it new flows are refused and counted. Default 4096. */
  maxFlows?: number;
}

export interface UdpProxyStats {
  /** Flows opened since the start. */
  flows: number;
  /** Flows open now. */
  active: number;
  /** Flows that timed out. */
  expired: number;
  /** Datagrams dropped because `maxFlows` flows were open. */
  refused: number;
  datagramsToContainer: number;
  datagramsToHost: number;
  bytesToContainer: number;
  bytesToHost: number;
}

/** One client flow: its wirelab socket and its conntrack-like expiry. */
class UdpFlow {
  replied = false;
  readonly timer: Timer;

  constructor(
    readonly key: number,
    readonly clientAddress: string,
    readonly clientPort: number,
    readonly socket: UdpSocket,
    clock: Clock,
    onExpire: (flow: UdpFlow) => void,
  ) {
    this.timer = new Timer(clock.timers, () => onExpire(this));
  }
}

export class UdpPortProxy {
  readonly stats: UdpProxyStats = {
    flows: 0, active: 0, expired: 0, refused: 0,
    datagramsToContainer: 0, datagramsToHost: 0, bytesToContainer: 0, bytesToHost: 0,
  };
  private readonly host: dgram.Socket;
  private readonly flows = new Map<number, UdpFlow>();
  private readonly unrepliedMs: number;
  private readonly repliedMs: number;
  private readonly maxFlows: number;
  private boundPort = 0;
  private closed = false;

  constructor(
    private readonly gateway: UdpProxyGateway,
    readonly mapping: PortMapping,
    readonly containerAddress: string,
    opts: UdpProxyOptions = {},
  ) {
    this.unrepliedMs = opts.unrepliedTimeoutMs ?? 30_000;
    this.repliedMs = opts.repliedTimeoutMs ?? 120_000;
    this.maxFlows = opts.maxFlows ?? 4096;
    for (const [k, v] of [['unrepliedTimeoutMs', this.unrepliedMs], ['repliedTimeoutMs', this.repliedMs], ['maxFlows', this.maxFlows]] as const) {
      if (!Number.isFinite(v) || v < 1) throw new RangeError(`UDP proxy option ${k} must be a positive number, got ${v}`);
    }
    parseIPv4(containerAddress); // throws a clear error for a bad address
    this.host = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    this.host.on('message', (msg, rinfo) => this.fromClient(msg, rinfo.address, rinfo.port));
  }

  /** Binds the host port; resolves with the port (the chosen one when the mapping's is 0). */
  listen(): Promise<number> {
    const { hostIp, hostPort } = this.mapping;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => reject(listenError(err, this.mapping));
      this.host.once('error', onError);
      this.host.bind({ address: hostIp, port: hostPort, exclusive: true }, () => {
        this.host.off('error', onError);
        // Later errors (ICMP-reported send failures) are per datagram: never fatal.
        this.host.on('error', () => undefined);
        this.boundPort = this.host.address().port;
        resolve(this.boundPort);
      });
    });
  }

  get hostPort(): number {
    return this.boundPort;
  }

  /** Open flows against maxFlows; each ends on its idle timeout (nf_conntrack_udp_timeout). */
  usage(): TableUsage {
    return { table: 'portmap.udpFlows', size: this.flows.size, limit: this.maxFlows, unit: 'entries', refused: this.stats.refused, evicted: 0, like: 'nf_conntrack_max' };
  }

  /** Open flows as `conntrack -L`-like rows. */
  flowTable(): Array<{ client: string; replied: boolean; expiresInMs: number; localPort: number }> {
    const now = this.gateway.clock.now();
    return [...this.flows.values()].map((f) => ({
      client: `${f.clientAddress}:${f.clientPort}`,
      replied: f.replied,
      expiresInMs: Math.max(0, f.timer.deadline - now),
      localPort: f.socket.address().port,
    }));
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const f of [...this.flows.values()]) this.endFlow(f);
    return new Promise((resolve) => {
      try {
        this.host.close(() => resolve());
      } catch {
        resolve(); // never bound
      }
    });
  }

  private fromClient(msg: Buffer, address: string, port: number): void {
    if (this.closed) return;
    const key = parseIPv4(address) * 65536 + port;
    let flow = this.flows.get(key);
    if (flow === undefined) {
      if (this.flows.size >= this.maxFlows) {
        this.stats.refused++;
        return;
      }
      flow = this.openFlow(key, address, port);
    }
    flow.timer.arm(flow.replied ? this.repliedMs : this.unrepliedMs);
    this.stats.datagramsToContainer++;
    this.stats.bytesToContainer += msg.length;
    flow.socket.send(msg, this.mapping.containerPort, this.containerAddress);
  }

  private openFlow(key: number, address: string, port: number): UdpFlow {
    const socket = this.gateway.udp.createSocket('udp4');
    const flow = new UdpFlow(key, address, port, socket, this.gateway.clock, (f) => {
      this.stats.expired++;
      this.endFlow(f);
    });
    const containerPort = this.mapping.containerPort;
    const containerAddress = this.containerAddress;
    socket.on('message', (reply, rinfo) => {
      // Only the container's port answers this flow (as a connected socket would filter).
      if (rinfo.port !== containerPort || rinfo.address !== containerAddress || this.closed) return;
      flow.replied = true;
      flow.timer.arm(this.repliedMs);
      this.stats.datagramsToHost++;
      this.stats.bytesToHost += reply.length;
      this.host.send(reply, flow.clientPort, flow.clientAddress);
    });
    // ICMP port unreachable from the container and the like: the flow lives on, as in conntrack.
    socket.on('error', () => undefined);
    socket.bind(0);
    this.flows.set(key, flow);
    this.stats.flows++;
    this.stats.active++;
    return flow;
  }

  private endFlow(flow: UdpFlow): void {
    if (this.flows.get(flow.key) !== flow) return;
    this.flows.delete(flow.key);
    flow.timer.cancel();
    this.stats.active--;
    flow.socket.close();
  }
}
