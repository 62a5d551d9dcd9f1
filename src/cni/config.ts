/**
 * What a runtime hands `wirelab-cni`: the network configuration on stdin
 * and the CNI_* environment variables (SPEC.md, "Parameters"), checked
 * before anything is done (spec 1.0.0, and 1.1.0's GC and STATUS). A
 * configuration that is not JSON is code 6, one
 * that does not fit the schema code 7 naming the field, an unsupported
 * cniVersion code 1, a missing or malformed variable code 4 naming it.
 *
 * The configuration, as in /etc/cni/net.d (one plugin of a conflist, with
 * `name` and `cniVersion` filled in by the runtime):
 *
 *   { "cniVersion": "1.0.0", "name": "pods", "type": "wirelab-cni",
 *     "lab": "pods", "network": "pods",
 *     "capabilities": { "portMappings": true, "aliases": true } }
 *
 * Unknown fields are ignored, as the specification lets a plugin do (a
 * runtime adds its own). zod checks the shape, as it does for lab files.
 */
import { z } from 'zod';
import { CNI_CODE, CniError } from './errors.js';

/** The versions whose configuration and result `wirelab-cni` speaks. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

const portMapping = z.object({
  hostPort: z.number().int().min(1).max(65535),
  containerPort: z.number().int().min(1).max(65535),
  protocol: z.enum(['tcp', 'udp']).optional(),
  hostIP: z.string().optional(),
});

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export const netConfSchema = z.looseObject({
  cniVersion: z.string({ error: 'is required (e.g. "1.0.0")' }),
  name: z.string({ error: 'is required: the network\'s name' }).regex(NAME, { error: 'must start with a letter or digit and hold only letters, digits, "_", ".", "-"' }),
  type: z.string().optional(),
  lab: z.string({ error: 'is required: the name of the running wirelab lab (wirelab up -d)' }).regex(/^[a-z0-9][a-z0-9_-]*$/, { error: 'must be a lab name (lower-case letters, digits, "_", "-")' }),
  network: z.string().regex(NAME, { error: 'must be a network of the lab' }).optional(),
  /** Add a default route via the network's gateway when the container has none (default true). */
  defaultRoute: z.boolean().optional(),
  /** Delegate address allocation to a CNI IPAM plugin (e.g. host-local) found in CNI_PATH. */
  ipam: z.looseObject({ type: z.string().regex(/^[A-Za-z0-9_.-]+$/, { error: 'must be an IPAM plugin\'s file name' }) }).optional(),
  runtimeConfig: z
    .looseObject({
      portMappings: z.array(portMapping).optional(),
      aliases: z.record(z.string(), z.array(z.string())).optional(),
    })
    .optional(),
  prevResult: z.looseObject({}).optional(),
  /** GC (1.1.0): the attachments the runtime still has; every other one of the network goes. */
  'cni.dev/valid-attachments': z.array(z.looseObject({ containerID: z.string(), ifname: z.string() })).optional(),
});

export type NetConf = z.infer<typeof netConfSchema>;

/** The configuration from stdin's bytes; throws a `CniError` naming what is wrong. */
export function parseNetConf(text: string): NetConf {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new CniError(CNI_CODE.decode, 'the network configuration on stdin is not JSON', e instanceof Error ? e.message : String(e));
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new CniError(CNI_CODE.decode, 'the network configuration on stdin is not a JSON object');
  const version = (data as { cniVersion?: unknown }).cniVersion;
  if (typeof version === 'string' && !(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    throw new CniError(CNI_CODE.incompatibleVersion, `cniVersion ${version} is not supported (wirelab-cni speaks ${SUPPORTED_VERSIONS.join(', ')})`);
  }
  const parsed = netConfSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.map(String).join('.') || '(the configuration)';
    throw new CniError(CNI_CODE.invalidConfig, `invalid network configuration: ${path} ${issue.message}`, parsed.error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; '));
  }
  return parsed.data;
}

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'GC' | 'STATUS';

export interface CniEnv {
  command: CniCommand;
  containerId: string;
  /** The container's network namespace (a path); may be empty on DEL. */
  netns: string;
  ifname: string;
  /** CNI_ARGS as key/value pairs. */
  args: Map<string, string>;
  /** CNI_PATH's directories. */
  path: string[];
}

const COMMANDS: readonly string[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS'];
const KNOWN_ARGS = new Set(['IgnoreUnknown', 'K8S_POD_NAME', 'K8S_POD_NAMESPACE', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID', 'IP', 'MAC']);

/** The CNI_* variables for `command`; throws code 4 naming every missing or malformed one. */
export function readEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = env.CNI_COMMAND ?? '';
  if (!COMMANDS.includes(command)) {
    throw new CniError(CNI_CODE.invalidEnv, command === '' ? 'CNI_COMMAND is not set' : `CNI_COMMAND ${command} is not one of ${COMMANDS.join(', ')}`);
  }
  const out: CniEnv = { command: command as CniCommand, containerId: env.CNI_CONTAINERID ?? '', netns: env.CNI_NETNS ?? '', ifname: env.CNI_IFNAME ?? '', args: new Map(), path: (env.CNI_PATH ?? '').split(':').filter((d) => d !== '') };
  if (command === 'VERSION' || command === 'GC' || command === 'STATUS') return out; // no container: the network as a whole
  const problems: string[] = [];
  if (out.containerId === '') problems.push('CNI_CONTAINERID is not set');
  else if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(out.containerId)) problems.push(`CNI_CONTAINERID "${out.containerId}" holds characters other than letters, digits, "_", ".", "-"`);
  if (out.ifname === '') problems.push('CNI_IFNAME is not set');
  else if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/.test(out.ifname)) problems.push(`CNI_IFNAME "${out.ifname}" is not an interface name (1-15 letters, digits, "_", ".", "-")`);
  if (command !== 'DEL') {
    if (out.netns === '') problems.push('CNI_NETNS is not set');
    else if (!out.netns.startsWith('/')) problems.push(`CNI_NETNS "${out.netns}" is not a path (such as /run/netns/NAME or /proc/PID/ns/net)`);
    if (out.path.length === 0) problems.push('CNI_PATH is not set');
  }
  for (const pair of (env.CNI_ARGS ?? '').split(';').filter((p) => p !== '')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      problems.push(`CNI_ARGS entry "${pair}" is not KEY=VALUE`);
      continue;
    }
    out.args.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const ignoreUnknown = /^(1|true)$/i.test(out.args.get('IgnoreUnknown') ?? '');
  const ip = out.args.get('IP');
  if (ip !== undefined && !/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(ip)) problems.push(`CNI_ARGS IP=${ip} is not an IPv4 address`);
  const mac = out.args.get('MAC');
  if (mac !== undefined && !/^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/.test(mac)) problems.push(`CNI_ARGS MAC=${mac} is not a MAC address like 02:42:0a:59:07:05`);
  const unknown = [...out.args.keys()].filter((k) => !KNOWN_ARGS.has(k));
  if (unknown.length > 0 && !ignoreUnknown) problems.push(`CNI_ARGS has unknown keys ${unknown.join(', ')} (add IgnoreUnknown=1 to pass them)`);
  if (problems.length > 0) throw new CniError(CNI_CODE.invalidEnv, problems.join('; '));
  return out;
}
