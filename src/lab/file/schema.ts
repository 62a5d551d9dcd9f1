/**
 * The lab file's schema: what a lab YAML file may contain, in docker
 * compose's words. It describes the file as written (no transforms), so the
 * same schema validates a parsed file and generates the JSON Schema editors
 * complete with (`schema/wirelab-lab.schema.json`, written by
 * `scripts/gen-lab-schema.ts`). Everything that needs more than one field to
 * check — addresses inside subnets, port clashes, dependency cycles — is in
 * normalize.ts, which also fills in the defaults.
 *
 * Every object is strict: an unknown key is an error naming it, as
 * `docker compose config` does.
 */
import { z } from 'zod';

/** Compose's pattern for service and network names. */
export const NAME_PATTERN = /^[a-zA-Z0-9._-]+$/;
/** Compose's pattern for a project name (the lab's `name:`). */
export const LAB_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;
/** A Go duration as compose writes it: `1s`, `500ms`, `1m30s`, `1.5h`. */
export const DURATION_PATTERN = /^((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$/;
const IPV4_PATTERN = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const CIDR_PATTERN = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\/(3[0-2]|[12]?\d)$/;
/** A DNS name an alias may take (labels of letters, digits and hyphens). */
const ALIAS_PATTERN = /^[a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?(\.[a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?)*$/;

const serviceName = z
  .string()
  .regex(NAME_PATTERN, { error: 'a service name may contain only letters, digits, ".", "_" and "-"' });
const networkName = z
  .string()
  .regex(NAME_PATTERN, { error: 'a network name may contain only letters, digits, ".", "_" and "-"' });
const ipv4 = z.string({ error: 'must be an IPv4 address such as 172.30.0.10' }).regex(IPV4_PATTERN, {
  error: 'must be an IPv4 address such as 172.30.0.10',
});
const duration = z
  .string({ error: 'must be a duration such as 1s, 500ms or 1m30s' })
  .regex(DURATION_PATTERN, { error: 'must be a duration such as 1s, 500ms or 1m30s' });
const stringList = z.array(z.string());
const switchName = z
  .string()
  .regex(NAME_PATTERN, { error: 'a switch name may contain only letters, digits, ".", "_" and "-"' });
/** tc-netem's words, checked in normalize.ts by src/link/netem-spec.ts. */
const netemText = z
  .string({ error: 'must be netem words such as "delay 20ms 5ms loss 1%"' })
  .meta({ description: 'Impairment in tc-netem\'s words: delay TIME [JITTER], loss PERCENT, duplicate PERCENT, reorder PERCENT, rate RATE, limit PACKETS. E.g. "delay 20ms 5ms loss 1%".' });
const vlanId = z
  .number({ error: 'must be a VLAN id from 1 to 4094' })
  .int({ error: 'must be a VLAN id from 1 to 4094' })
  .min(1, { error: 'must be a VLAN id from 1 to 4094' })
  .max(4094, { error: 'must be a VLAN id from 1 to 4094' });

const vxlanPort = z
  .number({ error: 'must be a UDP port from 1 to 65535' })
  .int({ error: 'must be a UDP port from 1 to 65535' })
  .min(1, { error: 'must be a UDP port from 1 to 65535' })
  .max(65535, { error: 'must be a UDP port from 1 to 65535' });

/** wirelab: the network stretched over VXLAN (RFC 7348) to other machines' labs or VTEPs. */
export const vxlanSchema = z
  .strictObject({
    vni: z
      .number({ error: 'must be a VXLAN network identifier from 1 to 16777215' })
      .int({ error: 'must be a VXLAN network identifier from 1 to 16777215' })
      .min(1, { error: 'must be a VXLAN network identifier from 1 to 16777215' })
      .max(16777215, { error: 'must be a VXLAN network identifier from 1 to 16777215' })
      .meta({ description: 'The VXLAN network identifier every VTEP of this network uses (1..16777215).' }),
    remotes: z
      .array(ipv4, { error: 'must be a list of the remote VTEPs\' IPv4 addresses' })
      .min(1, { error: 'must list at least one remote VTEP address' })
      .meta({ description: 'The other VTEPs (machines) by IPv4 address: broadcast and unknown frames go to each.' }),
    port: vxlanPort.optional().meta({ description: 'UDP port, here and at the remotes. Default 4789 (IANA; Linux needs dstport 4789).' }),
    local: ipv4.optional().meta({ description: 'The host address to send from and listen on. Default: every address (0.0.0.0).' }),
  })
  .meta({ description: 'wirelab: stretch this network over VXLAN to other machines. Its MTU defaults to 1450 (1500 − 50).' });

const ipamConfigSchema = z
  .strictObject({
    subnet: z
      .string({ error: 'must be a subnet in CIDR form such as 172.30.0.0/24' })
      .regex(CIDR_PATTERN, { error: 'must be a subnet in CIDR form such as 172.30.0.0/24' })
      .meta({ description: 'The network\'s IPv4 subnet, e.g. 172.30.0.0/24.' }),
    gateway: ipv4.optional().meta({ description: 'The gateway address (the wirelab host). Default: the first host address.' }),
  })
  .meta({ description: 'One IPv4 pool.' });

export const networkSchema = z
  .strictObject({
    ipam: z
      .strictObject({
        config: z
          .array(ipamConfigSchema)
          .length(1, { error: 'must list exactly one subnet (wirelab networks are IPv4, one subnet each)' }),
      })
      .optional()
      .meta({ description: 'Address pool. Without it the network gets 10.88.N.0/24 (N counts such networks in file order).' }),
    mtu: z
      .number({ error: 'must be a whole number between 68 and 65535' })
      .int({ error: 'must be a whole number between 68 and 65535' })
      .min(68, { error: 'must be at least 68 (the IPv4 minimum)' })
      .max(65535, { error: 'must be at most 65535' })
      .optional()
      .meta({ description: 'Link MTU (default 1500).' }),
    dns: z.boolean().optional().meta({ description: 'wirelab: the gateway answers DNS for the lab\'s names (default true).' }),
    switch: switchName
      .optional()
      .meta({ description: 'wirelab: the switch this network is a VLAN of (one of switches:). Default: a switch of its own.' }),
    vlan: vlanId
      .optional()
      .meta({ description: 'wirelab: the access VLAN of this network\'s ports on its switch (needed when networks share a switch).' }),
    impair: netemText.optional().meta({ description: 'wirelab: impair every link of this network toward its node, in tc-netem\'s words.' }),
    vxlan: vxlanSchema.optional(),
    interfaces: z
      .array(
        z
          .string({ error: 'must be an interface name' })
          .regex(/^[^/:\s]{1,15}$/, { error: 'must be an interface name: 1 to 15 characters, no "/", ":" or spaces' }),
        { error: 'must be a list of existing interface names' },
      )
      .optional()
      .meta({
        description:
          'wirelab: existing interfaces (veth ends, NICs) plugged into this network\'s switch through AF_PACKET, like containerlab\'s host links. The interface carrying the default route is refused.',
      }),
  })
  .meta({ description: 'A wirelab bridge network.' });

const serviceNetworkSchema = z.strictObject({
  ipv4_address: ipv4.optional().meta({ description: 'A static address inside the network\'s subnet. Default: allocated.' }),
  aliases: z
    .array(z.string().regex(ALIAS_PATTERN, { error: 'must be a DNS name (letters, digits, "-", "_", dot-separated labels)' }))
    .optional()
    .meta({ description: 'More DNS names for this service on this network.' }),
  impair: netemText.optional().meta({ description: 'wirelab: impair this link toward the node, in tc-netem\'s words.' }),
  switch: switchName
    .optional()
    .meta({ description: 'wirelab: plug this node into another switch of switches: that carries the network\'s VLAN (e.g. the far end of a trunk).' }),
});

const networksField = z
  .union([z.array(networkName), z.record(networkName, z.union([serviceNetworkSchema, z.null()]))], {
    error: 'must be a list of network names or a map of network name to { ipv4_address, aliases, impair }',
  })
  .optional();

const portsField = z
  .array(z.union([z.string(), z.number()]), { error: 'must be a list of port specs such as "8080:80"' })
  .optional()
  .meta({ description: 'Published ports, docker -p syntax: [HOSTIP:]HOSTPORT:PORT[/tcp|/udp]. Default host address 127.0.0.1.' });

const healthcheckSchema = z
  .strictObject({
    test: z
      .union([z.string(), stringList], { error: 'must be a string (run by sh -c) or a list such as ["CMD", "true"]' })
      .optional()
      .meta({ description: '["CMD", args…], ["CMD-SHELL", "cmd"], a string (run by sh -c), or ["NONE"].' }),
    interval: duration.optional().meta({ description: 'Default 30s.' }),
    timeout: duration.optional().meta({ description: 'Default 30s.' }),
    retries: z
      .number({ error: 'must be a whole number, 0 or more' })
      .int({ error: 'must be a whole number, 0 or more' })
      .min(0, { error: 'must be a whole number, 0 or more' })
      .optional()
      .meta({ description: 'Default 3.' }),
    start_period: duration.optional().meta({ description: 'Default 0s.' }),
    disable: z.boolean().optional(),
  })
  .meta({ description: 'How to tell the service is healthy (compose\'s healthcheck).' });

export const serviceSchema = z
  .strictObject({
    command: z
      .union([z.string(), stringList], { error: 'must be a string (split into words like a shell) or a list of strings' })
      .optional()
      .meta({ description: 'The main process. Without it the container only sleeps.' }),
    environment: z
      .union([z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])), stringList], {
        error: 'must be a map of KEY: value or a list of "KEY=value"',
      })
      .optional(),
    networks: networksField.meta({ description: 'The networks this service joins: eth0 on the first (its default route), eth1 on the second, …' }),
    ports: portsField,
    depends_on: z
      .union(
        [
          z.array(serviceName),
          z.record(
            serviceName,
            z.strictObject({
              condition: z
                .enum(['service_started', 'service_healthy'], {
                  error: 'condition must be service_started or service_healthy',
                })
                .optional(),
            }),
          ),
        ],
        { error: 'must be a list of service names or a map of service name to { condition }' },
      )
      .optional(),
    healthcheck: healthcheckSchema.optional(),
  })
  .meta({ description: 'A container.' });

export const switchSchema = z
  .strictObject({
    trunks: z
      .array(switchName, { error: 'must be a list of switch names' })
      .optional()
      .meta({ description: 'Switches this one has a trunk cable to: it carries every VLAN both switches have, tagged.' }),
  })
  .meta({ description: 'wirelab: a VLAN-aware switch that several networks share, one VLAN each.' });

export const routerSchema = z
  .strictObject({
    networks: networksField.meta({
      description: 'The networks the router joins (eth0, eth1, … in order). Without ipv4_address it takes the network\'s gateway address.',
    }),
    routes: z
      .array(z.string({ error: 'must be a route such as "10.2.0.0/24 via 10.9.0.2"' }), { error: 'must be a list of routes' })
      .optional()
      .meta({ description: 'Static routes in ip-route words: "DEST via GATEWAY" (DEST a CIDR or default).' }),
    uplink: networkName.optional().meta({ description: 'The network toward the outside: NAT applies to what leaves through it.' }),
    nat: z
      .enum(['masquerade'], { error: 'nat must be masquerade' })
      .optional()
      .meta({ description: 'masquerade: what leaves through the uplink takes the router\'s uplink address (Docker\'s MASQUERADE).' }),
  })
  .meta({ description: 'wirelab: a router (a wirelab host forwarding between networks).' });

export const hostSchema = z
  .strictObject({
    script: z
      .string({ error: 'must be the path of a Node module (relative to the lab file)' })
      .meta({ description: 'A Node module whose default export, async ({ stack, name, env }) => close?, runs on this wirelab host.' }),
    networks: networksField.meta({ description: 'The networks this host joins.' }),
    environment: z
      .union([z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])), stringList], {
        error: 'must be a map of KEY: value or a list of "KEY=value"',
      })
      .optional(),
    ports: portsField,
  })
  .meta({ description: 'wirelab: a wirelab host (user-space TCP/IP) running a Node script: the Node net/http API on wirelab TCP.' });

