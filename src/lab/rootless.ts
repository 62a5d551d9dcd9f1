/**
 * Labs without root, as rootless podman runs containers: `wirelab up` and
 * `wirelab demo` run again inside a new user namespace (the user mapped to
 * root in it) with their own network and mount namespaces, and make the lab's
 * namespaces in there.
 *
 * What the inside needs, set up by a few shell lines before Node starts
 * (unshare(1) makes the namespaces; everything below is private to them):
 * - a tmpfs on /run, for `ip netns` (/run/netns) and wirelab's registry and
 *   control sockets (/run/wirelab);
 * - a tmpfs on /etc/netns, where each container's resolv.conf and hosts go
 *   (`ip netns exec` bind-mounts them); where /etc/netns does not exist, a
 *   private overlay of /etc (upper layer on that tmpfs) so it can be made;
 * - loopback up.
 * Containers are attached by TAP where /dev/net/tun opens for the user, else
 * by veth pairs whose outer ends wirelab holds through AF_PACKET
 * (container-link.ts). Everything dies with the namespaces when the process
 * exits, so a rootless lab cannot leak interfaces or namespaces onto the host.
 *
 * Published ports (proxy mode): the inside's 127.0.0.1 is not the user's. So
 * this outer process, still in the user's network namespace, binds each
 * published TCP port itself and hands the listening socket to the inner
 * process over Node's IPC channel (`subprocess.send(msg, server)`); the
 * inner TCP proxy serves on it (src/nat/inherited-listeners.ts). Sockets keep
 * their namespace, so connections to the user's 127.0.0.1:PORT reach the lab.
 * The outer process then only waits, passing signals on. UDP ports and
 * random host ports stay inside (said in one line).
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { adoptTcpListener } from '../nat/inherited-listeners.js';
import { containerLinkKind } from './container-link.js';

/** Set (to 1) in the process running inside the user namespace. */
export const ROOTLESS_ENV = 'WIRELAB_ROOTLESS';
/** Set to 1 to act as if user namespaces were unavailable (the in-memory fallback). */
export const NO_USERNS_ENV = 'WIRELAB_NO_USERNS';

/** A published TCP port to bind in the user's own namespace. */
export interface HostListener {
  hostIp: string;
  hostPort: number;
}

/** True in the process re-executed inside the user namespace. */
export function insideUserNamespace(): boolean {
  // The channel too: a stray WIRELAB_ROOTLESS in a root shell changes nothing.
  return process.env[ROOTLESS_ENV] === '1' && typeof process.send === 'function';
}

/** Why this process cannot make a user namespace with its own network, or undefined when it can. */
export function userNamespaceProblem(): string | undefined {
  if (process.env[NO_USERNS_ENV] === '1') return `user namespaces turned off (${NO_USERNS_ENV}=1)`;
  const r = spawnSync('unshare', ['--user', '--map-root-user', '--net', '--mount', 'true'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error !== undefined) return `cannot run unshare (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}; it is in util-linux)`;
  if (r.status !== 0) return `the kernel refused a user namespace (${r.stderr.trim().replace(/^unshare: /, '') || `exit ${r.status}`})`;
  return undefined;
}

/** The shell lines run inside the new namespaces before Node (see the header). */
const SETUP = [
  'set -e',
  'mount -t tmpfs -o mode=755 wirelab-run /run',
  'if [ -d /etc/netns ]; then mount -t tmpfs -o mode=755 wirelab-etc /etc/netns',
  // No /etc/netns to mount on (and /etc is not ours): a private overlay of /etc where we may create it.
  'else mkdir -p /run/.wirelab-etc/upper /run/.wirelab-etc/work && mount -t overlay wirelab-etc ' +
    '-o lowerdir=/etc,upperdir=/run/.wirelab-etc/upper,workdir=/run/.wirelab-etc/work /etc ' +
    '|| echo "wirelab: cannot overlay /etc in the user namespace: containers keep the host\'s resolv.conf and hosts" >&2; fi',
  'ip link set lo up',
  'exec "$@"',
].join('\n');

interface ListenerMessage {
  wirelab: 'listeners?' | 'listener' | 'listeners-done' | 'host-exec' | 'host-exec-result';
  hostIp?: string;
  hostPort?: number;
  /** host-exec: the command to run in the user's namespace; its result. */
  id?: number;
  argv?: string[];
  ok?: boolean;
  out?: string;
}

function isListenerMessage(m: unknown): m is ListenerMessage {
  return typeof m === 'object' && m !== null && typeof (m as { wirelab?: unknown }).wirelab === 'string';
}

function bind(l: HostListener): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(`cannot publish ${l.hostIp}:${l.hostPort}: ${e.code === 'EADDRINUSE' ? 'the port is in use' : e.message}`)),
    );
    server.listen({ host: l.hostIp, port: l.hostPort, exclusive: true }, () => resolve(server));
  });
}

/**
 * Runs this same command (node, its flags, the script and its arguments)
 * again inside a new user, network and mount namespace, handing it the
 * listeners; resolves with its exit status (128 + n after signal n).
 */
