/**
 * `npm run gen:client`: writes the API's OpenAPI document (built from the route table, as
 * `GET /openapi.json` serves it) and runs openapi-typescript on it, giving `client/schema.d.ts`,
 * the types the typed client (`client/index.ts`) is made of. A unit test runs the same steps and
 * fails when the file in the repository differs, so the client cannot drift from the API.
 *
 * Options given to openapi-typescript: `--default-non-nullable false` (a request field with a
 * default stays optional to send) and `--empty-objects-unknown` (an answer the document describes
 * only as an object is `unknown` to read, not `Record<string, never>`).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildApiDocument } from '../functions/shared/openapi/api-document.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where the generated types live. */
export const SCHEMA_FILE = path.join(ROOT, 'client', 'schema.d.ts');

const OPENAPI_TYPESCRIPT = path.join(ROOT, 'node_modules', '.bin', 'openapi-typescript');

/** The arguments openapi-typescript runs with, after the input file. */
export const GENERATOR_OPTIONS: readonly string[] = ['--default-non-nullable', 'false', '--empty-objects-unknown'];

/** The TypeScript types of the current API document, as openapi-typescript writes them. */
export async function clientTypes(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'openapi-client-'));
  try {
    const input = path.join(dir, 'openapi.json');
    const output = path.join(dir, 'schema.d.ts');
    await writeFile(input, `${JSON.stringify(buildApiDocument(), null, 2)}\n`);
    await promisify(execFile)(OPENAPI_TYPESCRIPT, [input, ...GENERATOR_OPTIONS, '--output', output], { cwd: ROOT });
    return await readFile(output, 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await writeFile(SCHEMA_FILE, await clientTypes());
  process.stdout.write(`Wrote ${path.relative(ROOT, SCHEMA_FILE)}\n`);
}
