/**
 * `npm run invoke -- <function> -e <event.json> [-t cdk.out/<stack>.template.json] [--out <file>]`:
 * runs one function of the synthesized app on an event, without Docker (see `invoke.ts`).
 *
 * The event may carry a binary body as API Gateway sends one (`"isBase64Encoded": true`, the
 * bytes base64-encoded). The result is printed as JSON; a proxy result with a base64 body (a
 * binary answer) is printed with its status, headers and decoded size (`bodyBytes`) instead of
 * the base64 text. `--out <file>` writes the body to the file as the client would get it (a
 * base64 body decoded to its bytes) and prints the rest.
 *
 * `--register <model>=<file.onnx>` registers the caller's own model file (and, with
 * `--metadata <file.json>` right after it, its metadata) in the embedded registry and makes it
 * live before the function runs: an endpoint's function for a model other than the sample runs
 * on the caller's file. Given more than once, each `--metadata` goes with the `--register` before it.
 *
 * Standard output carries the result and nothing else, so it can be piped to `jq` or parsed: the
 * function's logs and Node's warnings go to standard error as they are printed. A mistake in the
 * command (no `cdk.out`, no such function, no event file) is one line saying what to do, exit code 1.
 */
import './quiet.js';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SYNTH_HINT, describeResult, invoke, isProxyResult, readRegistration, resultBody, type ModelRegistration } from './invoke.js';

const USAGE = [
  'Usage: npm run invoke -- <function name or part of it> -e <event.json> [-t cdk.out/<stack>.template.json] [--out <file for the response body>]',
  '         [--register <model>=<file.onnx> [--metadata <file.json>]]...',
].join('\n');

const HELP = `${USAGE}

Runs one function of the synthesized app (cdk.out) on an event, without Docker, against embedded
DynamoDB- and S3-compatible servers holding the sample model.

  -e, --event <file>       the event (an API Gateway proxy event for the API's functions)
  -t, --template <file>    the synthesized template (default: the one in cdk.out)
  -o, --out <file>         write the response body to the file, as the client gets it
  -r, --register <m>=<f>   register the ONNX file <f> as model <m> and make it live first; <m> must
                           be the model the function serves (its endpoint's model)
  -m, --metadata <file>    the metadata (JSON) of the --register before it: features, class labels,
                           metrics, golden inputs, as POST /v1/models/{model}/versions takes it
  -h, --help               this text
`;

/**
 * Pairs each `--register` with the `--metadata` that follows it (before the next `--register`),
 * in the order given, and reads their files.
 */
function registrations(tokens: ReturnType<typeof parseArgs>['tokens']): ModelRegistration[] {
  const pairs: { spec: string; metadata?: string }[] = [];
  for (const token of tokens ?? []) {
    if (token.kind !== 'option' || token.value === undefined) continue;
    if (token.name === 'register') pairs.push({ spec: token.value });
    if (token.name === 'metadata') {
      const last = pairs.at(-1);
      if (!last)
        throw new Error(
          `--metadata ${token.value} comes before any --register: give it after the --register <model>=<file.onnx> it describes.`,
        );
      if (last.metadata !== undefined) throw new Error(`Two --metadata files for --register ${last.spec}: give one.`);
      last.metadata = token.value;
    }
  }
  return pairs.map(({ spec, metadata }) => readRegistration(spec, metadata));
}

/** The one template in `cdk.out`; throws, saying what to run or choose, when there is none or several. */
function defaultTemplate(): string {
  const where = path.resolve('cdk.out');
  if (!existsSync(where) || !statSync(where).isDirectory()) {
    throw new Error(`There is no cdk.out folder in ${process.cwd()}: ${SYNTH_HINT}, or give a template with -t <file>.`);
  }
  const templates = readdirSync(where).filter((f) => f.endsWith('.template.json'));
  if (templates.length === 0) throw new Error(`cdk.out holds no template (*.template.json): ${SYNTH_HINT}.`);
  if (templates.length > 1) {
    throw new Error(`cdk.out holds ${templates.length} templates; choose one with -t: ${templates.map((t) => `cdk.out/${t}`).join(', ')}.`);
  }
  return path.join('cdk.out', templates[0] as string);
}

/** The event file's JSON; throws, naming the file, when it is missing or not JSON. */
function readEvent(file: string): unknown {
  if (!existsSync(file)) {
    throw new Error(
      `The event file ${file} does not exist (relative paths are read from ${process.cwd()}); the events/ folder has ready ones.`,
    );
  }
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch (error) {
    throw new Error(`The event file ${file} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function main(): Promise<void> {
  const { values, positionals, tokens } = parseArgs({
    allowPositionals: true,
    tokens: true,
    options: {
      event: { type: 'string', short: 'e' },
      template: { type: 'string', short: 't' },
      out: { type: 'string', short: 'o' },
      register: { type: 'string', short: 'r', multiple: true },
      metadata: { type: 'string', short: 'm', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const [functionName] = positionals;
  if (!functionName || !values.event || positionals.length !== 1) throw new Error(USAGE);
  const register = registrations(tokens);
  const templateFile = values.template ?? defaultTemplate();
  const event = readEvent(values.event);
  // The function's output goes to stderr as it comes; stdout gets the result alone.
  const result = await invoke({ templateFile, functionName, event, register, onLog: (text) => process.stderr.write(text) });
  for (const { model, version } of result.registered) process.stderr.write(`Registered ${model} version ${version}, live (production).\n`);
  if (values.out === undefined) {
    process.stdout.write(`${describeResult(result.result)}\n`);
    if (isProxyResult(result.result) && result.result.isBase64Encoded)
      process.stderr.write('The body is binary (base64 in the result); write its bytes to a file with --out <file>.\n');
    return;
  }
  // A proxy result's body as the client gets it; anything else (a non-HTTP function's answer) as JSON.
  writeFileSync(values.out, resultBody(result.result) ?? `${JSON.stringify(result.result, null, 2)}\n`);
  process.stdout.write(
    `${isProxyResult(result.result) ? describeResult(result.result, values.out) : JSON.stringify({ resultFile: values.out })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`invoke failed: ${error instanceof Error ? error.message : String(error)}\n`);
  // Not process.exit: stderr, when it is a pipe, is written to the end first.
  process.exitCode = 1;
});
