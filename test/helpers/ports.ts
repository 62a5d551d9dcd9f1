/**
 * A loopback TCP port for a test to publish or serve on. `20000 + pid %
 * 20000` reached into Linux's ephemeral range (ip_local_port_range starts at
 * 32768), where the kernel hands ports to outgoing connections: CI once
 * found its pick taken ("EADDRINUSE 127.0.0.1:34840"). This keeps to
 * 20000–32767, starts from the pid so concurrent runs differ, and skips a
 * port that something is listening on or bound to right now.
 */
import net from 'node:net';

const LOW = 20000;
const SPAN = 32768 - LOW;

function free(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A port in 20000–32767 chosen from the pid and `salt` (one test file's distinct ports), not checked. */
export function pickLoopbackPort(salt = 0, attempt = 0): number {
  return LOW + ((process.pid * 7 + salt * 101 + attempt * 13) % SPAN);
}

/** A port in 20000–32767 free on 127.0.0.1 now; `salt` gives one test file several distinct ports. */
export async function loopbackPort(salt = 0): Promise<number> {
  for (let i = 0; i < 64; i++) {
    const port = pickLoopbackPort(salt, i);
    if (await free(port)) return port;
  }
  throw new Error('no free TCP port on 127.0.0.1 between 20000 and 32767');
}
