/**
 * `modelctl`'s usage mistakes, found by walking the commander program itself, so that an option
 * or argument added later is covered without a line here: every option that takes a value and
 * every argument says what it takes; each one that must be a number, a version, one of a few
 * choices or a URL refuses a word ("abc") with exit 2, one line naming it, the line naming the
 * help to read, and no request sent. A bad `--api` or `MODELCTL_API` is such a mistake too.
 * Every file option and argument says a file it cannot read in one wording.
 *
 * modelctl runs in-process (`modelctl(argv, io)`) with real files and a `fetch` that records
 * every request; none of these lines may reach it.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Argument, Command, Option } from 'commander';
import { type CliIo, modelctl } from '../../bin/modelctl.js';
import { type ValueType, valueTypeOf } from '../../bin/modelctl/args.js';
import { buildProgram } from '../../bin/modelctl/program.js';

/** An option that takes a value, or an argument, of one command. */
interface Slot {
  /** The words of its command (`['batch', 'submit']`; `[]` for the program's own options). */
  readonly path: readonly string[];
  readonly command: Command;
  /** `--minutes`, `-o`, or `<version>`. */
  readonly name: string;
  readonly option?: Option;
  readonly argument?: Argument;
  readonly type: ValueType | undefined;
}

/** Every option with a value and every argument of `program` and the commands below it. */
function slotsOf(command: Command, words: readonly string[] = []): Slot[] {
  const own: Slot[] = [
    ...command.options
      .filter((option) => option.required || option.optional)
      .map((option) => ({
        path: words,
        command,
        name: option.long ?? option.short ?? option.flags,
        option,
        type: valueTypeOf(option),
      })),
    ...command.registeredArguments.map((argument) => ({
      path: words,
      command,
      name: `<${argument.name()}>`,
      argument,
      type: valueTypeOf(argument),
    })),
  ];
  return [...own, ...command.commands.flatMap((sub) => slotsOf(sub, [...words, sub.name()]))];
}

const QUIET: CliIo = { fetch: globalThis.fetch, out: () => {}, err: () => {}, readFile: (file) => readFile(file), env: {} };
const SLOTS = slotsOf(buildProgram({ io: QUIET, code: 0 }));
const STRICT = SLOTS.filter((slot) => slot.type?.strict === true);

/** Values an argument before the one tested may take: the first its type accepts is used. */
const CANDIDATES = ['iris', '2', 'staging', 'data/iris.csv'];

function validValue(argument: Argument, type: ValueType | undefined): string {
  for (const candidate of CANDIDATES) {
    try {
      type?.parse(candidate, `<${argument.name()}>`);
      return candidate;
    } catch {
      // the next one
    }
  }
  throw new Error(`No candidate value fits <${argument.name()}> (${type?.kind}); add one to CANDIDATES.`);
}

/** A command line that gives `value` to `slot`, every required argument before or beside it valid. */
function lineFor(slot: Slot, value: string): string[] {
  const args: string[] = [];
  for (const argument of slot.command.registeredArguments) {
    if (argument === slot.argument) args.push(value);
    else if (argument.required) args.push(validValue(argument, valueTypeOf(argument)));
  }
  // The program's own options go before a command.
  if (slot.path.length === 0 && slot.option) return [slot.name, value, 'models'];
  return [...slot.path, ...args, ...(slot.option ? [slot.name, value] : [])];
}

/** Runs modelctl in-process; `requests` are the calls that reached `fetch`. */
async function run(
  argv: readonly string[],
  options: { env?: Record<string, string>; readFile?: CliIo['readFile'] } = {},
): Promise<{ code: number; out: string; err: string; requests: string[] }> {
  let out = '';
  let err = '';
  const requests: string[] = [];
  const io: CliIo = {
    fetch: async (input, init) => {
      requests.push(`${init?.method ?? 'GET'} ${String(input)}`);
      throw new TypeError('fetch failed');
    },
    out: (text) => (out += text),
    err: (text) => (err += text),
    readFile: options.readFile ?? ((file) => readFile(file)),
    env: options.env ?? {},
  };
  const code = await modelctl(argv, io);
  return { code, out, err, requests };
}

describe('every value is declared', () => {
  it('every option that takes a value and every argument of every command says what it takes', () => {
    // Assess: an option added with .option('--x <n>') and no type, or an argument without one, is named here.
    const untyped = SLOTS.filter((slot) => slot.type === undefined).map((slot) => `modelctl ${[...slot.path, slot.name].join(' ')}`);
    expect(untyped).toEqual([]);
    expect(SLOTS.length).toBeGreaterThan(100);
    expect(STRICT.length).toBeGreaterThan(50);
  });

  it('the numbers, versions and choices the newcomer found unchecked are strict now', () => {
    // Assess
    const strict = new Set(STRICT.map((slot) => [...slot.path, slot.name].join(' ')));
    for (const name of [
      'stats --minutes',
      'logs --limit',
      'stage <version>',
      'stage <stage>',
      'set-production <version>',
      'promote <version>',
      '--api',
    ])
      expect({ name, strict: strict.has(name) }).toEqual({ name, strict: true });
  });
});

