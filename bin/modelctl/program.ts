/**
 * `modelctl`: the command line for the model registry, releases and predictions, against the
 * local API (`npm start`) or a deployed one. It speaks the public HTTP API only, except
 * `features load`, which writes a DynamoDB table.
 *
 * The commands are declared on commander, one module per group; this module builds the program,
 * its help and its error lines, and runs one command line to its exit code.
 *
 * @example
 * modelctl register iris models/iris/model.onnx --metadata models/iris/metadata.json --production
 * modelctl predict iris --features '{"sepal_length_cm":5.1,"sepal_width_cm":3.5,"petal_length_cm":1.4,"petal_width_cm":0.2}'
 * modelctl versions iris -o json
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { TOKEN, WORDS, declareValue } from './args.js';
import { addBatchCommands } from './batch.js';
import { addCaptureCommand } from './capture.js';
import { API_OPTION_HELP, API_URL, type Cli, TOKEN_OPTION_HELP, USAGE_EXIT_CODE, option } from './command.js';
import type { CliIo } from './common.js';
import { DRIFTED_EXIT_CODE, NOT_JUDGED_EXIT_CODE, addDriftCommand } from './drift.js';
import { addExperimentCommands } from './experiments.js';
import { addFeatureCommands } from './features.js';
import { DEFAULT_API_URL } from './http.js';
import { addInferCommand } from './infer.js';
import { addLogsCommand } from './logs.js';
import { addModelCommands } from './models.js';
import { addProfileCommand } from './profile.js';
import { addReleaseCommands } from './releases.js';
import { addReplayCommand } from './replay.js';
import { addShadowCommands } from './shadow.js';
import { addTokenCommand } from './tokens.js';

/** The package's version, as `modelctl --version` prints it. */
export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The exit codes, as the help's epilog and the README list them. */
export const EXIT_CODES_HELP = [
  'Exit codes:',
  '  0  done',
  '  1  the API refused or could not be reached, or a file could not be read, or',
  '     DynamoDB refused (features load)',
  '  2  a usage mistake (the line says what, and which help to read); "batch wait",',
  '     "batch submit --wait", "batch run" and "replay --wait": the job still runs',
  '     when waiting stopped (--timeout, Ctrl+C)',
  `  ${DRIFTED_EXIT_CODE}  "drift": a column drifted`,
  `  ${NOT_JUDGED_EXIT_CODE}  "drift": nothing judged (too few captured rows)`,
].join('\n');

const EPILOG = [
  "Every command that prints data prints tables or lines; -o json prints the API's JSON.",
  '"modelctl <command> --help" (or "modelctl help <command>") shows a command\'s options.',
  '',
  EXIT_CODES_HELP,
  '',
  'Environment:',
  `  MODELCTL_API    the API's base URL (default ${DEFAULT_API_URL}; npm start prints`,
  '                  the line to set when PORT is not 3000)',
  '  MODELCTL_TOKEN  the bearer token',
  '  DATA_DIR        the local data folder "token" reads the signing key from (.data)',
  '',
  'Example:',
  '  export MODELCTL_TOKEN=$(npm run -s modelctl -- token --scope predict,models:read,models:write,models:promote,batch:submit,batch:read)',
  '  npm run -s modelctl -- models',
].join('\n');

/** Columns the help is wrapped to, whatever the terminal says. */
const MIN_HELP_COLUMNS = 60;
const MAX_HELP_COLUMNS = 120;

/**
 * An error line as commander writes it (`error: unknown option '--x'\n(Did you mean --y?)`) as
 * modelctl's lines read: no `error:` prefix, a capital, the suggestion on the same line.
 */
function errorLine(text: string): string {
  const line = text.replace(/^error: /, '').replace(/\n\(Did you mean (.+)\?\)/, '. Did you mean $1?');
  return `${line.charAt(0).toUpperCase()}${line.slice(1)}`;
}

