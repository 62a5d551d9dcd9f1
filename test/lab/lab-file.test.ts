/**
 * Lab files: the example labs load to the expected model, broken files give
 * the exact FILE:LINE:COL FIELD message, the shipped JSON Schema is what the
 * generator writes now, and no input makes the loader throw anything but a
 * LabFileError. Pure: no root, no namespaces.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { generateLabSchema, LAB_SCHEMA_PATH } from '../../scripts/gen-lab-schema.js';
import { LabFileError, loadLabFile, parseDuration, parseLabText, splitShellWords, type LabModel } from '../../src/lab/file/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const example = (name: string): string => join(root, 'examples', 'labs', name);

/** The message parseLabText throws for `text` (fails the test when it loads). */
function errorOf(text: string, file = 'lab.yaml'): string {
  try {
    parseLabText(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(LabFileError);
    return (err as LabFileError).message;
  }
  throw new Error('the lab loaded, but an error was expected');
}

const net = (name: string, ip: string, aliases: string[] = []) => [{ network: name, ipv4Address: ip, aliases, ifname: 'eth0', impair: undefined, switch: name }];
const netModel = (name: string, subnet: string, gateway: string) => ({ name, subnet, gateway, mtu: 1500, dns: true, switch: name, vlan: 1, gatewayRouter: undefined, impair: undefined });

describe('example labs', () => {
  it('two-containers.yaml: an allocated 10.88.0.0/24, addresses in file order, the directory as the name', () => {
    const lab = loadLabFile(example('two-containers.yaml'));
    expect(lab).toEqual<LabModel>({
      name: 'labs',
      file: example('two-containers.yaml'),
      networks: [netModel('lan', '10.88.0.0/24', '10.88.0.1')],
      services: [
        {
          name: 'a',
          command: ['python3', '-m', 'http.server', '80'],
          environment: {},
          networks: net('lan', '10.88.0.2'),
          ports: [],
          dependsOn: [],
          healthcheck: undefined,
        },
        {
          name: 'b',
          command: undefined,
          environment: {},
          networks: net('lan', '10.88.0.3'),
          ports: [],
          dependsOn: [{ service: 'a', condition: 'service_started' }],
          healthcheck: undefined,
        },
      ],
      switches: [{ name: 'lan', trunks: [], vlans: [1] }],
      routers: [],
      hosts: [],
      captures: [],
    });
  });

  it('web-app.yaml: dependency order, static and allocated addresses, healthcheck, environment forms', () => {
    const lab = loadLabFile(example('web-app.yaml'));
    expect(lab.name).toBe('shop');
    expect(lab.networks).toEqual([netModel('front', '172.30.0.0/24', '172.30.0.1')]);
    expect(lab.services.map((s) => s.name)).toEqual(['db', 'cache', 'api', 'web']);
    const by = new Map(lab.services.map((s) => [s.name, s]));
    // web is pinned at .10; the others get .2, .3, .4 in file order (api, db, cache).
    expect(by.get('web')?.networks).toEqual(net('front', '172.30.0.10', ['www']));
    expect(by.get('api')?.networks).toEqual(net('front', '172.30.0.2'));
    expect(by.get('db')?.networks).toEqual(net('front', '172.30.0.3'));
    expect(by.get('cache')?.networks).toEqual(net('front', '172.30.0.4'));
    expect(by.get('web')?.ports).toEqual(['8080:80']);
    expect(by.get('api')?.command).toEqual(['python3', '-m', 'http.server', '8000']);
    expect(by.get('api')?.environment).toEqual({ DB_HOST: 'db', CACHE_HOST: 'cache' });
    expect(by.get('api')?.dependsOn).toEqual([
      { service: 'db', condition: 'service_healthy' },
      { service: 'cache', condition: 'service_started' },
    ]);
    expect(by.get('db')?.environment).toEqual({ POSTGRES_DB: 'shop' });
    expect(by.get('db')?.healthcheck).toEqual({
      test: ['sh', '-c', 'test -f /tmp/ready'],
      intervalMs: 1000,
      timeoutMs: 2000,
      retries: 3,
      startPeriodMs: 500,
    });
    expect(by.get('cache')).toEqual({
      name: 'cache',
      command: undefined,
      environment: {},
      networks: net('front', '172.30.0.4'),
      ports: [],
      dependsOn: [],
      healthcheck: undefined,
    });
  });

  it('static-addresses.yaml: gateway at .254, allocation starts at the first free host address, healthcheck defaults', () => {
    const lab = loadLabFile(example('static-addresses.yaml'));
    expect(lab.name).toBe('static');
    expect(lab.networks).toEqual([{ ...netModel('office', '192.168.50.0/24', '192.168.50.254'), mtu: 1400, dns: false }]);
    expect(lab.services.map((s) => [s.name, s.networks[0]?.ipv4Address])).toEqual([
      ['client', '192.168.50.1'],
      ['server', '192.168.50.2'],
    ]);
    expect(lab.services[0]?.healthcheck).toEqual({
      test: ['sh', '-c', 'ping -c1 -W1 192.168.50.2'],
      intervalMs: 90_000,
      timeoutMs: 30_000,
      retries: 3,
      startPeriodMs: 0,
    });
    expect(lab.services[1]?.ports).toEqual(['127.0.0.1:5353:53/udp']);
  });

  it('networks without ipam take 10.88.N.0/24 in file order, skipping a declared subnet in that pool', () => {
    const lab = parseLabText(
      `networks:
  a: {}
  b:
    ipam: { config: [ { subnet: 10.88.1.0/24 } ] }
  c:
services:
  x: { networks: [a] }
  y: { networks: [c] }
`,
      '/tmp/some dir/Lab.yaml',
    );
    expect(lab.name).toBe('somedir');
    expect(lab.networks.map((n) => [n.name, n.subnet, n.gateway])).toEqual([
      ['a', '10.88.0.0/24', '10.88.0.1'],
      ['b', '10.88.1.0/24', '10.88.1.1'],
      ['c', '10.88.2.0/24', '10.88.2.1'],
    ]);
  });

  it('quickstart.yaml: what `wirelab config` prints for the README', () => {
    const lab = loadLabFile(example('quickstart.yaml'));
    expect(lab.name).toBe('quickstart');
    expect(lab.services.map((s) => [s.name, s.networks[0]?.ipv4Address, s.ports])).toEqual([
      ['db', '172.30.0.2', []],
      ['web', '172.30.0.3', ['8080:80']],
    ]);
  });

  it('file order is the file\'s, even for names a JS object would reorder ("10" before "b")', () => {
    const lab = parseLabText('networks:\n  z: {}\n  "10": {}\nservices:\n  b: { networks: [z] }\n  "2": { networks: [z] }\n', 'lab.yaml');
    expect(lab.networks.map((n) => [n.name, n.subnet])).toEqual([
      ['z', '10.88.0.0/24'],
      ['10', '10.88.1.0/24'],
    ]);
    expect(lab.services.map((s) => [s.name, s.networks[0]?.ipv4Address])).toEqual([
      ['b', '10.88.0.2'],
      ['2', '10.88.0.3'],
    ]);
  });

  it('command strings split like shell words; healthcheck forms; durations', () => {
    expect(splitShellWords(`sh -c 'echo "a b"' "x \\"y\\"" z\\ w`)).toEqual(['sh', '-c', 'echo "a b"', 'x "y"', 'z w']);
    expect(splitShellWords(`echo 'oops`)).toBe("has an unterminated ' quote");
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    const lab = parseLabText(
      `networks: { n: {} }
services:
  a: { healthcheck: { test: "CMD-SHELL curl -f localhost" } }
  b: { healthcheck: { test: ["CMD", "true"] } }
  c: { healthcheck: { test: ["NONE"] } }
  d: { healthcheck: { test: ["CMD", "true"], disable: true } }
`,
      'lab.yaml',
    );
    expect(lab.services.map((s) => s.healthcheck?.test)).toEqual([['sh', '-c', 'curl -f localhost'], ['true'], undefined, undefined]);
  });
});

describe('broken lab files: FILE:LINE:COL FIELD: sentence', () => {
  it('unknown key', () => {
    expect(
      errorOf(`networks:
  front: {}
services:
  web:
    comand: ["true"]
    image: x
`),
    ).toBe(
      [
        'lab.yaml:5:5 services.web.comand: unknown key "comand"',
        'lab.yaml:6:5 services.web.image: unknown key "image" (a docker compose key this version of wirelab does not support)',
      ].join('\n'),
    );
  });

  it('bad CIDR', () => {
    expect(
      errorOf(`networks:
  front:
    ipam:
      config:
        - subnet: 172.30.0.0/33
services:
  web: {}
`),
    ).toBe('lab.yaml:5:19 networks.front.ipam.config[0].subnet: must be a subnet in CIDR form such as 172.30.0.0/24');
  });

  it('subnet with host bits set (and no knock-on error for its services)', () => {
    expect(
      errorOf(`networks:
  front:
    ipam: { config: [ { subnet: 172.30.0.5/24 } ] }
services:
  web: {}
`),
    ).toBe('lab.yaml:3:33 networks.front.ipam.config[0].subnet: "172.30.0.5/24" has host bits set: the subnet is 172.30.0.0/24');
  });

  it('address outside its subnet', () => {
    expect(
      errorOf(`networks:
  front:
    ipam: { config: [ { subnet: 172.30.0.0/24 } ] }
services:
  web:
    networks:
      front: { ipv4_address: 172.31.0.10 }
`),
    ).toBe('lab.yaml:7:30 services.web.networks.front.ipv4_address: 172.31.0.10 is outside the subnet 172.30.0.0/24 of network front');
  });

  it('duplicate address, and an address that is the gateway', () => {
    expect(
      errorOf(`networks:
  front:
    ipam: { config: [ { subnet: 172.30.0.0/24 } ] }
services:
  web:
    networks:
      front: { ipv4_address: 172.30.0.10 }
  api:
    networks:
      front:
        ipv4_address: 172.30.0.10
  gw:
    networks: { front: { ipv4_address: 172.30.0.1 } }
`),
    ).toBe(
      [
        'lab.yaml:11:23 services.api.networks.front.ipv4_address: 172.30.0.10 is already the address of service web',
        "lab.yaml:13:40 services.gw.networks.front.ipv4_address: 172.30.0.1 is already the network's gateway",
      ].join('\n'),
    );
  });

  it('port clash names both services', () => {
    expect(
      errorOf(`networks: { n: {} }
services:
  web:
    ports: ["8080:80"]
  api:
    ports:
      - "127.0.0.1:8080:8000"
`),
    ).toBe(
      'lab.yaml:7:9 services.api.ports[0]: "127.0.0.1:8080:8000": host port 127.0.0.1:8080/tcp is already published by services.web.ports[0] ("8080:80")',
    );
  });

  it('bad port spec: the PortSpecError message is the sentence', () => {
    expect(
      errorOf(`networks: { n: {} }
services:
  web:
    ports: ["8080:80/sctp"]
`),
    ).toBe('lab.yaml:4:13 services.web.ports[0]: "8080:80/sctp": protocol must be tcp or udp');
  });

  it('unknown network', () => {
    expect(
      errorOf(`networks: { front: {} }
services:
  web:
    networks: [back]
`),
    ).toBe('lab.yaml:4:16 services.web.networks[0]: unknown network "back" (declared: front)');
  });

  it('unknown depends_on', () => {
    expect(
      errorOf(`networks: { front: {} }
services:
  web:
    depends_on:
      - api
`),
    ).toBe('lab.yaml:5:9 services.web.depends_on[0]: unknown service "api" (declared: web)');
  });

  it('dependency cycle names the cycle', () => {
    expect(
      errorOf(`networks: { front: {} }
services:
  web:
    depends_on: [api]
  api:
    depends_on: [web]
`),
    ).toBe('lab.yaml:4:17 services.web.depends_on: dependency cycle: web -> api -> web');
  });

  it('YAML syntax error', () => {
    expect(
      errorOf(`networks: { front: {} }
services:
  web:
    command: ["a", "b"
  api: {}
`),
    ).toBe('lab.yaml:5:3 YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]');
    expect(errorOf('services:\n  web: {}\n  web: {}\n')).toBe('lab.yaml:3:3 YAML syntax error: Map keys must be unique');
  });

  it('wrong types, every one reported', () => {
    expect(
      errorOf(`networks: { front: {} }
services:
  web:
    ports: 8080
    environment: 5
    healthcheck: { test: ["CMD", "true"], interval: 5, retries: -1 }
`),
    ).toBe(
      [
        'lab.yaml:4:12 services.web.ports: must be a list of port specs such as "8080:80", not a number (8080)',
        'lab.yaml:5:18 services.web.environment: must be a map of KEY: value or a list of "KEY=value", not a number (5)',
        'lab.yaml:6:53 services.web.healthcheck.interval: must be a duration such as 1s, 500ms or 1m30s, not a number (5)',
        'lab.yaml:6:65 services.web.healthcheck.retries: must be a whole number, 0 or more',
      ].join('\n'),
    );
  });

  it('a service on two networks gets eth0 and eth1; a service that does not say which is refused', () => {
    expect(
      errorOf(`networks: { front: {}, back: {} }
services:
  web:
    networks: [front, back, front]
  db: {}
`),
    ).toBe(
      [
        'lab.yaml:4:29 services.web.networks[2]: lists network front twice',
        'lab.yaml:5:7 services.db: the lab has 2 networks (front, back): say which this service joins with networks:',
      ].join('\n'),
    );
  });

  it('a missing key points at the map that should hold it; a bad root says so', () => {
    expect(errorOf('networks: { front: {} }\n')).toBe('lab.yaml:1:1 services: is required');
    expect(errorOf('')).toBe('lab.yaml:1:1 the lab file must be a map, not empty');
    expect(errorOf('networks: { n: {} }\nservices:\n  web:\n    healthcheck: { interval: 1s }\n')).toBe(
      'lab.yaml:4:18 services.web.healthcheck: has no test: write test: ["CMD", …] (there is no image to inherit one from)',
    );
  });

  it('collects every problem of a file, in file order', () => {
    expect(
      errorOf(
        `networks:
  front:
    ipam: { config: [ { subnet: 172.30.0.0/24, gateway: 172.30.1.1 } ] }
  back:
    ipam: { config: [ { subnet: 172.30.0.0/16 } ] }
  ok: {}
services:
  web: { networks: [ok], command: "echo 'hi", environment: [FOO] }
  api:
    networks: [ok]
    depends_on: { web: { condition: service_healthy } }
    ports: ["9000:90", "0.0.0.0:9000:91"]
`,
        'labs/x.yaml',
      ),
    ).toBe(
      [
        'labs/x.yaml:3:57 networks.front.ipam.config[0].gateway: 172.30.1.1 is outside the subnet 172.30.0.0/24',
        "labs/x.yaml:5:33 networks.back.ipam.config[0].subnet: \"172.30.0.0/16\" overlaps network front's subnet 172.30.0.0/24",
        "labs/x.yaml:8:35 services.web.command: has an unterminated ' quote",
        'labs/x.yaml:8:61 services.web.environment[0]: "FOO" must be KEY=value (wirelab does not pass the host\'s environment through)',
        'labs/x.yaml:11:37 services.api.depends_on.web.condition: service web has no healthcheck, so it can never be service_healthy',
        'labs/x.yaml:12:24 services.api.ports[1]: "0.0.0.0:9000:91": host port 0.0.0.0:9000/tcp is already published by services.api.ports[0] ("9000:90")',
      ].join('\n'),
    );
  });

  it('schema problems and cross-field problems come out of one run', () => {
    expect(
      errorOf(`networks:
  front:
    ipam: { config: [ { subnet: 172.30.0.0/24 } ] }
services:
  web:
    ports: ["8080:80/sctp"]
    depends_on: [api, nope]
  api:
    comand: x
`),
    ).toBe(
      [
        'lab.yaml:6:13 services.web.ports[0]: "8080:80/sctp": protocol must be tcp or udp',
        'lab.yaml:7:23 services.web.depends_on[1]: unknown service "nope" (declared: web, api)',
        'lab.yaml:9:5 services.api.comand: unknown key "comand"',
      ].join('\n'),
    );
  });

  it('bad names, a bad condition and no network at all', () => {
    expect(
      errorOf(`services:
  "b@d": {}
  web:
    depends_on: { db: { condition: service_completed_successfully } }
`),
    ).toBe(
      [
        'lab.yaml:2:3 services["b@d"]: a service name may contain only letters, digits, ".", "_" and "-"',
        'lab.yaml:4:36 services.web.depends_on.db.condition: condition must be service_started or service_healthy',
      ].join('\n'),
    );
    expect(errorOf('services:\n  web: {}\n')).toBe(
      'lab.yaml:2:8 services.web: the lab declares no network to join: add one under the top-level networks: (e.g. networks: { net: {} })',
    );
  });

  it('an unreadable file is a LabFileError too', () => {
    expect(() => loadLabFile('/nonexistent/lab.yaml')).toThrow(LabFileError);
  });
});

describe('JSON Schema', () => {
  it('schema/wirelab-lab.schema.json is what scripts/gen-lab-schema.ts writes now', () => {
    expect(readFileSync(LAB_SCHEMA_PATH, 'utf8')).toBe(generateLabSchema());
  });
});

describe('robustness', () => {
  const tokens = [
    'services', 'networks', 'name', 'web', 'db', 'front', ':', ': ', '\n', '\n  ', '\n    ', '- ', '[', ']', '{', '}', ',', '"', "'",
    'ipam', 'config', 'subnet', '10.0.0.0/24', '172.30.0.300', 'ipv4_address', 'ports', '"8080:80"', '8080:80/sctp', 'depends_on',
    'condition', 'healthcheck', 'test', 'interval', '1s', '&a', '*a', '!!binary', '!!set', '? ', '#', '%YAML 1.2\n---', '...', '~',
    'null', 'true', '0x1F', '1e9', '-1', '\t', '|', '>', '<<: *a', 'command', 'environment', 'aliases', 'mtu', 'dns',
  ];
  const onlyLabFileError = (text: string): void => {
    try {
      parseLabText(text, 'lab.yaml');
    } catch (err) {
      if (!(err instanceof LabFileError)) throw err;
      for (const line of err.message.split('\n')) expect(line).toMatch(/^lab\.yaml:\d+:\d+ /);
    }
  };

  it('random YAML-ish text never throws anything but LabFileError', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom(...tokens), { maxLength: 40 }).map((t) => t.join('')), onlyLabFileError), {
      numRuns: 1500,
    });
    fc.assert(fc.property(fc.string({ maxLength: 200 }), onlyLabFileError), { numRuns: 500 });
  });

  it('random lab-shaped documents never throw anything but LabFileError', () => {
    const value = fc.oneof(
      fc.anything({ maxDepth: 3 }),
      fc.constantFrom('10.0.0.5', '172.30.0.0/24', '8080:80', '1s', 'web', 'front', ['CMD', 'true']),
    );
    const key = fc.constantFrom('services', 'networks', 'name', 'web', 'db', 'front', 'ipam', 'config', 'subnet', 'gateway',
      'ipv4_address', 'ports', 'depends_on', 'healthcheck', 'test', 'command', 'environment', 'aliases', 'condition', 'x');
    const doc = fc.letrec<{ node: unknown }>((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, value, fc.dictionary(key, tie('node'), { maxKeys: 4 }), fc.array(tie('node'), { maxLength: 3 })),
    })).node;
    fc.assert(
      fc.property(doc, (d) => {
        let text: string | undefined;
        try {
          text = stringify(d) as string | undefined;
        } catch {
          return; // not representable as YAML: nothing to load
        }
        if (typeof text === 'string') onlyLabFileError(text);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('switches, routers, hosts, impairments and captures', () => {
  it('the topology examples load: VLANs on shared switches, a trunk, routers as gateways, a host script', () => {
    const vlans = loadLabFile(example('vlans.yaml'));
    expect(vlans.switches).toEqual([
      { name: 'site-a', trunks: ['site-b'], vlans: [10, 20] },
      { name: 'site-b', trunks: [], vlans: [10, 20] },
    ]);
    expect(vlans.services.find((s) => s.name === 'red-b')?.networks[0]?.switch).toBe('site-b');
    const wan = loadLabFile(example('wan.yaml'));
    expect(wan.networks.map((n) => [n.name, n.gatewayRouter, n.impair])).toEqual([
      ['hq', 'hq-router', undefined],
      ['branch', 'branch-router', undefined],
      ['wan', 'hq-router', 'delay 20ms 2ms loss 1%'],
    ]);
    expect(wan.routers[1]).toEqual({
      name: 'branch-router',
      networks: [
        { network: 'branch', ipv4Address: '10.2.0.1', aliases: [], ifname: 'eth0', impair: undefined, switch: 'branch' },
        { network: 'wan', ipv4Address: '10.255.0.2', aliases: [], ifname: 'eth1', impair: undefined, switch: 'wan' },
      ],
      routes: [{ dest: '10.1.0.0/24', via: '10.255.0.1' }],
      uplink: undefined,
      nat: undefined,
    });
    const host = loadLabFile(example('node-host.yaml')).hosts[0];
    expect(host?.script).toBe(example('hello-server.mjs'));
    expect(host?.networks[0]?.ipv4Address).toBe('172.31.5.3'); // services first, then hosts
  });

  it('each mistake is named at its line and field', () => {
    expect(
      errorOf(`switches:
  core: { trunks: [core, edge] }
networks:
  a: { switch: core }
  b: { switch: core, vlan: 10 }
  c: { switch: nowhere, vlan: 30 }
  d: { vlan: 5 }
  e: { impair: "delay 20 parsecs" }
services:
  web: { networks: { a: {}, e: { impair: "loss lots" } } }
routers:
  web: { networks: [a] }
  r2: { nat: masquerade, routes: ["10.0.0.0/8 through 10.0.0.1"] }
captures:
  all: { file: x.pcapng, of: [a, "web:eth7", ghost] }
`),
    ).toBe(
      [
        'lab.yaml:2:20 switches.core.trunks[0]: a trunk from switch core to itself would loop every broadcast',
        'lab.yaml:2:26 switches.core.trunks[1]: unknown switch "edge" (declared: core)',
        'lab.yaml:4:3 networks.a: shares switch core with b: give it a vlan: id of its own',
        'lab.yaml:6:16 networks.c.switch: unknown switch "nowhere" (declared: core)',
        'lab.yaml:7:8 networks.d.vlan: a VLAN needs a shared switch: add switch: (one of switches:) to this network',
        'lab.yaml:8:16 networks.e.impair: netem spec "delay 20 parsecs": "parsecs" is not a time (write 20ms, 1.5s or 500us)',
        'lab.yaml:10:42 services.web.networks.e.impair: netem spec "loss lots": "lots" after "loss" is not supported (loss [random] PERCENT or loss gemodel p [r [1-h [1-k]]])',
        "lab.yaml:12:3 routers.web: the name web is already services.web's (services, routers and hosts share one set of names)",
        'lab.yaml:13:7 routers.r2: a router needs networks: (the networks it joins and forwards between)',
        'lab.yaml:13:14 routers.r2.nat: NAT needs an uplink: add uplink: <network> (the network toward the outside)',
        'lab.yaml:13:35 routers.r2.routes[0]: "10.0.0.0/8 through 10.0.0.1" is not a route: write "DEST via GATEWAY", e.g. "10.2.0.0/24 via 10.9.0.2" or "default via 10.9.0.1"',
        'lab.yaml:15:34 captures.all.of[1]: "web:eth7": web has eth0',
        'lab.yaml:15:46 captures.all.of[2]: "ghost" is not a network, switch or node of this lab (networks: a, b, c, d, e)',
      ].join('\n'),
    );
  });
});
