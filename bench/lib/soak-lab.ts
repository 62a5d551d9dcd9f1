/**
 * bench/soak's lab: wirelab hosts in memory on one VirtualClock — no TAP,
 * no namespace, no root; time moves only when the soak advances it, so ten
 * minutes of load and a quarter of an hour of idle take a minute or two of
 * wall time and repeat exactly for a seed.
 *
 *   switch lan, 10.77.0.0/16 (a wirelab Bridge)
 *     router   10.77.0.1   the gateway: DNS :53 (knows `outside`), masquerade out of its uplink
 *     server   10.77.0.2   TCP transfers :5001 (backlog SYN_BACKLOG), UDP echo :7
 *     client   10.77.0.3   its cable is the impaired link: loss 1 %, delay 5 ms, each way
 *     hostile  a switch port a ReplayPort plays a pcapng of hostile frames into (soak-hostile.ts)
 *     churn    a switch port the ARP churn sends from (soak-load.ts)
 *   uplink, 198.51.100.0/24 (a pipe)
 *     router   198.51.100.1
 *     outside  198.51.100.2 TCP :80 (answers with the address it sees), UDP echo :7
 *
 * The client↔server path crosses the impaired link, so TCP's loss recovery
 * runs all the time; so do the client's NAT flows and the UDP exchanges.
 *
 * Table limits are lowered from the defaults (SOAK_LIMITS, printed by the
 * bench) so that the hostile replay fills every bounded table within a few
 * seconds, the same in the smoke test's tiny run and in the ten-minute one;
 * every timeout (TIME-WAIT, conntrack, FDB aging, neighbour GC, reassembly,
 * DNS TTL) is left at its default, so the idle phase shows each of them at
 * work. Linux would refuse or evict in the same places with its own limits.
 */
import { DnsServer } from '../../src/dns/server.js';
import { impair, type ImpairedPort } from '../../src/link/impair.js';
import { createPipe, type PipePort } from '../../src/link/pipe.js';
import { REASSEMBLY_MAX_BYTES } from '../../src/ip/reassembly.js';
import { createStack, type Stack } from '../../src/stack.js';
import { Bridge } from '../../src/switch/bridge.js';
import { DEFAULT_MAX_FDB_ENTRIES } from '../../src/switch/fdb.js';
import { VirtualClock, type TableUsage } from '../../src/time/index.js';
import { parseIPv4, parseMac, type IPv4Address, type Mac } from '../../src/wire/address.js';

export const LAN_CIDR = '10.77.0.0/16';
export const ROUTER_IP = '10.77.0.1';
export const SERVER_IP = '10.77.0.2';
export const CLIENT_IP = '10.77.0.3';
export const UPLINK_IP = '198.51.100.1';
export const OUTSIDE_IP = '198.51.100.2';
export const ROUTER_MAC = '02:5a:00:00:00:01';
export const SERVER_MAC = '02:5a:00:00:00:02';
export const CLIENT_MAC = '02:5a:00:00:00:03';

/** The server's transfer port, the UDP echo port (server and outside), the outside's TCP port. */
export const TRANSFER_PORT = 5001;
export const ECHO_PORT = 7;
export const OUTSIDE_TCP_PORT = 80;
/** TTL of the router's DNS answers, s: the client's cache asks again every minute. */
export const DNS_TTL_S = 60;

/** The client's cable, each way (netem-like, seeded). */
export const IMPAIRMENT = { loss: 0.01, delayMs: 5 };

/** The limits the soak runs with, lowered from wirelab's (and Linux's) defaults so a short run fills them. */
export const SOAK_LIMITS = {
  /** Every stack's neighbour table (gc_thresh3). */
  neighbours: 256,
  /** The switch's learned FDB entries (fdb_max_learned). */
  fdb: 512,
  /** Every stack's reassembly budget (ipfrag_high_thresh), bytes. */
  reassemblyBytes: 128 * 1024,
  /** The server's listen backlog on the transfer port (its SYN queue). */
  synBacklog: 64,
  /** The router's conntrack table (nf_conntrack_max). */
  conntrack: 512,
} as const;

/** The defaults SOAK_LIMITS lowers, for the output. */
export const DEFAULT_LIMITS: Record<keyof typeof SOAK_LIMITS, number> = {
  neighbours: 1024,
  fdb: DEFAULT_MAX_FDB_ENTRIES,
  reassemblyBytes: REASSEMBLY_MAX_BYTES,
  synBacklog: 511,
  conntrack: 65536,
};

/** Where a sampled table lives: a stack's name or the switch's. */
export interface TableSource {
  name: string;
  tables(): TableUsage[];
}

export interface SoakLab {
  clock: VirtualClock;
  bridge: Bridge;
  router: Stack;
  server: Stack;
  client: Stack;
  outside: Stack;
  dns: DnsServer;
  /** The switch port the hostile replay is received as (its other end has no receiver). */
  hostilePortName: string;
  /** Our end of the ARP churn's cable (the switch holds the other end). */
  churn: PipePort;
  /** Both ends of the client's cable. */
  impaired: ImpairedPort[];
  /** Every stack and the switch, in a fixed order: what the sampler reads. */
  sources: TableSource[];
  close(): Promise<void>;
}

