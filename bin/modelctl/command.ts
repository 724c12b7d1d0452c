/**
 * How a `modelctl` command is declared on commander and run: its synopsis and help, its options
 * and arguments each with the type of its value (`args.ts`; a strict one is read while the line
 * is parsed, so a malformed value is a usage error before anything is read or sent), the options
 * every API command shares (`--api`, `--token`, `-o`), and one action wrapper that turns what a
 * command throws into the exit code and the line on stderr.
 *
 * Exit codes: 0 done; 1 the API refused or could not be reached, or a file could not be read;
 * 2 a usage mistake (and a wait that ended before its job); a command may return its own
 * (`drift`: 3 and 4).
 */
import { type Command, Option } from 'commander';
import { MODEL, OUTPUT_FORMAT, OUTPUT_FORMATS, type OutputFormat, TOKEN, type ValueType, declareValue, strict } from './args.js';
import { type CliIo, UsageError, messageOf } from './common.js';
import { type Api, ApiError, apiFor, apiUrlArg } from './http.js';
import { jsonText } from './output.js';

/** Exit code of a usage mistake, of the parser's or a command's. */
export const USAGE_EXIT_CODE = 2;
/** Exit code when the API refused or was out of reach, or a file could not be read or written. */
export const FAILURE_EXIT_CODE = 1;

/** What `modelctl` runs with: the process's side and where the exit code is kept. */
export interface Cli {
  readonly io: CliIo;
  /** The exit code of the command that ran. */
  code: number;
}

/** The options every API command takes (`--api`, `--token`), and the output format (`-o`, `--json`). */
export interface CommonOptions {
  readonly api?: string;
  readonly token?: string;
  readonly json?: boolean;
  /** `-o, --output FORMAT`; on `batch submit` and `batch run`, `--output` is the S3 location and the format is `o`. */
  readonly output?: string;
  readonly o?: OutputFormat;
}

/** One run of a command, as its handler sees it. */
export interface Call<O> {
  readonly io: CliIo;
  /** The command's options, with the program's (`modelctl --api URL <command>`) under them. */
  readonly opts: O & CommonOptions;
  /** The command's arguments, in order (a variadic one as its array, an optional one absent as `undefined`). */
  readonly args: readonly (string | undefined)[];
  /** Whether to print the API's JSON (`-o json`, `--json`). */
  readonly json: boolean;
  /** The API, at `--api` (else `$MODELCTL_API`, else the local default) with `--token` (else `$MODELCTL_TOKEN`). */
  readonly api: Api;
  /** Prints `value` as JSON with `-o json`, else the text `text` makes of it. */
  print<T>(value: T, text: (value: T) => string): void;
}

/** A command's handler: resolves to its exit code (0 when nothing is returned). */
export type Handler<O> = (call: Call<O>) => Promise<number | undefined>;

/** What a command's help says. */
export interface CommandSpec {
  /** The name and arguments, as commander reads them: `register <model> <file.onnx>`. */
  readonly name: string;
  /** One line, for the list of commands. */
  readonly summary: string;
  /** Paragraphs for the command's own help. @default the summary */
  readonly description?: string;
  /** After `modelctl <path> `: @default the arguments, then `[options]` */
  readonly usage?: string;
  /** The heading it is listed under in its parent's help. */
  readonly group?: string;
  /** Text after the options: examples, exit codes. */
  readonly after?: string;
  /** What each argument takes, by name; `<model>` is a model name unless told. */
  readonly args?: Readonly<Record<string, ValueType>>;
}

/** Commands whose `--output` is an S3 location: their format option is `-o` alone. */
const S3_OUTPUT = new WeakSet<Command>();

/** Adds a command to `parent` with its summary, description, usage and help group. */
export function command(parent: Command, spec: CommandSpec): Command {
  const [, ...args] = spec.name.split(' ');
  // `modelctl help <command...>` serves every level; the groups add no `help` command of their own.
  const cmd = parent
    .command(spec.name)
    .summary(spec.summary)
    .description(spec.description ?? spec.summary)
    .helpCommand(false);
  cmd.usage(spec.usage ?? [...args, '[options]'].join(' '));
  if (spec.group) cmd.helpGroup(spec.group);
  if (spec.after) cmd.addHelpText('after', `\n${spec.after.trimEnd()}`);
  for (const argument of cmd.registeredArguments) {
    const type = spec.args?.[argument.name()] ?? (argument.name() === 'model' ? MODEL : undefined);
    if (!type) throw new Error(`modelctl ${spec.name}: argument <${argument.name()}> has no value type (CommandSpec.args).`);
    declareValue(argument, type);
    // An argument is checked while the line is parsed and keeps its text: handlers read `call.args` as strings.
    if (type.strict) {
      const read = reader(cmd, type, `<${argument.name()}>`);
      argument.argParser((value: string) => {
        read(value);
        return value;
      });
    }
  }
  return cmd;
}

