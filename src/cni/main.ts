#!/usr/bin/env node
/**
 * `wirelab-cni`: the CNI plugin executable a runtime (podman, a kubelet's
 * containerd or CRI-O) runs with CNI_* variables and the network
 * configuration on stdin. It prints one JSON document on stdout: the result
 * (ADD), the version info (VERSION), nothing (DEL, CHECK, GC, STATUS), or a spec error
 * object with a non-zero exit. Whatever goes wrong, the runtime gets an
 * error object, never a stack trace.
 */
import { parseNetConf, readEnv, type NetConf } from './config.js';
import { CNI_CODE, CniError, errorObject } from './errors.js';
import { add, check, del, gc, status, version } from './plugin.js';

function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return Promise.resolve('');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', (e) => reject(new CniError(CNI_CODE.io, 'cannot read the network configuration from stdin', e.message)));
  });
}

/** Runs one invocation; returns what to print and the exit code. */
export async function runPlugin(env: NodeJS.ProcessEnv, stdin: string): Promise<{ out: unknown; code: number }> {
  let conf: NetConf | undefined;
  try {
    const e = readEnv(env);
    if (e.command === 'VERSION') return { out: version(), code: 0 };
    conf = parseNetConf(stdin);
    switch (e.command) {
      case 'ADD':
        return { out: await add(conf, e, stdin, env), code: 0 };
      case 'DEL':
        await del(conf, e, stdin, env);
        return { out: undefined, code: 0 };
      case 'CHECK':
        await check(conf, e);
        return { out: undefined, code: 0 };
      case 'GC':
        await gc(conf);
        return { out: undefined, code: 0 };
      case 'STATUS':
        await status(conf);
        return { out: undefined, code: 0 };
    }
  } catch (err) {
    return { out: errorObject(conf?.cniVersion ?? versionOf(stdin), err), code: 1 };
  }
}

/** The cniVersion written in stdin, if it can be read, for the error object. */
function versionOf(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' && v !== '' ? v : '1.0.0';
  } catch {
    return '1.0.0';
  }
}

async function main(): Promise<void> {
  const fail = (e: unknown): void => {
    process.stdout.write(JSON.stringify(errorObject(versionOf(''), e)) + '\n');
    process.exit(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  let stdin = '';
  try {
    stdin = await readStdin();
  } catch (e) {
    return fail(e);
  }
  const { out, code } = await runPlugin(process.env, stdin);
  if (out !== undefined) process.stdout.write(JSON.stringify(out) + '\n');
  process.exitCode = code;
}

void main();
