/**
 * Runs `wirelab-cni` as a runtime runs a CNI plugin: the CNI_* variables
 * (and nothing else of ours) in its environment, the network configuration
 * on stdin; and a lab made from examples/cni/pods.yaml under a unique name,
 * brought up detached for the plugin to talk to.
 *
 * The plugin is bundled from src/ once per test file with esbuild (what tsx
 * itself compiles with), so it never runs stale, and each of the many
 * invocations costs one plain `node` start instead of tsx's loader
 * compiling the sources again (about 8 times less).
 */
import { execFile, spawn } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { join } from 'node:path';
import { stateDir } from '../../src/lab/registry.js';
import { wirelab } from './cli.js';

export const ROOT = join(import.meta.dirname, '..', '..');

export interface PluginRun {
  stdout: string;
  stderr: string;
  code: number | null;
  /** stdout as JSON, when it is. */
  json: Record<string, unknown> | undefined;
}

/**
 * Bundles src/cni/main.ts into `dir`: `dir/wirelab-cni.mjs`, and
 * `dir/wirelab-cni`, the executable a runtime finds in CNI_PATH. Returns
 * the executable's path.
 */
export async function buildPlugin(dir: string): Promise<string> {
  const bundle = join(dir, 'wirelab-cni.mjs');
  await build({ entryPoints: [join(ROOT, 'src/cni/main.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundle, logLevel: 'error' });
  const exe = join(dir, 'wirelab-cni');
  writeFileSync(exe, `#!/bin/sh\nexec '${process.execPath}' '${bundle}'\n`);
  chmodSync(exe, 0o755);
  return exe;
}

/** One invocation of the plugin `exe`: `vars` are the CNI_* variables, `stdin` the configuration. */
export function runCni(exe: string, vars: Record<string, string>, stdin: string): Promise<PluginRun> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...vars };
    const child = spawn(exe, [], { cwd: '/', env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => {
      clearTimeout(timer);
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(stdout) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      resolve({ stdout, stderr, code, json });
    });
    child.stdin.end(stdin);
  });
}

/** examples/cni/pods.yaml with the lab renamed to `name`, written into `dir`; returns its path. */
export function podsLabFile(name: string, dir: string): string {
  const text = readFileSync(join(ROOT, 'examples/cni/pods.yaml'), 'utf8').replace(/^name: pods$/m, `name: ${name}`);
  const file = join(dir, 'lab.yaml');
  writeFileSync(file, text);
  return file;
}

/** examples/cni/wirelab.conflist with the lab renamed and the network named `netName`. */
export function conflist(lab: string, netName: string): Record<string, unknown> & { plugins: Array<Record<string, unknown>> } {
  const c = JSON.parse(readFileSync(join(ROOT, 'examples/cni/wirelab.conflist'), 'utf8')) as Record<string, unknown> & { plugins: Array<Record<string, unknown>> };
  c.name = netName;
  c.plugins[0]!.lab = lab;
  return c;
}

/** `wirelab up -d -f FILE`; throws with its output when it fails. */
export async function labUp(file: string): Promise<void> {
  const r = await wirelab(['up', '-d', '-f', file], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`wirelab up failed: ${r.stderr}${r.stdout}`);
}

/** `wirelab down NAME`, and its supervisor's log goes too. */
export async function labDown(name: string): Promise<void> {
  await wirelab(['down', name], { timeoutMs: 60_000 });
  rmSync(join(stateDir(), 'labs', `${name}.log`), { force: true });
}

/** Runs a command, resolving with its output and exit code (never rejecting). */
export function sh(argv: readonly string[], timeoutMs = 20_000, env?: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, maxBuffer: 16 << 20, ...(env !== undefined ? { env } : {}) }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1;
      resolve({ stdout, stderr, code });
    });
  });
}
