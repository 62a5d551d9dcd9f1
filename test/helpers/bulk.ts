/**
 * Bulk-transfer helpers for the TCP interop tests: a file of random bytes
 * with its SHA-256, and the python3 programs that play the kernel's side of
 * a bulk transfer (a sink that hashes what it receives, a source that sends
 * a file with sendfile()).
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Blob {
  path: string;
  sha: string;
  bytes: number;
}

/** A file of `mb` MiB of random bytes and its SHA-256. */
export function blob(dir: string, mb: number): Blob {
  const path = join(dir, `blob-${mb}-${randomBytes(3).toString('hex')}`);
  const h = createHash('sha256');
  const parts: Buffer[] = [];
  for (let i = 0; i < mb; i++) {
    const b = randomBytes(1 << 20);
    h.update(b);
    parts.push(b);
  }
  writeFileSync(path, Buffer.concat(parts));
  return { path, sha: h.digest('hex'), bytes: mb << 20 };
}

/** Listens on ip:port, prints 'ready', then the byte count and SHA-256 of what one connection sent. */
export const PY_SINK = (ip: string, port: number) => `
import socket, hashlib
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('${ip}', ${port}))
s.listen(1)
print('ready', flush=True)
c, _ = s.accept()
h = hashlib.sha256()
n = 0
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    h.update(b)
    n += len(b)
c.close()
print(n, h.hexdigest(), flush=True)
`;

/** Connects to ip:port, sends the file, half-closes, waits for the peer's close, prints 'sent'. */
export const PY_SOURCE = (ip: string, port: number, path: string) => `
import socket
s = socket.create_connection(('${ip}', ${port}), timeout=30)
with open('${path}', 'rb') as f:
    s.sendfile(f)
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
s.close()
print('sent', flush=True)
`;
