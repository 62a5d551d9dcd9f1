/**
 * The errors port publishing raises, each a sentence a user can act on:
 * the host port is taken (by another mapping of this process, named, or by
 * another program), or it is privileged and the process lacks the right to
 * bind it. They keep Node's `code` (`EADDRINUSE`, `EACCES`) so callers can
 * branch on it.
 */
import { formatPortMapping, type PortMapping } from './portspec.js';

export interface PublishError extends Error {
  code: string;
  /** The mapping that could not be published. */
  mapping: PortMapping;
}

function publishError(code: string, mapping: PortMapping, message: string, cause?: unknown): PublishError {
  const e = new Error(message, cause === undefined ? undefined : { cause }) as PublishError;
  e.code = code;
  e.mapping = mapping;
  return e;
}

/** A mapping that collides with one this process already published. */
export function inUseByMapping(mapping: PortMapping, owner: string): PublishError {
  return publishError(
    'EADDRINUSE',
    mapping,
    `cannot publish ${formatPortMapping(mapping)}: host port ${mapping.hostIp}:${mapping.hostPort}/${mapping.protocol} is already published by ${owner}`,
  );
}

/** Turns the host socket's bind error into a sentence naming the port and the cause. */
export function listenError(err: NodeJS.ErrnoException, mapping: PortMapping): PublishError {
  const where = `${mapping.hostIp}:${mapping.hostPort === 0 ? '(random)' : mapping.hostPort}/${mapping.protocol}`;
  const what = `cannot publish ${formatPortMapping(mapping)}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return publishError('EADDRINUSE', mapping, `${what}: host port ${where} is already in use by another program`, err);
    case 'EACCES':
    case 'EPERM':
      if (mapping.hostPort === 0 || mapping.hostPort >= 1024) {
        return publishError('EACCES', mapping, `${what}: this process may not bind host port ${where} (permission denied)`, err);
      }
      return publishError(
        'EACCES',
        mapping,
        `${what}: host port ${mapping.hostPort} is below 1024 and this process may not bind it ` +
          '(run as root, grant CAP_NET_BIND_SERVICE, lower net.ipv4.ip_unprivileged_port_start, or publish a port ≥ 1024)',
        err,
      );
    case 'EADDRNOTAVAIL':
      return publishError('EADDRNOTAVAIL', mapping, `${what}: host address ${mapping.hostIp} is not an address of this machine`, err);
    default:
      return publishError(err.code ?? 'EINVAL', mapping, `${what}: ${err.message}`, err);
  }
}
