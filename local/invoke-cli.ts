/**
 * `npm run invoke -- <function> -e <event.json> [-t cdk.out/<stack>.template.json]`: runs one
 * function of the synthesized app on an event, without Docker (see `invoke.ts`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { invoke } from './invoke.js';

const USAGE = 'Usage: npm run invoke -- <function name or part of it> -e <event.json> [-t cdk.out/<stack>.template.json]';

function defaultTemplate(): string {
  const templates = readdirSync('cdk.out').filter((f) => f.endsWith('.template.json'));
  if (templates.length !== 1) throw new Error(`Found ${templates.length} templates in cdk.out; choose one with -t.`);
  return path.join('cdk.out', templates[0] as string);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { event: { type: 'string', short: 'e' }, template: { type: 'string', short: 't' } },
  });
  const [functionName] = positionals;
  if (!functionName || !values.event || positionals.length !== 1) throw new Error(USAGE);
  const result = await invoke({
    templateFile: values.template ?? defaultTemplate(),
    functionName,
    event: JSON.parse(readFileSync(values.event, 'utf8')) as unknown,
  });
  process.stderr.write(result.logs);
  process.stdout.write(`${JSON.stringify(result.result, null, 2)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`invoke failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
