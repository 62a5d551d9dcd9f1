/**
 * `networks.<n>.vxlan` and `dns.peers` in the lab file: the VXLAN example
 * labs load to the model `wirelab up` builds from (MTU 1450 by default, the
 * port 4789), and every mistake is named at its line and field. Pure: no
 * root, no namespaces.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import { LabFileError, loadLabFile, parseLabText } from '../../src/lab/file/index.js';
import { openVxlanPort } from '../../src/lab/vxlan-link.js';
import { VirtualClock } from '../../src/time/index.js';

const example = (name: string): string => join(import.meta.dirname, '..', '..', 'examples', 'labs', 'vxlan', name);

function errorOf(text: string): string {
  try {
    parseLabText(text, 'lab.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(LabFileError);
    return (err as LabFileError).message;
  }
  throw new Error('the lab loaded, but an error was expected');
}

const lab = (vxlan: string, extra = ''): string => `${extra}networks:
  overlay:
    vxlan: ${vxlan}
services:
  a: {}
`;

describe('VXLAN in the lab file', () => {
  it('the example labs: VNI 42 both sides, MTU 1450, each lab the other\'s DNS peer', () => {
    const a = loadLabFile(example('site-a.yaml'));
    const b = loadLabFile(example('site-b.yaml'));
    expect(a.networks[0]).toMatchObject({ name: 'overlay', subnet: '10.42.0.0/24', gateway: '10.42.0.1', mtu: 1450, vxlan: { vni: 42, remotes: ['198.51.100.2'], port: 4789, local: '198.51.100.1' } });
    expect(b.networks[0]).toMatchObject({ gateway: '10.42.0.2', mtu: 1450, vxlan: { vni: 42, remotes: ['198.51.100.1'], port: 4789, local: '198.51.100.2' } });
    expect(a.dns).toEqual({ peers: ['10.42.0.2'] });
    expect(b.dns).toEqual({ peers: ['10.42.0.1'] });
    expect(a.services[0]!.networks[0]!.ipv4Address).toBe('10.42.0.11');
    expect(b.services[0]!.networks[0]!.ipv4Address).toBe('10.42.0.21');
  });

  it('a written mtu wins; without vxlan the model has no vxlan or dns key', () => {
    const m = parseLabText(lab('{ vni: 7, remotes: [10.0.0.2] }').replace('    vxlan:', '    mtu: 1400\n    vxlan:'), 'lab.yaml');
    expect(m.networks[0]).toMatchObject({ mtu: 1400, vxlan: { vni: 7, port: 4789, local: undefined } });
    const plain = parseLabText('services:\n  a: {}\nnetworks:\n  n: {}\n', 'lab.yaml');
    expect(plain.networks[0]!.mtu).toBe(1500);
    expect('vxlan' in plain.networks[0]!).toBe(false);
    expect('dns' in plain).toBe(false);
  });

  it('bad VNI, remotes, port, local and unknown keys: each at its line and field', () => {
    expect(errorOf(lab('{ vni: 0, remotes: [10.0.0.2] }'))).toBe('lab.yaml:3:19 networks.overlay.vxlan.vni: must be a VXLAN network identifier from 1 to 16777215');
    expect(errorOf(lab('{ vni: 16777216, remotes: [10.0.0.2] }'))).toBe('lab.yaml:3:19 networks.overlay.vxlan.vni: must be a VXLAN network identifier from 1 to 16777215');
    expect(errorOf(lab('{ vni: "42", remotes: [10.0.0.2] }'))).toBe('lab.yaml:3:19 networks.overlay.vxlan.vni: must be a VXLAN network identifier from 1 to 16777215, not a string ("42")');
    expect(errorOf(lab('{ vni: 42, remotes: [10.0.0.2, host-b] }'))).toBe('lab.yaml:3:43 networks.overlay.vxlan.remotes[1]: must be an IPv4 address such as 172.30.0.10');
    expect(errorOf(lab('{ vni: 42, remotes: [] }'))).toBe('lab.yaml:3:32 networks.overlay.vxlan.remotes: must list at least one remote VTEP address');
    expect(errorOf(lab('{ vni: 42, remotes: 10.0.0.2 }'))).toBe('lab.yaml:3:32 networks.overlay.vxlan.remotes: must be a list of the remote VTEPs\' IPv4 addresses, not a string ("10.0.0.2")');
    expect(errorOf(lab('{ vni: 42, remotes: [10.0.0.2], port: 70000 }'))).toBe('lab.yaml:3:50 networks.overlay.vxlan.port: must be a UDP port from 1 to 65535');
    expect(errorOf(lab('{ vni: 42, remotes: [10.0.0.2], local: 300.1.1.1 }'))).toBe('lab.yaml:3:51 networks.overlay.vxlan.local: must be an IPv4 address such as 172.30.0.10');
    expect(errorOf(lab('{ vni: 42, remotes: [10.0.0.2], group: 239.1.1.1 }'))).toBe('lab.yaml:3:44 networks.overlay.vxlan.group: unknown key "group"');
    expect(errorOf(lab('{ remotes: [10.0.0.2] }'))).toBe('lab.yaml:3:12 networks.overlay.vxlan.vni: is required');
  });

  it('a remote listed twice or equal to local, and two networks on one VXLAN port', () => {
    expect(errorOf(lab('{ vni: 42, remotes: [10.0.0.2, 10.0.0.2] }'))).toBe('lab.yaml:3:43 networks.overlay.vxlan.remotes[1]: remote 10.0.0.2 is listed twice');
    expect(errorOf(lab('{ vni: 42, remotes: [10.0.0.2], local: 10.0.0.2 }'))).toBe("lab.yaml:3:33 networks.overlay.vxlan.remotes[0]: remote 10.0.0.2 is this machine's own address (local:): it would flood to itself");
    expect(
      errorOf(`networks:
  a:
    vxlan: { vni: 1, remotes: [10.0.0.2] }
  b:
    vxlan: { vni: 2, remotes: [10.0.0.2], port: 4789 }
services:
  s: { networks: [a, b] }
`),
    ).toBe('lab.yaml:5:43 networks.b.vxlan.port: network a already listens for VXLAN on UDP port 4789: give this network a port: of its own');
  });

  it('dns.peers must be IPv4 addresses', () => {
    expect(errorOf(lab('{ vni: 42, remotes: [10.0.0.2] }', 'dns:\n  peers: [10.42.0.2, site-b]\n'))).toBe('lab.yaml:2:22 dns.peers[1]: must be an IPv4 address such as 172.30.0.10');
    expect(errorOf(lab('{ vni: 42, remotes: [10.0.0.2] }', 'dns:\n  peer: [10.42.0.2]\n'))).toBe('lab.yaml:2:3 dns.peers: is required\nlab.yaml:2:3 dns.peer: unknown key "peer"');
  });
});

describe('the README', () => {
  it('shows site-a.yaml as it is', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    expect(readme).toContain(`\`\`\`yaml\n${readFileSync(example('site-a.yaml'), 'utf8')}\`\`\``);
  });
});

describe('opening a lab network\'s VXLAN socket', () => {
  it('a bind failure is a sentence naming the network, the address and why', async () => {
    const vx = { vni: 42, remotes: ['127.0.0.2'], port: 4789 };
    await expect(openVxlanPort(new VirtualClock(), 'overlay', { ...vx, local: '198.51.100.77' }, 1450)).rejects.toThrow(
      'network overlay: cannot listen for VXLAN on UDP 198.51.100.77:4789: 198.51.100.77 is not an address of this host',
    );
    const taken = createSocket('udp4');
    await new Promise<void>((resolve) => taken.bind(0, '127.0.0.1', () => resolve()));
    const port = taken.address().port;
    try {
      await expect(openVxlanPort(new VirtualClock(), 'overlay', { ...vx, port, local: '127.0.0.1' }, 1450)).rejects.toThrow(
        `network overlay: cannot listen for VXLAN on UDP 127.0.0.1:${port}: the port is taken`,
      );
    } finally {
      taken.close();
    }
  });
});
