/**
 * Errors shaped the way Node's `net` and `dgram` build them, shared by the
 * UDP and TCP socket APIs: system errors with errno and the address
 * (`connect ECONNREFUSED 10.0.0.2:80`, `listen EADDRINUSE: address already in
 * use 0.0.0.0:80`), Node's internal `ERR_*` errors, `getaddrinfo ENOTFOUND`,
 * and Node's port validation. Hand-written: these are Node's own message
 * formats, which no library reproduces.
 */
import { parseIPv4, type IPv4Address } from '../wire/address.js';

export interface SocketError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
  address?: string;
  port?: number;
  hostname?: string;
}

/** Linux errno values (Node reports them negated). */
const ERRNO: Readonly<Record<string, number>> = {
  EPERM: 1,
  EBADF: 9,
  EAGAIN: 11,
  EACCES: 13,
  EINVAL: 22,
  EPIPE: 32,
  ENONET: 64,
  EPROTO: 71,
  EMSGSIZE: 90,
  ENOPROTOOPT: 92,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTDOWN: 112,
  EHOSTUNREACH: 113,
};

/** libuv's uv_strerror text, used by Node in `listen` errors. */
const UV_MESSAGE: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  EINVAL: 'invalid argument',
};

/**
 * A system error as Node builds it: `connect ECONNREFUSED 10.0.0.2:80`
 * (exceptionWithHostPort), or with `uvMessage` `listen EADDRINUSE: address
 * already in use 0.0.0.0:80` (uvExceptionWithHostPort).
 */
export function systemError(code: string, syscall: string, address?: string, port?: number, uvMessage = false): SocketError {
  let details = '';
  if (address !== undefined && port !== undefined) details = ` ${address}:${port}`;
  else if (address !== undefined) details = ` ${address}`;
  const text = uvMessage ? `${syscall} ${code}: ${UV_MESSAGE[code] ?? code.toLowerCase()}${details}` : `${syscall} ${code}${details}`;
  const err = new Error(text) as SocketError;
  const errno = ERRNO[code];
  if (errno !== undefined) err.errno = -errno;
  err.code = code;
  err.syscall = syscall;
  if (address !== undefined) err.address = address;
  if (port !== undefined) err.port = port;
  return err;
}

/** Node's internal `ERR_*` errors: an Error (or subclass) with a `code`. */
export function nodeError(code: string, message: string, Ctor: ErrorConstructor = Error): SocketError {
  const err = new Ctor(message) as SocketError;
  err.code = code;
  return err;
}

/** `getaddrinfo ENOTFOUND name`, as Node reports a name it cannot resolve. */
export function notFound(hostname: string): SocketError {
  const err = systemError('ENOTFOUND', 'getaddrinfo', hostname);
  err.errno = -3008; // UV_EAI_NONAME
  err.hostname = hostname;
  return err;
}

/** How Node's validators describe a received value in their messages. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'function') return `function ${v.name}`;
  if (typeof v === 'object') return `an instance of ${v.constructor?.name ?? 'Object'}`;
  const shown = typeof v === 'string' ? `'${v.length > 25 ? v.slice(0, 25) + '...' : v}'` : String(v);
  return `type ${typeof v} (${shown})`;
}

/** Node's validatePort (ERR_SOCKET_BAD_PORT): an integer 0..65535, numeric strings allowed. */
export function validatePort(port: unknown, name = 'Port', allowZero = true): number {
  if (
    (typeof port !== 'number' && typeof port !== 'string') ||
    (typeof port === 'string' && port.trim().length === 0) ||
    +port !== +port >>> 0 ||
    +port > 0xffff ||
    (+port === 0 && !allowZero)
  ) {
    throw nodeError(
      'ERR_SOCKET_BAD_PORT',
      `${name} should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${describeValue(port)}.`,
      RangeError,
    );
  }
  return +port | 0;
}

/** An IPv4 literal or 'localhost'; undefined when it cannot be resolved without DNS. */
export function resolveHost(host: string): IPv4Address | undefined {
  if (host === 'localhost') return 0x7f000001;
  try {
    return parseIPv4(host);
  } catch {
    return undefined;
  }
}
