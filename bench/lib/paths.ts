/**
 * The harness the forwarding benchmarks share: two containers A and B joined
 * by a "path" (a forwarder process holding two TAPs, or a Linux bridge in a
 * throwaway namespace), and iperf3 between them. Used by bench/tap-forward
 * and bench/bridge; everything a path creates is removed when its function
 * returns, even on failure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab } from '../../src/lab/lab.js';
import type { Container } from '../../src/lab/netns.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Addresses of A and B: only inside the namespaces a path creates. */
export interface PairAddresses {
  aIp: string;
  bIp: string;
  aMac: string;
  bMac: string;
}

export const NO_IPV6 = { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' };

export function sh(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function onPath(tool: string): boolean {
  try {
    sh(['sh', '-c', `command -v ${tool}`]);
    return true;
  } catch {
    return false;
  }
}

/** Two containers A and B, however they are joined. */
export interface Pair {
  addresses: PairAddresses;
  a: Container;
  b: Container;
}

/** A way of joining A and B: sets them up, runs `fn`, tears everything down. */
export type Path = <T>(fn: (p: Pair) => Promise<T>) => Promise<T>;

/** iperf3 from A to B (B to A with `reverse`): Gbit/s received. */
export async function iperf(p: Pair, seconds: number, reverse: boolean): Promise<number> {
  return (await iperfRun(p, seconds, reverse)).gbps;
}

/** iperf3 from A to B (B to A with `reverse`): Gbit/s and bytes received. */
export async function iperfRun({ a, b, addresses }: Pair, seconds: number, reverse: boolean): Promise<{ gbps: number; bytes: number }> {
  const server = b.spawn(['iperf3', '-s', '-1', '--forceflush', '-B', addresses.bIp]);
  try {
    await server.waitFor(/Server listening/, 5000);
    const args = ['iperf3', '-c', addresses.bIp, '-t', String(seconds), '-J', '--connect-timeout', '3000'];
    if (reverse) args.push('-R');
    const r = await a.exec(args, { timeoutMs: (seconds + 15) * 1000 });
    const json = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second?: number; bytes?: number } }; error?: string };
    if (json.error) throw new Error(`iperf3: ${json.error}`);
    return { gbps: (json.end?.sum_received?.bits_per_second ?? 0) / 1e9, bytes: json.end?.sum_received?.bytes ?? 0 };
  } finally {
    await server.kill('SIGKILL');
  }
}

export interface Forwarder {
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Starts a process that creates the TAPs it is given and prints READY. */
export function startForwarder(argv: string[]): Promise<Forwarder> {
  return new Promise((resolve, reject) => {
    const proc = spawn(argv[0]!, argv.slice(1), { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${argv.join(' ')} did not print READY: ${err}`));
    }, 15000);
    proc.stdout!.on('data', (d: Buffer) => {
      if (!d.toString().includes('READY')) return;
      clearTimeout(timer);
      resolve({
        proc,
        stop: () =>
          new Promise<void>((res) => {
            if (proc.exitCode !== null || proc.signalCode !== null) return res();
            proc.once('exit', () => res());
            proc.kill('SIGTERM');
            setTimeout(() => proc.kill('SIGKILL'), 3000).unref();
          }),
      });
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(' ')} exited (${code}): ${err}`));
    });
  });
}

/** A and B on two TAPs held by a forwarder process (the wirelab switch or tapfwd). */
export function throughTaps(argv: (ta: string, tb: string) => string[], addresses: PairAddresses): Path {
  return async (fn) => {
    const id = randomBytes(3).toString('hex');
    const ta = `wlq${id}a`;
    const tb = `wlq${id}b`;
    const fwd = await startForwarder(argv(ta, tb));
    const lab = new Lab();
    try {
      const a = await lab.container({ link: ta, address: `${addresses.aIp}/24`, mac: addresses.aMac, sysctls: NO_IPV6 });
      const b = await lab.container({ link: tb, address: `${addresses.bIp}/24`, mac: addresses.bMac, sysctls: NO_IPV6 });
      await a.exec(['ping', '-c', '1', '-W', '2', addresses.bIp], { check: true });
      return await fn({ a, b, addresses });
    } finally {
      await lab.close();
      await fwd.stop();
    }
  };
}

