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
  /** Exactly one network in this version. */
  networks: Array<{ network: string; ipv4Address: string; aliases: string[] }>;
  /** Docker `-p` specs as written, each already checked with parsePortSpec. */
  ports: string[];
  dependsOn: Array<{ service: string; condition: DependencyCondition }>;
  healthcheck: HealthcheckModel | undefined;
}
