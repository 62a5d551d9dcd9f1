/**
 * Regenerates schema/wirelab-lab.schema.json from the lab file's zod schema
 * (src/lab/file/schema.ts). Run after changing the schema:
 *
 *   node --conditions=wirelab-source --import tsx scripts/gen-lab-schema.ts
 *
 * test/lab/lab-file.test.ts fails when the committed file differs from what
 * this would write, so the shipped schema cannot go stale.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labFileJsonSchemaText } from '../src/lab/file/schema.js';

/** Where the committed JSON Schema lives. */
export const LAB_SCHEMA_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'schema', 'wirelab-lab.schema.json');

/** The file's text as this script writes it. */
export function generateLabSchema(): string {
  return labFileJsonSchemaText();
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(LAB_SCHEMA_PATH, generateLabSchema());
  console.log(`wrote ${LAB_SCHEMA_PATH}`);
}
