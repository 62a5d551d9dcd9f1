/**
 * The success result of ADD (SPEC.md, "Success"), in the form of the
 * configuration's cniVersion: 1.0.0's `ips` have no `version`, 0.3.x and
 * 0.4.0's carry `"version": "4"`. A result from an earlier plugin of the
 * chain (`prevResult`) is kept and ours appended, with interface indexes
 * shifted past its interfaces.
 */

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
}

export interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
  version?: '4' | '6';
}

export interface CniResult {
  cniVersion: string;
  interfaces: CniInterface[];
  ips: CniIp[];
  routes: Array<{ dst: string; gw?: string }>;
  dns: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

export interface Attached {
  ifname: string;
  mac: string;
  sandbox: string;
  address: string;
  gateway: string;
  defaultRoute: boolean;
  dns: { nameservers: string[]; search: string[] } | undefined;
}

function arrayOf<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : [];
}

/** The result for `cniVersion`, after `prev` (a previous plugin's, if any). */
export function buildResult(cniVersion: string, a: Attached, prev?: Record<string, unknown>): CniResult {
  const old = cniVersion.startsWith('0.');
  const interfaces = arrayOf<CniInterface>(prev?.interfaces);
  const index = interfaces.length;
  const prevDns = (prev?.dns ?? {}) as CniResult['dns'];
  return {
    cniVersion,
    interfaces: [...interfaces, { name: a.ifname, mac: a.mac, sandbox: a.sandbox }],
    ips: [...arrayOf<CniIp>(prev?.ips), { ...(old ? { version: '4' as const } : {}), address: a.address, gateway: a.gateway, interface: index }],
    routes: [...arrayOf<{ dst: string; gw?: string }>(prev?.routes), ...(a.defaultRoute ? [{ dst: '0.0.0.0/0', gw: a.gateway }] : [])],
    dns: a.dns === undefined ? prevDns : { ...prevDns, nameservers: [...(prevDns.nameservers ?? []), ...a.dns.nameservers], search: [...(prevDns.search ?? []), ...a.dns.search] },
  };
}
