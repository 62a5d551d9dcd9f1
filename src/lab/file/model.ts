/**
 * The lab model: a lab file after it is parsed, validated and normalized.
 * Every default is filled in, every address allocated, every name resolved
 * and the services sorted so each comes after what it depends on. What
 * brings a lab up (src/lab/file/up.ts), `wirelab config`, and later `ps`
 * and `graph` read this, never the YAML.
 */

export interface LabModel {
  /** The lab's name (`name:` in the file, else the file's directory name). */
  name: string;
  /** The file it came from, as given. */
  file: string;
  /** In file order. */
  networks: NetworkModel[];
  /** In dependency order: every service after the services it depends on. */
  services: ServiceModel[];
  /** Every switch: the shared ones of `switches:` and one per network of its own, in file order. */
  switches: SwitchModel[];
  routers: RouterModel[];
  hosts: HostModel[];
  captures: CaptureModel[];
  /** Other labs' DNS servers, asked for names this lab does not know (`dns.peers`); absent when not written. */
  dns?: { peers: string[] };
}

/** A network stretched over VXLAN to other machines (`networks.<n>.vxlan`). */
export interface VxlanModel {
  vni: number;
  /** Remote VTEPs' IPv4 addresses. */
  remotes: string[];
  /** UDP port, here and at the remotes (4789). */
  port: number;
  /** Host address to bind; undefined: every address. */
  local: string | undefined;
}

export interface SwitchModel {
  name: string;
  /** Switches this one has a trunk cable to (each pair listed once, on the first of the two in file order). */
  trunks: string[];
  /** The VLANs of the networks on it (1 for a network's switch of its own). */
  vlans: number[];
}

/** One network interface of a node (service, router or host). */
export interface AttachmentModel {
  network: string;
  ipv4Address: string;
  aliases: string[];
  /** `eth0`, `eth1`, … in the order the node lists its networks. */
  ifname: string;
  /** tc-netem words for this link toward the node, if written. */
  impair: string | undefined;
  /** The switch it plugs into: the network's, unless written (another switch carrying the network's VLAN). */
  switch: string;
}

export interface RouteModel {
  /** CIDR or 'default'. */
  dest: string;
  via: string;
}

export interface RouterModel {
  name: string;
  networks: AttachmentModel[];
  routes: RouteModel[];
  uplink: string | undefined;
  nat: 'masquerade' | undefined;
}

export interface HostModel {
  name: string;
  /** Absolute path of the Node module it runs. */
  script: string;
  environment: Record<string, string>;
  networks: AttachmentModel[];
  ports: string[];
}

export interface CaptureModel {
  name: string;
  /** Absolute path of the pcapng file. */
  file: string;
  /** Networks, switches, or `node:iface`. */
  of: string[];
  filter: string | undefined;
}

export interface NetworkModel {
  name: string;
  /** CIDR, network address with prefix, e.g. '172.30.0.0/24'. */
  subnet: string;
  /** The gateway's address (the wirelab host on the bridge), e.g. '172.30.0.1'. */
  gateway: string;
  mtu: number;
  /** The gateway answers DNS for the lab's names (default true). */
  dns: boolean;
  /** The switch it lives on (its own, named after it, unless `switch:` was written). */
  switch: string;
  /** The access VLAN of its ports (1 on a switch of its own). */
  vlan: number;
  /** The router holding the gateway address, or undefined for the network's own gateway host (`<network>-gw`). */
  gatewayRouter: string | undefined;
  /** tc-netem words for every link of the network, if written. */
  impair: string | undefined;
  /** Present when the network spans machines over VXLAN (its mtu then defaults to 1450). */
  vxlan?: VxlanModel;
  /** Existing interfaces attached to the network's switch by AF_PACKET (`interfaces:`). */
  interfaces?: string[];
}

export type DependencyCondition = 'service_started' | 'service_healthy';

export interface HealthcheckModel {
  /** argv run inside the container; healthy when it exits 0. */
  test: string[];
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

export interface ServiceModel {
  name: string;
  /** argv of the container's main process; undefined: the container only sleeps (no image here). */
  command: string[] | undefined;
  environment: Record<string, string>;
  /** eth0 on the first (its default route), eth1 on the second, … */
  networks: AttachmentModel[];
  /** Docker `-p` specs as written, each already checked with parsePortSpec. */
  ports: string[];
  dependsOn: Array<{ service: string; condition: DependencyCondition }>;
  healthcheck: HealthcheckModel | undefined;
}