export async function runInUserNamespace(listeners: readonly HostListener[]): Promise<number> {
  const servers: Array<{ l: HostListener; server: net.Server }> = [];
  try {
    for (const l of listeners) servers.push({ l, server: await bind(l) });
  } catch (e) {
    for (const s of servers) s.server.close();
    throw e;
  }
  const argv = [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  const child = spawn(
    'unshare',
    ['--user', '--map-root-user', '--net', '--mount', '--propagation', 'private', '--', 'sh', '-c', SETUP, 'wirelab-rootless', ...argv],
    // Its own process group: a terminal's Ctrl-C reaches it once, through us.
    { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env: { ...process.env, [ROOTLESS_ENV]: '1' }, detached: true },
  );
  child.on('message', (m: unknown) => {
    if (isListenerMessage(m) && m.wirelab === 'host-exec' && Array.isArray(m.argv) && m.argv.length > 0) {
      const [cmd, ...args] = m.argv;
      execFile(cmd!, args, { timeout: 15_000 }, (err, stdout, stderr) => {
        if (child.connected) child.send({ wirelab: 'host-exec-result', id: m.id, ok: err === null, out: err === null ? stdout : stderr || String(err) });
      });
      return;
    }
    if (!isListenerMessage(m) || m.wirelab !== 'listeners?') return;
    let pending = servers.length;
    const done = (): void => {
      if (child.connected) child.send({ wirelab: 'listeners-done' });
    };
    if (pending === 0) return done();
    for (const { l, server } of servers) {
      child.send({ wirelab: 'listener', hostIp: l.hostIp, hostPort: l.hostPort }, server, () => {
        // The child holds its own copy of the socket now; ours would take connections too.
        server.close();
        if (--pending === 0) done();
      });
    }
  });
  const forward = (sig: NodeJS.Signals) => (): void => void child.kill(sig);
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((sig) => [sig, forward(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (e) => reject(new Error(`cannot run unshare: ${e.message}`)));
      child.once('exit', (code, signal) => {
        if (signal !== null) resolve(128 + (signalNumber(signal) ?? 0));
        else resolve(code ?? 1);
      });
    });
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
    for (const s of servers) if (s.server.listening) s.server.close();
  }
}

function signalNumber(sig: NodeJS.Signals): number | undefined {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Partial<Record<NodeJS.Signals, number>>)[sig];
}

/**
 * Inside: asks the outer process for its listeners and keeps each for the
 * TCP proxy of its address; resolves once all have arrived. A no-op when
 * there is no outer process (no IPC channel).
 */
export function receiveListeners(timeoutMs = 10_000): Promise<void> {
  const send = process.send?.bind(process);
  if (send === undefined) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      process.off('message', onMessage);
      reject(new Error('the outer wirelab process did not hand over the published ports'));
    }, timeoutMs);
    const onMessage = (m: unknown, handle: unknown): void => {
      if (!isListenerMessage(m)) return;
      if (m.wirelab === 'listener' && handle instanceof net.Server && m.hostIp !== undefined && m.hostPort !== undefined) {
        adoptTcpListener(m.hostIp, m.hostPort, handle);
      } else if (m.wirelab === 'listeners-done') {
        clearTimeout(timer);
        process.off('message', onMessage);
        // Nothing more comes this way: let the channel stop holding the loop open.
        process.channel?.unref();
        // The outer process gone (killed): take the lab down as on SIGTERM rather than run on unseen.
        process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
        resolve();
      }
    };
    process.on('message', onMessage);
    send({ wirelab: 'listeners?' });
  });
}

let nextExecId = 1;

/**
 * Inside: runs `argv` in the user's own network namespace, by the outer
 * process (the demo's `host$ curl` of a published port must come from where
 * the user is). Resolves with whether it exited 0 and its stdout (stderr
 * when it failed).
 */
export function hostExec(argv: readonly string[], timeoutMs = 20_000): Promise<{ ok: boolean; out: string }> {
  const send = process.send?.bind(process);
  if (send === undefined) return Promise.resolve({ ok: false, out: 'no outer wirelab process to run it' });
  const id = nextExecId++;
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish({ ok: false, out: `the outer wirelab process did not run ${argv.join(' ')}` }), timeoutMs);
    const finish = (r: { ok: boolean; out: string }): void => {
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(r);
    };
    const onMessage = (m: unknown): void => {
      if (isListenerMessage(m) && m.wirelab === 'host-exec-result' && m.id === id) finish({ ok: m.ok === true, out: m.out ?? '' });
    };
    process.on('message', onMessage);
    send({ wirelab: 'host-exec', id, argv: [...argv] });
  });
}

/** One line for the inside: how containers get their interfaces there. */
export function insideNote(): string {
  return containerLinkKind() === 'tap'
    ? '(inside the user namespace: containers attached by TAP devices)'
    : '(inside the user namespace: containers attached by veth pairs held through AF_PACKET; /dev/net/tun is not open to this user)';
}