/**
 * Declares an option that takes a value of `type` on `cmd`: read while the line is parsed (a
 * strict type's refusal is the command's usage error, before anything runs), so the handler gets
 * the value read (a number, a version); `repeat`: the option may be given again, the handler gets
 * every value in order.
 */
export function option<T>(
  cmd: Command,
  flags: string,
  description: string,
  type: ValueType<T>,
  settings: { readonly repeat?: boolean; readonly group?: string } = {},
): Command {
  const declared = new Option(flags, description);
  if (!declared.required && !declared.optional) throw new Error(`modelctl: option ${flags} takes no value; declare it with .option().`);
  if (settings.group) declared.helpGroup(settings.group);
  const read = reader(cmd, type, declared.long ?? declared.short ?? flags);
  if (settings.repeat) declared.argParser((value: string, previous: T[] | undefined) => [...(previous ?? []), read(value)]);
  else declared.argParser(read);
  declareValue(declared, type);
  return cmd.addOption(declared);
}

/** `type.parse` for commander: a {@link UsageError} becomes `cmd`'s usage error (its line, its help hint, exit 2). */
function reader<T>(cmd: Command, type: ValueType<T>, name: string): (value: string) => T {
  return (value) => {
    try {
      return type.parse(value, name);
    } catch (error) {
      if (error instanceof UsageError) return cmd.error(error.message, { exitCode: USAGE_EXIT_CODE, code: 'modelctl.usage' });
      throw error;
    }
  };
}

/** The API's base URL (`--api`): http or https, a host, an optional path. */
export const API_URL = strict('URL', apiUrlArg);

/** `--api URL` and `--token JWT`, on a command that calls the API. */
export function apiOptions(cmd: Command): Command {
  option(cmd, '--api <url>', API_OPTION_HELP, API_URL, { group: 'API:' });
  return option(cmd, '--token <jwt>', TOKEN_OPTION_HELP, TOKEN, { group: 'API:' });
}

/** What `--api` and `--token` say in the help, on the program and on each command. */
export const API_OPTION_HELP = "the API's base URL (default: $MODELCTL_API, else http://127.0.0.1:3000)";
export const TOKEN_OPTION_HELP = 'sent as "Authorization: Bearer <jwt>" (default: $MODELCTL_TOKEN)';

/**
 * `-o, --output FORMAT` and `--json` (the same as `-o json`); with `s3Output`, `-o FORMAT` alone
 * (`--output` is the command's S3 location).
 */
export function outputOptions(cmd: Command, s3Output = false): Command {
  if (s3Output) S3_OUTPUT.add(cmd);
  const [text, json] = OUTPUT_FORMATS;
  const formats = `${text} (tables and lines, the default) or ${json} (the API's JSON)`;
  option(cmd, s3Output ? '-o <format>' : '-o, --output <format>', formats, OUTPUT_FORMAT, { group: 'Output:' });
  return cmd.addOption(new Option('--json', 'the same as -o json').helpGroup('Output:'));
}

/** Whether the command's options ask for JSON; `-o text` with `--json` is a usage error. */
function wantsJson(cmd: Command, opts: CommonOptions): boolean {
  const format = S3_OUTPUT.has(cmd) ? opts.o : (opts.output as OutputFormat | undefined);
  if (opts.json && format === 'text') throw new UsageError('--json and -o text disagree: give one of them.');
  return opts.json === true || format === 'json';
}

/**
 * The commander action for `handler`: the call it gets, and what its errors become. A
 * {@link UsageError} is the command's usage mistake (its message and the help hint, exit 2); an
 * {@link ApiError} is printed as it reads (exit 1); anything else is printed after `modelctl: `
 * (exit 1).
 */
export function action<O>(cli: Cli, handler: Handler<O>): (...params: unknown[]) => Promise<void> {
  return async (...params) => {
    const cmd = params[params.length - 1] as Command;
    const { io } = cli;
    try {
      const opts = cmd.optsWithGlobals() as O & CommonOptions;
      let api: Api | undefined;
      const json = wantsJson(cmd, opts);
      const call: Call<O> = {
        io,
        opts,
        args: params.slice(0, -2) as (string | undefined)[],
        json,
        get api() {
          api ??= apiFor(opts, io);
          return api;
        },
        print: (value, text) => io.out(json ? jsonText(value) : text(value)),
      };
      cli.code = (await handler(call)) ?? 0;
    } catch (error) {
      if (error instanceof UsageError) cmd.error(error.message, { exitCode: USAGE_EXIT_CODE, code: 'modelctl.usage' });
      io.err(error instanceof ApiError ? `${error.message}\n` : `modelctl: ${messageOf(error)}\n`);
      cli.code = FAILURE_EXIT_CODE;
    }
  };
}