/** The program, its commands and their help, writing to `cli.io`. */
export function buildProgram(cli: Cli): Command {
  const { io } = cli;
  const columns = Math.min(MAX_HELP_COLUMNS, Math.max(MIN_HELP_COLUMNS, io.columns ?? 80));
  // Settings made before the commands are added are inherited by them.
  const program = new Command('modelctl')
    .usage('<command> [options]')
    .description(
      'The command line of ONNX serving: the model registry, releases and predictions. It speaks the public HTTP API ' +
        'only: the local one (npm start) or a deployed one (--api, or MODELCTL_API).',
    )
    .configureOutput({
      writeOut: (text) => io.out(text),
      writeErr: (text) => io.err(text),
      outputError: (text, write) => write(errorLine(text)),
    })
    .configureHelp({
      helpWidth: columns,
      subcommandTerm: (cmd) =>
        [cmd.name(), ...(cmd.commands.length > 0 ? ['<command>'] : []), ...cmd.registeredArguments.map(argumentText)].join(' '),
    })
    .exitOverride()
    .enablePositionalOptions()
    .helpOption('-h, --help', 'print this help')
    .helpCommand(false);
  option(program, '--api <url>', API_OPTION_HELP, API_URL);
  option(program, '--token <jwt>', TOKEN_OPTION_HELP, TOKEN);
  program.version(VERSION, '-V, --version', "print modelctl's version");
  addModelCommands(program, cli);
  addProfileCommand(program, cli);
  addInferCommand(program, cli);
  addBatchCommands(program, cli);
  addFeatureCommands(program, cli);
  addLogsCommand(program, cli);
  addReleaseCommands(program, cli);
  addCaptureCommand(program, cli);
  addDriftCommand(program, cli);
  addReplayCommand(program, cli);
  addExperimentCommands(program, cli);
  addShadowCommands(program, cli);
  addTokenCommand(program, cli);
  const help = program
    .command('help [command...]')
    .summary("a command's help")
    .description('The help of a command: "modelctl help batch submit" is "modelctl batch submit --help".')
    .helpGroup('Local:');
  for (const argument of help.registeredArguments) declareValue(argument, WORDS);
  help.action((words: string[]) => {
    const target = findCommand(program, words);
    if (target.unknown !== undefined) unknownCommand(target.command, target.unknown);
    target.command.outputHelp();
    cli.code = 0;
  });
  program.addHelpText('after', `\n${EPILOG}`);
  for (const cmd of allCommands(program)) cmd.showHelpAfterError(`Run "${commandPath(cmd)} --help" for usage.`);
  return program;
}

/** `<model>`, `[experiment]`, `[command...]`: an argument as the list of commands shows it. */
function argumentText(argument: { name(): string; required: boolean; variadic: boolean }): string {
  const name = `${argument.name()}${argument.variadic ? '...' : ''}`;
  return argument.required ? `<${name}>` : `[${name}]`;
}

/** `cmd` and every command below it. */
function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}

/** `modelctl batch submit`. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The command `words` name from `program` down, and the first word that names none. */
function findCommand(program: Command, words: readonly string[]): { command: Command; unknown?: string } {
  let command = program;
  for (const word of words) {
    const next = command.commands.find((c) => c.name() === word);
    if (!next) return { command, unknown: word };
    command = next;
  }
  return { command };
}

/** A usage error for a word that is no command of `parent`. */
function unknownCommand(parent: Command, word: string): never {
  const shown = word.length > 40 ? `${word.slice(0, 40)}…` : word;
  return parent.error(`error: unknown command '${shown}'`, { exitCode: USAGE_EXIT_CODE, code: 'commander.unknownCommand' });
}

/**
 * The words before the first option, when the line asks for help (`modelctl frobnicate --help`):
 * commander would print the help of the last command it knows instead of saying that a word is
 * no command.
 */
function commandWords(argv: readonly string[]): string[] {
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--api' || arg === '--token') i++;
    else if (arg.startsWith('-')) break;
    else words.push(arg);
  }
  return words;
}

/**
 * Runs one command line (`argv` without the program's name); resolves to the process exit code:
 * 0 done, 1 the API refused or could not be reached, 2 a usage mistake, or the command's own
 * (`drift`: 3, 4).
 */
export async function modelctl(argv: readonly string[], io: CliIo): Promise<number> {
  const cli: Cli = { io, code: 0 };
  const program = buildProgram(cli);
  try {
    if (argv.includes('--help') || argv.includes('-h')) {
      const words = commandWords(argv);
      // A group's command may take arguments after it (`batch status iris --help`): only the command words are checked.
      let parent = program;
      for (const word of words) {
        if (parent.commands.length === 0) break;
        const found = findCommand(parent, [word]);
        if (found.unknown !== undefined) unknownCommand(parent, word);
        parent = found.command;
      }
    }
    await program.parseAsync([...argv], { from: 'user' });
    return cli.code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : USAGE_EXIT_CODE;
    io.err(`modelctl: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