describe('a word where a number, a version or a choice goes', () => {
  it.each(STRICT.map((slot) => [`modelctl ${[...slot.path, slot.name].join(' ')}`, slot] as const))(
    '%s abc: exit 2, one line naming it, the help to read, no request',
    async (_name, slot) => {
      // Act
      const result = await run(lineFor(slot, 'abc'));

      // Assess
      expect({ code: result.code, out: result.out, requests: result.requests }).toEqual({ code: 2, out: '', requests: [] });
      const [first = '', ...rest] = result.err.split('\n');
      expect(first).toContain(slot.name);
      expect(first).toContain('abc');
      expect(rest).toEqual([`Run "${['modelctl', ...slot.path].join(' ')} --help" for usage.`, '']);
    },
  );

  it.each([
    [['stats', 'iris', '--minutes', 'abc'], '--minutes is a whole number from 1, not "abc".', 'stats'],
    [['logs', 'iris', '--limit', 'abc'], '--limit is a whole number from 1, not "abc".', 'logs'],
    [
      ['stage', 'iris', 'abc', 'staging'],
      '<version> is a version number such as "3" (a whole number from 1, at most 10 digits), not "abc".',
      'stage',
    ],
    [['stage', 'iris', '2', 'live'], '<stage> is one of development, staging, production, archived, not "live".', 'stage'],
    [
      ['set-production', 'iris', 'abc'],
      '<version> is a version number such as "3" (a whole number from 1, at most 10 digits), not "abc".',
      'set-production',
    ],
    [
      ['set-production', 'iris', 'v2'],
      '<version> is a version number such as "3" (a whole number from 1, at most 10 digits), not "v2".',
      'set-production',
    ],
    [['promote', 'iris', '2', '--managed', 'blue-green'], '--managed is one of canary, linear, not "blue-green".', 'promote'],
    [
      ['replay', 'iris', '--version', '2', '--since', '1h', '--source-versions', '1,latest'],
      '--source-versions is a comma-separated list of version numbers such as "1,2", not "1,latest" ("latest").',
      'replay',
    ],
    [
      ['profile', 'data/iris.csv', '--upload', 'iris@latest'],
      'The version in --upload iris@latest is a version number such as "3"',
      'profile',
    ],
  ])('%j: %s', async (argv, message, help) => {
    // Act
    const result = await run(argv);

    // Assess
    expect({ code: result.code, out: result.out, requests: result.requests }).toEqual({ code: 2, out: '', requests: [] });
    const [first = '', ...rest] = result.err.split('\n');
    expect(first.startsWith(message)).toBe(true);
    expect(rest).toEqual([`Run "modelctl ${help} --help" for usage.`, '']);
  });
});

describe('the API base URL', () => {
  it.each(['not-a-url', 'ftp://x', '', 'http://', 'http://127.0.0.1:3000/?stage=prod'])(
    '--api %j, before or after the command: exit 2, naming --api, no request',
    async (url) => {
      // Act
      const after = await run(['models', '--api', url]);
      const before = await run(['--api', url, 'models']);

      // Assess
      for (const [result, help] of [
        [after, 'modelctl models'],
        [before, 'modelctl'],
      ] as const) {
        expect({ code: result.code, out: result.out, requests: result.requests }).toEqual({ code: 2, out: '', requests: [] });
        expect(result.err).toMatch(
          /^--api is the API's base URL, http\(s\):\/\/HOST\[:PORT\]\[\/PATH\] \(e\.g\. http:\/\/127\.0\.0\.1:3000\), not /,
        );
        expect(result.err.split('\n').slice(1)).toEqual([`Run "${help} --help" for usage.`, '']);
      }
    },
  );

  it.each([
    ['not-a-url', 'not "not-a-url"'],
    ['ftp://x', 'not "ftp://x"'],
    ['', 'not empty'],
  ])('MODELCTL_API=%j: exit 2, naming MODELCTL_API, no request', async (url, what) => {
    // Act
    const result = await run(['versions', 'iris'], { env: { MODELCTL_API: url } });

    // Assess
    expect(result).toEqual({
      code: 2,
      out: '',
      err: `MODELCTL_API is the API's base URL, http(s)://HOST[:PORT][/PATH] (e.g. http://127.0.0.1:3000), ${what}.\nRun "modelctl versions --help" for usage.\n`,
      requests: [],
    });
  });

  it('takes a deployed stage URL with its path, and --api wins over a bad MODELCTL_API', async () => {
    // Act
    const staged = await run(['models', '--api', 'https://abc.execute-api.eu-west-1.amazonaws.com/prod/']);
    const overridden = await run(['models', '--api', 'http://127.0.0.1:9'], { env: { MODELCTL_API: 'ftp://x' } });

    // Assess: the requests were made (and failed: this fetch reaches nothing), exit 1.
    expect(staged.requests).toEqual(['GET https://abc.execute-api.eu-west-1.amazonaws.com/prod/v1/models']);
    expect(staged).toMatchObject({ code: 1, err: expect.stringMatching(/^Cannot reach https:\/\/abc\./) as unknown });
    expect(overridden.requests).toEqual(['GET http://127.0.0.1:9/v1/models']);
  });
});