/** A and B on veths into a Linux bridge that lives in its own throwaway namespace. */
export function kernelBridge(offloads: boolean, addresses: PairAddresses): Path {
  return async (fn) => {
    const id = randomBytes(3).toString('hex');
    const brNs = `wl-br${id}`;
    const lab = new Lab();
    sh(['ip', 'netns', 'add', brNs]);
    try {
      sh(['ip', '-n', brNs, 'link', 'add', 'br0', 'type', 'bridge']);
      sh(['ip', '-n', brNs, 'link', 'set', 'br0', 'up']);
      const ends: string[] = [];
      for (const side of ['a', 'b']) {
        const outer = `wlw${id}${side}`;
        // Made inside the bridge namespace; the outer end visits the root
        // namespace only until the lab moves it into its container.
        sh(['ip', '-n', brNs, 'link', 'add', `p${side}`, 'type', 'veth', 'peer', 'name', outer, 'netns', '1']);
        sh(['ip', '-n', brNs, 'link', 'set', `p${side}`, 'master', 'br0', 'up']);
        if (!offloads) sh(['ip', 'netns', 'exec', brNs, 'ethtool', '-K', `p${side}`, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
        ends.push(outer);
      }
      const a = await lab.container({ link: ends[0]!, address: `${addresses.aIp}/24`, mac: addresses.aMac, sysctls: NO_IPV6 });
      const b = await lab.container({ link: ends[1]!, address: `${addresses.bIp}/24`, mac: addresses.bMac, sysctls: NO_IPV6 });
      if (!offloads) {
        for (const c of [a, b]) await c.exec(['ethtool', '-K', c.ifname, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
      }
      await a.exec(['ping', '-c', '1', '-W', '2', addresses.bIp], { check: true });
      return await fn({ a, b, addresses });
    } finally {
      await lab.close();
      try {
        sh(['ip', 'netns', 'del', brNs]);
      } catch {
        // already gone
      }
    }
  };
}


/**
 * A and B on veth pairs whose outer ends stay in the root namespace, where a
 * forwarder process attaches to them (AF_PACKET). `offloads: false` turns
 * TSO/GSO/GRO off on every end, as `kernelBridge` does.
 */
export function throughVeths(argv: (va: string, vb: string) => string[], offloads: boolean, addresses: PairAddresses): Path {
  return async (fn) => {
    const id = randomBytes(3).toString('hex');
    const lab = new Lab();
    const outer = [`wlv${id}a`, `wlv${id}b`];
    let fwd: Forwarder | undefined;
    try {
      const inner: string[] = [];
      for (const o of outer) {
        sh(['ip', 'link', 'add', o, 'type', 'veth', 'peer', 'name', `${o}0`]);
        sh(['sysctl', '-q', '-w', `net.ipv6.conf.${o}.disable_ipv6=1`]);
        sh(['ip', 'link', 'set', o, 'up']);
        if (!offloads) sh(['ethtool', '-K', o, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
        inner.push(`${o}0`);
      }
      const a = await lab.container({ link: inner[0]!, address: `${addresses.aIp}/24`, mac: addresses.aMac, sysctls: NO_IPV6 });
      const b = await lab.container({ link: inner[1]!, address: `${addresses.bIp}/24`, mac: addresses.bMac, sysctls: NO_IPV6 });
      if (!offloads) {
        for (const c of [a, b]) await c.exec(['ethtool', '-K', c.ifname, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
      }
      fwd = await startForwarder(argv(outer[0]!, outer[1]!));
      await a.exec(['ping', '-c', '1', '-W', '2', addresses.bIp], { check: true });
      return await fn({ a, b, addresses });
    } finally {
      await fwd?.stop();
      await lab.close();
      for (const o of outer) {
        try {
          sh(['ip', 'link', 'del', o]);
        } catch {
          // gone with its peer's namespace
        }
      }
    }
  };
}