export const captureSchema = z
  .strictObject({
    file: z.string({ error: 'must be a file path' }).meta({ description: 'The pcapng file (relative to the lab file).' }),
    of: z
      .array(z.string(), { error: 'must be a list of networks, switches or node:iface' })
      .min(1, { error: 'must name at least one network, switch or node:iface' })
      .meta({ description: 'What to capture: networks, switches, or node interfaces such as web:eth0.' }),
    filter: z.string().optional().meta({ description: 'A tcpdump-style filter (a documented subset), e.g. "tcp port 80".' }),
  })
  .meta({ description: 'wirelab: a capture written for as long as the lab is up.' });

export const labFileSchema = z
  .strictObject({
    name: z
      .string()
      .regex(LAB_NAME_PATTERN, {
        error: 'a lab name must start with a lowercase letter or digit and contain only lowercase letters, digits, "_" and "-"',
      })
      .optional()
      .meta({ description: 'The lab\'s name. Default: the file\'s directory name.' }),
    networks: z
      .record(networkName, z.union([networkSchema, z.null()]), { error: 'must be a map of network name to network' })
      .optional(),
    services: z.record(serviceName, serviceSchema, { error: 'must be a map of service name to service' }),
    switches: z
      .record(switchName, z.union([switchSchema, z.null()]), { error: 'must be a map of switch name to switch' })
      .optional(),
    routers: z.record(serviceName, routerSchema, { error: 'must be a map of router name to router' }).optional(),
    hosts: z.record(serviceName, hostSchema, { error: 'must be a map of host name to host' }).optional(),
    captures: z.record(z.string(), captureSchema, { error: 'must be a map of capture name to capture' }).optional(),
    dns: z
      .strictObject({
        peers: z
          .array(ipv4, { error: 'must be a list of DNS server IPv4 addresses' })
          .meta({ description: 'Other labs\' DNS servers (their gateway addresses on a shared VXLAN network): names this lab does not know are asked there.' }),
      })
      .optional()
      .meta({ description: 'wirelab: the lab\'s DNS servers and other labs\'.' }),
  })
  .meta({ title: 'wirelab lab file', description: 'A wirelab lab: containers on user-space networks, in docker compose\'s words.' });

export type LabFile = z.infer<typeof labFileSchema>;
export type NetworkFile = z.infer<typeof networkSchema>;
export type ServiceFile = z.infer<typeof serviceSchema>;
export type RouterFile = z.infer<typeof routerSchema>;
export type HostFile = z.infer<typeof hostSchema>;
export type CaptureFile = z.infer<typeof captureSchema>;
export type SwitchFile = z.infer<typeof switchSchema>;
export type AttachmentsFile = ServiceFile['networks'];

/** The JSON Schema of the lab file, as committed in schema/wirelab-lab.schema.json. */
export function labFileJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(labFileSchema, { target: 'draft-2020-12' }) as Record<string, unknown>;
}

/** The committed file's text: the schema, 2-space JSON, newline-terminated. */
export function labFileJsonSchemaText(): string {
  return `${JSON.stringify(labFileJsonSchema(), null, 2)}\n`;
}