describe('files that cannot be read', () => {
  let dir: string;
  let file: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'modelctl-usage-'));
    file = path.join(dir, 'a-file.json');
    await writeFile(file, '{}');
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A command line that reads `target` through each file option or argument, before any request. */
  const READS: Record<string, (target: string) => string[]> = {
    'register <file.onnx>': (target) => ['register', 'iris', target],
    'register --metadata': (target) => ['register', 'iris', 'models/iris/model.onnx', '--metadata', target],
    'register --profile': (target) => ['register', 'iris', 'models/iris/model.onnx', '--profile', target],
    'predict --body': (target) => ['predict', 'iris', '--body', target],
    'infer --body': (target) => ['infer', 'iris', '--body', target],
    'infer --input (NAME=FILE.npy)': (target) => ['infer', 'iris', '--input', `x=${target}`],
    'infer --input (NAME=@FILE.json)': (target) => ['infer', 'iris', '--input', `x=@${target}`],
    'batch run <file>': (target) => ['batch', 'run', 'iris', target, '--format', 'csv'],
    'profile <train.csv>': (target) => ['profile', target],
    'profile --model': (target) => ['profile', 'data/iris.csv', '--model', target],
    'profile --metadata': (target) => ['profile', 'data/iris.csv', '--model', 'models/iris/model.onnx', '--metadata', target],
    'features load <csv>': (target) => ['features', 'load', 'customer-features', target],
  };
  /** File options that are written, not read. */
  const WRITES = ['profile --out'];

  it('the cases below cover every file option and argument', () => {
    // Assess
    const files = SLOTS.filter((slot) => slot.type?.kind === 'file').map((slot) => [...slot.path, slot.name].join(' '));
    const covered = [...Object.keys(READS).map((name) => name.replace(/ \(.*\)$/, '')), ...WRITES];
    expect([...new Set(covered)].sort()).toEqual([...new Set([...files, 'infer --input'])].sort());
  });

  it.each(Object.entries(READS))('%s: a missing file, a folder, and one it may not read, one wording each', async (_name, line) => {
    // Prepare: running as root, the file system grants every read; a refusal is what Node reports for one.
    const missing = path.join(dir, 'missing.onnx');
    const denied: CliIo['readFile'] = (target) =>
      target === file
        ? Promise.reject(Object.assign(new Error(`EACCES: permission denied, open '${file}'`), { code: 'EACCES' }))
        : readFile(target);

    // Act
    const absent = await run(line(missing));
    const folder = await run(line(dir));
    const refused = await run(line(file), { readFile: denied });

    // Assess
    expect(absent).toEqual({ code: 1, out: '', err: `modelctl: cannot read ${missing}: no such file.\n`, requests: [] });
    expect(folder).toMatchObject({ code: 1, out: '', requests: [] });
    expect(folder.err).toMatch(new RegExp(`^modelctl: cannot read ${dir}: it is a folder\\.( [^\\n]+)?\\n$`));
    expect(refused).toEqual({ code: 1, out: '', err: `modelctl: cannot read ${file}: permission denied.\n`, requests: [] });
  });

  it('profile --out: a folder, or a path under a file, said in the same wording', async () => {
    // Act
    const folder = await run(['profile', 'data/iris.csv', '--out', dir]);
    const underFile = await run(['profile', 'data/iris.csv', '--out', path.join(file, 'profile.json')]);

    // Assess
    expect(folder).toMatchObject({ code: 1, err: `modelctl: cannot write ${dir}: it is a folder.\n` });
    expect(underFile).toMatchObject({
      code: 1,
      err: `modelctl: cannot write ${path.join(file, 'profile.json')}: a part of its path is not a folder.\n`,
    });
  });
});
