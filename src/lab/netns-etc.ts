/**
 * A container's own resolv.conf and hosts, the way `ip netns exec` provides
 * them: every file in /etc/netns/<namespace>/ is bind-mounted over the file
 * of the same name in /etc for the program it runs (iproute2's bind_etc), so
 * `getent hosts web`, `curl http://web/` and `dig web` inside the container
 * use the lab's DNS server while the host's own /etc stays untouched.
 *
 * The bind mount needs its target: if /etc/resolv.conf (or /etc/hosts) does
 * not exist in the root namespace — or is a dangling symlink, as with a
 * stopped systemd-resolved — `ip netns exec` only prints "Bind ... failed"
 * and the program sees no resolver at all. Creating the host's file would
 * change the host, so that case is refused up front with an error saying so.
 *
 * The directory is recorded in the registry before it is written, and
 * removed with the container (and by crash cleanup, `wirelab cleanup`).
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { parseIPv4 } from '../wire/address.js';
import { ETC_NETNS, forgetEtcDir, recordEtcDir, removeEtcDir } from './registry.js';

export interface ContainerDnsOptions {
  /** resolv.conf `nameserver` lines: IPv4 addresses, at most 3 (glibc reads no more). */
  nameservers: readonly string[];
  /** resolv.conf `search` domains, e.g. the network's name. */
  search?: readonly string[];
  /** resolv.conf `options`, e.g. ['ndots:1', 'timeout:2', 'attempts:2']. */
  options?: readonly string[];
  /** hosts entries besides localhost: name → IPv4 address (the container's own name, as Docker writes). */
  hosts?: Readonly<Record<string, string>>;
}

/** What gets written: file name → content. */
export interface EtcFiles {
  'resolv.conf': string;
  hosts: string;
}

const HOSTNAME = /^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?$/;
const DOMAIN = /^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?\.?$/;
const OPTION = /^[a-z][a-z0-9-]*(:\d{1,4})?$/;

/** Validates the options and renders the two files; throws an Error naming the bad value. */
export function renderEtcFiles(dns: ContainerDnsOptions): EtcFiles {
  const fail = (what: string): never => {
    throw new Error(`createContainer: dns: ${what}`);
  };
  if (!Array.isArray(dns.nameservers) || dns.nameservers.length === 0) fail('`nameservers` needs at least one IPv4 address');
  if (dns.nameservers.length > 3) fail(`${dns.nameservers.length} nameservers given; resolv.conf uses at most 3`);
  const lines: string[] = ['# written by wirelab for this container (ip netns exec bind-mounts it over /etc/resolv.conf)'];
  for (const ns of dns.nameservers) {
    try {
      parseIPv4(ns);
    } catch {
      fail(`nameserver "${ns}" is not an IPv4 address`);
    }
    lines.push(`nameserver ${ns}`);
  }
  const search = dns.search ?? [];
  for (const d of search) if (!DOMAIN.test(d) || d.includes('..')) fail(`search domain "${d}" is not a domain name`);
  if (search.length > 0) lines.push(`search ${search.join(' ')}`);
  const options = dns.options ?? [];
  for (const o of options) if (!OPTION.test(o)) fail(`resolv.conf option "${o}" is not like ndots:1 or edns0`);
  if (options.length > 0) lines.push(`options ${options.join(' ')}`);

  const hosts = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const [name, address] of Object.entries(dns.hosts ?? {})) {
    if (!HOSTNAME.test(name)) fail(`hosts name "${name}" is not a host name`);
    try {
      parseIPv4(address);
    } catch {
      fail(`hosts address "${address}" for ${name} is not an IPv4 address`);
    }
    hosts.push(`${address}\t${name}`);
  }
  return { 'resolv.conf': `${lines.join('\n')}\n`, hosts: `${hosts.join('\n')}\n` };
}

/**
 * Refuses (with the reason) when `ip netns exec` could not bind-mount the
 * files: the targets in the root namespace's /etc must exist.
 */
export function checkBindTargets(): void {
  for (const file of ['resolv.conf', 'hosts']) {
    const target = join('/etc', file);
    let ok = false;
    try {
      ok = statSync(target).isFile(); // follows a symlink: a dangling one fails too
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new Error(
        `createContainer: dns: ${target} does not exist (or is a dangling symlink) in the root namespace; ` +
          `\`ip netns exec\` can only bind-mount ${ETC_NETNS}/<namespace>/${file} over an existing file, and wirelab does not change the host's files. ` +
          `Create ${target} (it may be empty), then try again`,
      );
    }
  }
}

/** Writes /etc/netns/<ns>/{resolv.conf,hosts}, recorded first. Refuses a directory that is already there. */
export function writeEtcFiles(ns: string, files: EtcFiles): void {
  const dir = join(ETC_NETNS, ns);
  if (existsSync(dir)) throw new Error(`createContainer ${ns}: ${dir} already exists; not overwriting another program's files`);
  recordEtcDir(ns);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content, { mode: 0o644 });
  } catch (e) {
    removeEtcDir(ns);
    forgetEtcDir(ns);
    throw new Error(`createContainer ${ns}: cannot write ${dir}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
