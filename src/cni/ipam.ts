/**
 * Delegated IPAM (SPEC.md, "Delegated plugins"): with `"ipam": {"type":
 * "host-local", …}` in the configuration, the address comes from that
 * plugin instead of the lab's own allocator. The plugin is found in
 * CNI_PATH and run as the runtime ran us: the same CNI_* variables, the same
 * configuration on stdin; its result's first IPv4 address is the one the
 * lab is asked to use (it must lie in the network's subnet). DEL is passed
 * on too, so the delegate frees what it handed out.
 */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { run } from '../lab/command.js';
import { CNI_CODE, CniError } from './errors.js';

/** The first executable `type` in `dirs`. */
function findPlugin(type: string, dirs: readonly string[]): string {
  for (const d of dirs) {
    const p = join(d, type);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not in this directory
    }
  }
  throw new CniError(CNI_CODE.invalidConfig, `IPAM plugin ${type} is not in CNI_PATH (${dirs.join(':') || 'empty'})`);
}

/** Runs the delegate with `command`; returns its parsed stdout (ADD) or throws its error as ours. */
export async function delegateIpam(type: string, command: 'ADD' | 'DEL' | 'CHECK', stdin: string, env: NodeJS.ProcessEnv, dirs: readonly string[]): Promise<unknown> {
  const path = findPlugin(type, dirs);
  const r = await run([path], { input: stdin, env: { ...env, CNI_COMMAND: command }, timeoutMs: 30_000 });
  let out: unknown;
  try {
    out = r.stdout.trim() === '' ? undefined : JSON.parse(r.stdout);
  } catch {
    out = undefined;
  }
  if (r.code !== 0) {
    const e = out as { msg?: unknown; details?: unknown } | undefined;
    const msg = typeof e?.msg === 'string' ? e.msg : r.stderr.trim() || `exit ${String(r.code)}`;
    throw new CniError(CNI_CODE.ipam, `IPAM plugin ${type} ${command} failed: ${msg}`, typeof e?.details === 'string' ? e.details : '');
  }
  return out;
}

/** The first IPv4 address (without its prefix length) of an IPAM result. */
export function firstIPv4(result: unknown, type: string): string {
  const ips = (result as { ips?: Array<{ address?: unknown }> } | undefined)?.ips ?? [];
  for (const ip of ips) {
    const m = typeof ip.address === 'string' ? /^(\d+\.\d+\.\d+\.\d+)\/\d+$/.exec(ip.address) : null;
    if (m !== null) return m[1]!;
  }
  throw new CniError(CNI_CODE.ipam, `IPAM plugin ${type} returned no IPv4 address`);
}
