/**
 * Bringing a lab up from its model, as `docker compose up` does: every
 * network becomes a `BridgeNetwork` (wirelab switch, gateway, DNS), every
 * service a container on it — started after what it depends on (started, or
 * healthy by its healthcheck), its command running inside with its
 * environment, its ports published (proxy mode, 127.0.0.1 unless written).
 * `down()` removes everything in reverse, and is safe to call twice.
 *
 * The CLI (`wirelab up`) only parses flags and prints; this file does the
 * work, and reports progress through a callback so a test, a TTY and a log
 * each show it their own way.
 */
import { Lab } from '../lab.js';
import type { Container } from '../netns.js';
import type { ContainerProcess } from '../process.js';
import { BridgeNetwork } from '../network.js';
import type { LabModel, ServiceModel } from './model.js';

export type ServiceStatus = 'created' | 'running' | 'healthy' | 'unhealthy' | 'exited';

/** One service as `wirelab up` / `ps` show it. */
export interface ServiceRow {
  name: string;
  network: string;
  address: string;
  namespace: string;
  status: ServiceStatus;
  ports: string[];
}

export interface UpOptions {
  /** Called with one line per step ("network front created", "service web started"). */
  progress?: (line: string) => void;
  /** How long a `service_healthy` dependency may take. Default 60 s. */
  healthTimeoutMs?: number;
}

interface RunningService {
  model: ServiceModel;
  network: BridgeNetwork;
  container: Container;
  address: string;
  process: ContainerProcess | undefined;
  status: ServiceStatus;
}

/** A lab that is up: its networks, containers and processes, until `down()`. */
export class RunningLab {
  private readonly lab = new Lab();
  private readonly networks = new Map<string, BridgeNetwork>();
  private readonly services = new Map<string, RunningService>();
  private downing: Promise<void> | undefined;

  private constructor(readonly model: LabModel) {}

  /** Brings `model` up; on any failure removes what it made and rethrows. */
  static async up(model: LabModel, opts: UpOptions = {}): Promise<RunningLab> {
    const running = new RunningLab(model);
    try {
      await running.start(opts);
    } catch (e) {
      await running.down().catch(() => undefined);
      throw e;
    }
    return running;
  }

  private async start(opts: UpOptions): Promise<void> {
    const say = opts.progress ?? (() => undefined);
    for (const n of this.model.networks) {
      this.networks.set(n.name, new BridgeNetwork({ name: n.name, subnet: n.subnet, gateway: n.gateway, mtu: n.mtu, dns: n.dns ? {} : false }));
      say(`network ${n.name}  ${n.subnet}  gateway ${n.gateway}${n.dns ? '  dns' : ''}`);
    }
    // Services come sorted by dependency: wait for each one's conditions, then start it.
    for (const s of this.model.services) {
      for (const d of s.dependsOn) {
        if (d.condition !== 'service_healthy') continue;
        const dep = this.services.get(d.service);
        if (dep === undefined) throw new Error(`service ${s.name} depends on ${d.service}, which did not start`);
        say(`service ${s.name} waits for ${d.service} to be healthy`);
        await this.waitHealthy(dep, opts.healthTimeoutMs ?? 60_000);
      }
      const attach = s.networks[0];
      if (attach === undefined) throw new Error(`service ${s.name} has no network`);
      const net = this.networks.get(attach.network);
      if (net === undefined) throw new Error(`service ${s.name}: no network ${attach.network}`);
      const ep = await net.run(this.lab, { name: s.name, aliases: attach.aliases, ipv4Address: attach.ipv4Address });
      const env = { ...process.env, ...s.environment };
      const proc = s.command !== undefined ? ep.container.spawn(s.command, { env }) : undefined;
      const svc: RunningService = { model: s, network: net, container: ep.container, address: ep.address, process: proc, status: 'running' };
      this.services.set(s.name, svc);
      if (proc !== undefined) void proc.exited.then(() => (svc.status = 'exited'));
      for (const spec of s.ports) await net.publish(spec, s.name);
      say(`service ${s.name}  ${ep.address}  namespace ${ep.container.name}${s.ports.length > 0 ? `  ports ${s.ports.join(', ')}` : ''}`);
    }
  }

  /** Runs the healthcheck until it passes (status 'healthy') or the retries and the time run out. */
  private async waitHealthy(svc: RunningService, timeoutMs: number): Promise<void> {
    const hc = svc.model.healthcheck;
    if (hc === undefined) throw new Error(`service ${svc.model.name} has no healthcheck, so nothing can wait for it to be healthy`);
    const deadline = Date.now() + timeoutMs;
    const startEnds = Date.now() + hc.startPeriodMs;
    let failures = 0;
    for (;;) {
      if (svc.status === 'exited') throw new Error(`service ${svc.model.name} exited before it was healthy`);
      const r = await svc.container.exec(hc.test, { timeoutMs: hc.timeoutMs });
      if (r.code === 0) {
        svc.status = 'healthy';
        return;
      }
      if (Date.now() >= startEnds) failures++;
      if (failures >= hc.retries || Date.now() >= deadline) {
        svc.status = 'unhealthy';
        throw new Error(`service ${svc.model.name} is unhealthy: \`${hc.test.join(' ')}\` failed ${failures} times (last: exit ${r.code}${r.stderr ? `, ${r.stderr.trim().split('\n').pop()}` : ''})`);
      }
      await new Promise((resolve) => setTimeout(resolve, hc.intervalMs));
    }
  }

  /** The services as `docker compose ps` lists them. */
  rows(): ServiceRow[] {
    return [...this.services.values()].map((s) => ({
      name: s.model.name,
      network: s.network.name,
      address: s.address,
      namespace: s.container.name,
      status: s.status,
      ports: s.model.ports,
    }));
  }

  /** The network of `name`, for inspection (conntrack, DNS, FDB). */
  network(name: string): BridgeNetwork | undefined {
    return this.networks.get(name);
  }

  /** The container of a service, for `exec`. */
  container(service: string): Container | undefined {
    return this.services.get(service)?.container;
  }

  /** Removes everything the lab made: containers (and their processes), then the networks. Idempotent. */
  down(): Promise<void> {
    this.downing ??= (async () => {
      const errors: string[] = [];
      await this.lab.close().catch((e: unknown) => errors.push(String(e)));
      for (const n of [...this.networks.values()].reverse()) await n.close().catch((e: unknown) => errors.push(String(e)));
      if (errors.length > 0) throw new Error(`taking lab ${this.model.name} down failed:\n${errors.join('\n')}`);
    })();
    return this.downing;
  }
}

/** `docker compose ps`-style table. */
export function formatServiceTable(rows: readonly ServiceRow[]): string {
  const header = ['NAME', 'NETWORK', 'ADDRESS', 'STATUS', 'NAMESPACE', 'PORTS'];
  const cells = rows.map((r) => [r.name, r.network, r.address, r.status, r.namespace, r.ports.join(', ')]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  return [header, ...cells].map((c) => c.map((x, i) => x.padEnd(widths[i]!)).join('   ').trimEnd()).join('\n');
}
