/**
 * A wirelab switch in one program: opens one TAP per port, plugs them all
 * into a `Bridge` (MAC learning, flooding, VLAN access and trunk ports) and
 * switches until SIGTERM or Ctrl-C, then prints each port's counters and the
 * forwarding database.
 *
 *   node --import tsx examples/switch.ts [--vnet] [--pcap FILE] PORT...
 *
 *   PORT  TAP              access port in VLAN 1
 *         TAP:10           access port in VLAN 10
 *         TAP:trunk=10,20  trunk carrying VLANs 10 and 20 tagged
 *
 *   --vnet       open the TAPs with IFF_VNET_HDR (checksum and TSO offload)
 *   --pcap FILE  mirror every port into FILE (pcapng, one interface per port)
 *
 * It prints READY once every TAP exists, so a script (bench/bridge.ts) can
 * then move the TAPs into containers:
 *
 *   node --import tsx examples/switch.ts tapA:10 tapB:10 tapC:20 &
 *   ip link set tapA netns …   # or `new Lab().container({ link: 'tapA', … })`
 */
import { PcapngWriter } from '../src/link/pcap.js';
import { openTap, type TapPort } from '../src/link/tap.js';
import { Bridge, type PortVlanConfig } from '../src/switch/index.js';
import { RealClock } from '../src/time/clock.js';

interface PortSpec {
  tap: string;
  vlan: PortVlanConfig;
}

function vid(text: string, spec: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 4094) throw new Error(`port "${spec}": VLAN "${text}" is not 1..4094`);
  return n;
}

function parsePort(spec: string): PortSpec {
  const [tap, vlan] = spec.split(':', 2) as [string, string | undefined];
  if (tap === '') throw new Error(`port "${spec}": no TAP name`);
  if (vlan === undefined) return { tap, vlan: { mode: 'access', pvid: 1 } };
  const trunk = /^trunk=(.+)$/.exec(vlan);
  if (trunk !== null) return { tap, vlan: { mode: 'trunk', allowed: trunk[1]!.split(',').map((v) => vid(v, spec)) } };
  return { tap, vlan: { mode: 'access', pvid: vid(vlan, spec) } };
}

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: node --import tsx examples/switch.ts [--vnet] [--pcap FILE] TAP[:VLAN|:trunk=V,V…]...\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
const vnetHdr = args.includes('--vnet');
const pi = args.indexOf('--pcap');
const pcapFile = pi >= 0 ? args[pi + 1] : undefined;
if (pi >= 0 && pcapFile === undefined) usage('--pcap needs a file name');
const specs = args.filter((a, i) => !a.startsWith('--') && !(pi >= 0 && i === pi + 1));
if (specs.length === 0) usage('no ports given');

let ports: PortSpec[] = [];
try {
  ports = specs.map(parsePort);
} catch (e) {
  usage(e instanceof Error ? e.message : String(e));
}

const clock = new RealClock();
const bridge = new Bridge({ clock, name: 'br0' });
const taps: TapPort[] = [];
for (const p of ports) {
  const tap = openTap(p.tap, { vnetHdr });
  taps.push(tap);
  bridge.addPort(tap, p.vlan);
}
let writer: PcapngWriter | undefined;
let unmirror: (() => void) | undefined;
if (pcapFile !== undefined) {
  writer = new PcapngWriter(pcapFile);
  unmirror = bridge.mirror(writer);
}
process.stdout.write('READY\n');

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  unmirror?.();
  await writer?.close();
  process.stderr.write(`${bridge.formatPortCounters()}\n${bridge.formatFdb()}\n`);
  bridge.close();
  await Promise.all(taps.map((t) => t.close()));
  clock.close();
  process.exit(0);
}
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
