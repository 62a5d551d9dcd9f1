/**
 * Host listeners opened by another process and handed to this one.
 *
 * Why: a lab without root runs inside its own user and network namespaces
 * (src/lab/rootless.ts), where a socket bound to 127.0.0.1 is the new
 * namespace's loopback, unreachable from the user's. So the process that
 * stays in the user's namespace binds each published TCP port first and
 * passes the listening socket over Node's IPC channel (`subprocess.send(msg,
 * server)`, SCM_RIGHTS underneath); a socket keeps the namespace it was made
 * in. The TCP proxy (proxy-tcp.ts) takes an inherited listener for its
 * address instead of binding one.
 */
import type net from 'node:net';

const listeners = new Map<string, net.Server>();

function key(hostIp: string, hostPort: number): string {
  return `tcp/${hostIp}:${hostPort}`;
}

/** Keeps `server` (already listening, in another namespace) for the proxy of hostIp:hostPort. */
export function adoptTcpListener(hostIp: string, hostPort: number, server: net.Server): void {
  listeners.set(key(hostIp, hostPort), server);
}

/** The inherited listener for hostIp:hostPort, removed from the registry (each is used once), or undefined. */
export function takeTcpListener(hostIp: string, hostPort: number): net.Server | undefined {
  const k = key(hostIp, hostPort);
  const s = listeners.get(k);
  listeners.delete(k);
  return s;
}
