/**
 * `npm run bench -- <name>`: runs bench/<name>.ts, which writes
 * bench/results/<name>.json in the shared row format.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'results.ts'].includes(f))
  .map((f) => f.slice(0, -3))
  .sort();

const name = process.argv[2];
if (name === undefined || !available.includes(name)) {
  process.stderr.write(
    `${name === undefined ? 'no benchmark named' : `unknown benchmark "${name}"`}; available: ${available.join(', ')}\n` +
      'usage: npm run bench -- <name>\n',
  );
  process.exit(2);
}
const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as { main: (args: string[]) => Promise<void> };
await mod.main(process.argv.slice(3));
