/**
 * A wirelab switch over TAP devices, as `wirelab switch` runs it: one TAP per
 * port, every port in one Bridge, optional pcapng mirror of every port to a
 * file or a stream (stdout, for `| wireshark -k -i -`).
 */
import type { Writable } from 'node:stream';
import { PcapngWriter } from '../link/pcap.js';
import { openTap, type TapPort } from '../link/tap.js';
import { Bridge, type PortVlanConfig } from '../switch/index.js';
import { RealClock } from '../time/index.js';

export interface SwitchPortSpec {
  tap: string;
  vlan: PortVlanConfig;
}

/** `tap0` (access VLAN 1), `tap0:10` (access VLAN 10), `tap0:trunk=10,20[,native=1]`. */
export function parseSwitchPort(spec: string): SwitchPortSpec {
  const colon = spec.indexOf(':');
  const tap = colon < 0 ? spec : spec.slice(0, colon);
  const vlan = colon < 0 ? undefined : spec.slice(colon + 1);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/.test(tap)) throw new Error(`port "${spec}": "${tap}" is not a valid interface name (1-15 characters)`);
  if (vlan === undefined) return { tap, vlan: { mode: 'access', pvid: 1 } };
  const trunk = /^trunk=([0-9,]+?)(?:,native=(\d+))?$/.exec(vlan);
  if (trunk) {
    const allowed = trunk[1]!.split(',').filter(Boolean).map((v) => vid(v, spec));
    if (allowed.length === 0) throw new Error(`port "${spec}": a trunk needs at least one VLAN`);
    return { tap, vlan: trunk[2] !== undefined ? { mode: 'trunk', allowed, native: vid(trunk[2], spec) } : { mode: 'trunk', allowed } };
  }
  if (/^\d+$/.test(vlan)) return { tap, vlan: { mode: 'access', pvid: vid(vlan, spec) } };
  throw new Error(`port "${spec}": expected TAP, TAP:VLAN or TAP:trunk=V,V[,native=V]`);
}

function vid(text: string, spec: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 4094) throw new Error(`port "${spec}": VLAN ${text} is outside 1..4094`);
  return n;
}

export interface RunningSwitch {
  readonly bridge: Bridge;
  readonly taps: TapPort[];
  stop(): Promise<void>;
}

export function startSwitch(opts: { ports: SwitchPortSpec[]; vnetHdr?: boolean; pcap?: string | Writable; agingMs?: number }): RunningSwitch {
  const names = new Set<string>();
  for (const p of opts.ports) {
    if (names.has(p.tap)) throw new Error(`port ${p.tap} is given twice`);
    names.add(p.tap);
  }
  const clock = new RealClock();
  const bridge = new Bridge({ clock, name: 'br0', ...(opts.agingMs !== undefined ? { agingMs: opts.agingMs } : {}) });
  const taps: TapPort[] = [];
  try {
    for (const p of opts.ports) {
      const t = openTap(p.tap, { vnetHdr: opts.vnetHdr ?? false });
      taps.push(t);
      bridge.addPort(t, p.vlan);
    }
  } catch (e) {
    for (const t of taps) void t.close();
    clock.close();
    throw e;
  }
  const writer = opts.pcap !== undefined ? new PcapngWriter(opts.pcap) : undefined;
  const unmirror = writer ? bridge.mirror(writer) : undefined;
  let stopped: Promise<void> | undefined;
  return {
    bridge,
    taps,
    stop: () =>
      (stopped ??= (async () => {
        unmirror?.();
        await writer?.close();
        bridge.close();
        await Promise.all(taps.map((t) => t.close()));
        clock.close();
      })()),
  };
}
