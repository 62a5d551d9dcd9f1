/**
 * The plugin's client of a lab's control socket: one JSON line out, one
 * back (the protocol of src/lab/control.ts). Not `request()` from there:
 * that module carries the whole server side (the lab, its stacks and
 * switches), and a CNI plugin is started once per container and command,
 * so it loads only this and the registry's state directory.
 */
import net from 'node:net';
import { join } from 'node:path';
import type { AttachRequest } from '../lab/attach-op.js';
import { stateDir } from '../lab/registry.js';

/** Thrown when no lab of that name answers: a runtime may try again later. */
export class LabUnavailable extends Error {}

/** Sends one attachment request to `lab` and returns its result, or throws its error. */
export function askLab<T>(lab: string, req: AttachRequest, timeoutMs = 20_000): Promise<T> {
  const path = join(stateDir(), 'labs', `${lab}.sock`);
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
      reject(gone ? new LabUnavailable(`no running lab named ${lab} (no control socket at ${path})`) : new Error(`lab ${lab}: ${e.message}`));
    });
  });
}
