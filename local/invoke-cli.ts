/**
 * `npm run invoke -- <function> -e <event.json> [-t cdk.out/<stack>.template.json] [--out <file>]`:
 * runs one function of the synthesized app on an event, without Docker (see `invoke.ts`).
 *
 * The event may carry a binary body as API Gateway sends one (`"isBase64Encoded": true`, the
 * bytes base64-encoded). The result is printed as JSON; a proxy result with a base64 body (a
 * binary answer) is printed with its status, headers and decoded size (`bodyBytes`) instead of
 * the base64 text. `--out <file>` writes the body to the file as the client would get it (a
 * base64 body decoded to its bytes) and prints the rest.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { describeResult, invoke, isProxyResult, resultBody } from './invoke.js';

const USAGE = 'Usage: npm run invoke -- <function name or part of it> -e <event.json> [-t cdk.out/<stack>.template.json] [--out <file for the response body>]';

function defaultTemplate(): string {
  const templates = readdirSync('cdk.out').filter((f) => f.endsWith('.template.json'));
  if (templates.length !== 1) throw new Error(`Found ${templates.length} templates in cdk.out; choose one with -t.`);
  return path.join('cdk.out', templates[0] as string);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { event: { type: 'string', short: 'e' }, template: { type: 'string', short: 't' }, out: { type: 'string', short: 'o' } },
  });
  const [functionName] = positionals;
  if (!functionName || !values.event || positionals.length !== 1) throw new Error(USAGE);
  const result = await invoke({
    templateFile: values.template ?? defaultTemplate(),
    functionName,
    event: JSON.parse(readFileSync(values.event, 'utf8')) as unknown,
  });
  process.stderr.write(result.logs);
  if (values.out === undefined) {
    process.stdout.write(`${describeResult(result.result)}\n`);
    if (isProxyResult(result.result) && result.result.isBase64Encoded) process.stderr.write('The body is binary (base64 in the result); write its bytes to a file with --out <file>.\n');
    return;
  }
  // A proxy result's body as the client gets it; anything else (a non-HTTP function's answer) as JSON.
  writeFileSync(values.out, resultBody(result.result) ?? `${JSON.stringify(result.result, null, 2)}\n`);
  process.stdout.write(`${isProxyResult(result.result) ? describeResult(result.result, values.out) : JSON.stringify({ resultFile: values.out })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`invoke failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
