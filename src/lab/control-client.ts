/**
 * The client side of a lab's control socket: where it lives, and one
 * request — a JSON line out, a JSON line back. Kept apart from
 * src/lab/control.ts, which carries the whole server side (the lab, its
 * stacks and switches): the CLI and the CNI plugin (started once per
 * container and command) load only this and the registry's state directory.
 */
import net from 'node:net';
import { join } from 'node:path';
import { stateDir } from './registry.js';

/** Where running labs keep their control sockets. */
export function labsDir(): string {
  return join(stateDir(), 'labs');
}

export function controlSocketPath(lab: string): string {
  return join(labsDir(), `${lab}.sock`);
}

/** No lab of that name answers (no socket, or nobody behind it): a caller may try again later. */
export class LabUnavailable extends Error {}

/** Sends one request to `lab` and returns its result, or throws its error (a `LabUnavailable` when no lab answers). */
export function requestLab<T>(lab: string, req: object, timeoutMs = 30_000): Promise<T> {
  const path = controlSocketPath(lab);
  return new Promise<T>((resolve, reject) => {
    const sock = net.createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new LabUnavailable(`lab ${lab} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      try {
        const reply = JSON.parse(buf.slice(0, nl)) as { ok: boolean; result?: T; error?: string };
        if (reply.ok) resolve(reply.result as T);
        else reject(new Error(reply.error ?? 'the lab refused the request'));
      } catch {
        reject(new Error(`lab ${lab} answered something that is not JSON`));
      }
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const gone = e.code === 'ENOENT' || e.code === 'ECONNREFUSED';
      reject(gone ? new LabUnavailable(`no running lab named ${lab}`) : new Error(`lab ${lab}: ${e.message}`));
    });
  });
}