export const ip = (s: string): IPv4Address => parseIPv4(s);
export const mac = (s: string): Mac => parseMac(s);

/** Builds the lab and starts the DNS server; nothing else runs yet. The router's NAT log (table full, …) goes to `log`. */
export async function buildLab(seed: number, log: (line: string) => void = () => undefined): Promise<SoakLab> {
  const clock = new VirtualClock();
  const bridge = new Bridge({ clock, name: 'lan', maxFdbEntries: SOAK_LIMITS.fdb });
  const common = {
    clock,
    neighbours: { maxEntries: SOAK_LIMITS.neighbours },
    reassembly: { maxBytes: SOAK_LIMITS.reassemblyBytes },
  };
  const router = createStack({ ...common, name: 'router', forwarding: true, seed: seed * 8 + 1, nat: { conntrack: { maxEntries: SOAK_LIMITS.conntrack }, log } });
  const server = createStack({ ...common, name: 'server', seed: seed * 8 + 2 });
  const client = createStack({ ...common, name: 'client', seed: seed * 8 + 3 });
  const outside = createStack({ ...common, name: 'outside', seed: seed * 8 + 4 });
  const ports: PipePort[] = [];
  const impaired: ImpairedPort[] = [];

  /** A cable from `stack` into the switch; the switch's end is named `name`. */
  const plug = (stack: Stack, name: string, cidr: string, macText: string, lossy = false): void => {
    const [hostEnd, switchEnd] = createPipe(clock, { names: [`${name}-eth0`, name] });
    ports.push(hostEnd, switchEnd);
    let toHost = switchEnd as PipePort | ImpairedPort;
    let toSwitch = hostEnd as PipePort | ImpairedPort;
    if (lossy) {
      toHost = impair(switchEnd, clock, { ...IMPAIRMENT, seed: seed * 16 + 1 });
      toSwitch = impair(hostEnd, clock, { ...IMPAIRMENT, seed: seed * 16 + 2 });
      impaired.push(toHost, toSwitch);
    }
    bridge.addPort(toHost);
    stack.addInterface(toSwitch, { name: 'eth0', addresses: [cidr], mac: macText });
  };
  plug(router, 'router', `${ROUTER_IP}/16`, ROUTER_MAC);
  plug(server, 'server', `${SERVER_IP}/16`, SERVER_MAC);
  plug(client, 'client', `${CLIENT_IP}/16`, CLIENT_MAC, true);
  const [hostileEnd, hostileSwitchEnd] = createPipe(clock, { names: ['hostile-eth0', 'hostile'] });
  const [churn, churnSwitchEnd] = createPipe(clock, { names: ['churn-eth0', 'churn'] });
  ports.push(hostileEnd, hostileSwitchEnd, churn, churnSwitchEnd);
  bridge.addPort(hostileSwitchEnd);
  bridge.addPort(churnSwitchEnd);

  const [upRouter, upOutside] = createPipe(clock, { names: ['router-uplink', 'outside-eth0'] });
  ports.push(upRouter, upOutside);
  router.addInterface(upRouter, { name: 'uplink', addresses: [`${UPLINK_IP}/24`] });
  outside.addInterface(upOutside, { name: 'eth0', addresses: [`${OUTSIDE_IP}/24`] });
  router.nat.masquerade('uplink');
  for (const s of [server, client]) s.addRoute('default', { via: ROUTER_IP });

  const dns = new DnsServer(router, { address: ROUTER_IP, ttl: DNS_TTL_S });
  dns.addHost('outside', OUTSIDE_IP);
  // The sockets' 'listening' is delivered on the clock: move it until the server is up.
  let up = false;
  let failed: unknown;
  dns.start().then(() => (up = true), (e: unknown) => (failed = e));
  for (let i = 0; i < 1000 && !up && failed === undefined; i++) {
    clock.advance(1);
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (!up) throw new Error(`the router's DNS server did not start: ${String(failed ?? 'no listening event in 1 s')}`);
  client.dns.setServers([ROUTER_IP]);
  client.dns.configure({ timeout: 1000, tries: 4 });

  const sources: TableSource[] = [
    ...[router, server, client, outside].map((s) => ({ name: s.name, tables: () => s.tables() })),
    { name: 'switch', tables: () => [bridge.fdbUsage()] },
  ];
  return {
    clock,
    bridge,
    router,
    server,
    client,
    outside,
    dns,
    hostilePortName: 'hostile',
    churn,
    impaired,
    sources,
    close: async () => {
      dns.close();
      for (const s of [router, server, client, outside]) s.close();
      bridge.close();
      await Promise.allSettled([...impaired, ...ports].map((p) => p.close()));
    },
  };
}
