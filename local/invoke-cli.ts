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
 * function's logs and Node's warnings go to standard error as they are printed; a reader that
 * stops reading (`| head -1`) ends nothing with a stack trace.
 *
 * Exit codes: 0 the function ran (whatever it answered); 1 it could not be run: a missing
 * prerequisite (no `cdk.out`, no such function, no event file), one line saying what to do; 2 a
 * usage mistake (no function or no `-e`, an unknown option, an option without its value,
 * `--metadata` before any `--register`), one line saying what and the short usage line.
 */
import './quiet.js';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { guardOutput } from './closed-pipes.js';
import { SYNTH_HINT, describeResult, invoke, isProxyResult, readRegistration, resultBody, type ModelRegistration } from './invoke.js';

/** The short usage line a usage mistake ends with. */
const SHORT_USAGE = 'Usage: npm run invoke -- <function> -e <event.json> [options]   (npm run invoke -- --help lists them)';

const USAGE = [
  'Usage: npm run invoke -- <function name or part of it> -e <event.json> [-t cdk.out/<stack>.template.json] [--out <file for the response body>]',
  '         [--register <model>=<file.onnx> [--metadata <file.json>]]...',
].join('\n');

/** Exit code of a usage mistake, as `modelctl`'s. */
const USAGE_EXIT_CODE = 2;

/** A mistake in the command line itself: its line, the short usage line, exit 2. */
class UsageMistake extends Error {}

const output = guardOutput();

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
        throw new UsageMistake(
          `--metadata ${token.value} comes before any --register: give it after the --register <model>=<file.onnx> it describes.`,
        );
      if (last.metadata !== undefined) throw new UsageMistake(`Two --metadata files for --register ${last.spec}: give one.`);
      last.metadata = token.value;
    }
  }
  for (const { spec } of pairs) {
    const at = spec.indexOf('=');
    if (at < 1 || at === spec.length - 1)
      throw new UsageMistake(`--register takes <model>=<file.onnx>, e.g. --register iris=models/iris/model.onnx; got "${spec}".`);
  }
  return pairs.map(({ spec, metadata }) => readRegistration(spec, metadata));
}

/** The command line, read; a mistake in it (an unknown option, one without its value) is a {@link UsageMistake}. */
function parseCommandLine() {
  try {
    return parseArgs({
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
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) throw error;
    // Node's first sentence says what ("Unknown option '--x'"); the rest is about '--', not this command.
    const what = (error instanceof Error ? error.message : String(error)).split(/\. (?=[A-Z])/)[0]?.replace(/\.$/, '');
    throw new UsageMistake(`${what}.`);
  }
}

/** What is missing from a command line without its function, its event or with more than one function. */
function missing(functionName: string | undefined, event: string | undefined, positionals: readonly string[]): string | undefined {
  if (positionals.length > 1) return `One function at a time: ${positionals.map((p) => JSON.stringify(p)).join(', ')} were given.`;
  if (!functionName && !event) return 'Give the function to run (any part of its name) and its event (-e <event.json>).';
  if (!functionName) return 'Give the function to run: any part of its name, e.g. predict.';
  if (!event) return 'Give the event: -e <event.json> (the events/ folder has ready ones).';
  return undefined;
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
  const { values, positionals, tokens } = parseCommandLine();
  if (values.help) {
    output.out(HELP);
    return;
  }
  const [functionName] = positionals;
  const mistake = missing(functionName, values.event, positionals);
  if (mistake !== undefined || !functionName || !values.event) throw new UsageMistake(mistake ?? SHORT_USAGE);
  const register = registrations(tokens);
  const templateFile = values.template ?? defaultTemplate();
  const event = readEvent(values.event);
  // The function's output goes to stderr as it comes; stdout gets the result alone.
  const result = await invoke({ templateFile, functionName, event, register, onLog: output.err });
  for (const { model, version } of result.registered) output.err(`Registered ${model} version ${version}, live (production).\n`);
  if (values.out === undefined) {
    output.out(`${describeResult(result.result)}\n`);
    if (isProxyResult(result.result) && result.result.isBase64Encoded)
      output.err('The body is binary (base64 in the result); write its bytes to a file with --out <file>.\n');
    return;
  }
  // A proxy result's body as the client gets it; anything else (a non-HTTP function's answer) as JSON.
  writeFileSync(values.out, resultBody(result.result) ?? `${JSON.stringify(result.result, null, 2)}\n`);
  output.out(`${isProxyResult(result.result) ? describeResult(result.result, values.out) : JSON.stringify({ resultFile: values.out })}\n`);
}

main().catch((error: unknown) => {
  // Not process.exit: stderr, when it is a pipe, is written to the end first.
  if (error instanceof UsageMistake) {
    output.err(`${error.message}\n${SHORT_USAGE}\n`);
    process.exitCode = USAGE_EXIT_CODE;
    return;
  }
  output.err(`invoke failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
