/**
 * `modelctl experiment` and `modelctl shadow` against the local API over real HTTP (issue 14): a
 * shadow test of a second version started, shown with its report once requests have run on both
 * (identical files, so every label agrees and no output differs), and stopped; an experiment keyed
 * by a request header started, its outcomes recorded through the CLI (once: the same again is
 * accepted, another value is the API's 409), its analysis shown as a table per variant with the
 * counts this test served, stopped, and its winner promoted; and what a person sees when the
 * command line is wrong (a short usage error, exit 2, nothing sent).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SAMPLE_MODEL, type LocalStack } from '../../local/stack.js';
import { startTestStack } from '../fixtures/stack-log.js';
import { call } from '../fixtures/http.js';
import { runModelctl, type ModelctlRun } from '../fixtures/modelctl.js';

const ROW = { sepal_length_cm: 5.9, sepal_width_cm: 3.0, petal_length_cm: 4.2, petal_width_cm: 1.5 };

let stack: LocalStack;
let dataDir: string;
/** The second version of iris (the sample model's file again), in staging. */
let candidate: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'modelctl-experiments-'));
  stack = await startTestStack({ dataDir, auth: 'insecure', rateLimit: false, driftIntervalMs: 0, env: { POINTER_CACHE_MS: '50' } });
  const registered = await run('register', 'iris', SAMPLE_MODEL.file, '--metadata', SAMPLE_MODEL.metadata, '-o', 'json');
  expect(registered.code).toBe(0);
  candidate = (JSON.parse(registered.out) as { version: string }).version;
  expect((await run('stage', 'iris', candidate, 'staging')).code).toBe(0);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

function run(...argv: string[]): Promise<ModelctlRun> {
  return runModelctl({ url: stack.url, token: undefined }, argv);
}

interface Served {
  readonly requestId: string;
  readonly modelVersion: string;
  readonly experiment?: { readonly id: string; readonly variant: string };
}

/** One prediction, for the unit `key` (header `x-user-id`) when given. */
async function predictAs(key?: string): Promise<Served> {
  const reply = await call(stack.url, 'POST', '/v1/models/iris/predict', { features: ROW }, key === undefined ? {} : { 'x-user-id': key });
  expect(reply.status).toBe(200);
  return reply.body as Served;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The lines of `text` that start with `start` (a table's row by its first cell). */
function rowsOf(text: string, start: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(start));
}

describe('modelctl shadow', () => {
  it('starts a shadow test of the candidate, shows its report once requests ran on both, and stops it', async () => {
    // Act
    const none = await run('shadow', 'status', 'iris');
    const started = await run('shadow', 'start', 'iris', '--version', candidate, '--sample', '100');
    const again = await run('shadow', 'start', 'iris', '--version', candidate);
    const experimentDuring = await run(
      'experiment',
      'start',
      'iris',
      '--variant',
      'control=1:50',
      '--variant',
      `treatment=${candidate}:50`,
    );
    // The endpoint trusts the model's record it read for POINTER_CACHE_MS; one request reads it again.
    await pause(150);
    await call(stack.url, 'GET', '/v2/models/iris/ready');
    await pause(50);
    for (let i = 0; i < 6; i++) await predictAs();
    await stack.flush();
    const status = await run('shadow', 'status', 'iris');
    const json = await run('shadow', 'status', 'iris', '--json');
    const api = await call(stack.url, 'GET', '/v1/models/iris/shadow');
    const stopped = await run('shadow', 'stop', 'iris');
    const stoppedAgain = await run('shadow', 'stop', 'iris');
    const id = /^Shadow test (shadow-[0-9a-z-]+) /.exec(started.out)?.[1] ?? '';
    const byId = await run('shadow', 'status', 'iris', '--id', id);
    const badId = await run('shadow', 'status', 'iris', '--id', 'nope');

    // Assess: before, and the start
    expect(none).toEqual({
      code: 0,
      err: '',
      out: 'No shadow test of iris. Start one: modelctl shadow start iris --version N [--sample PERCENT]\n',
    });
    expect(started).toMatchObject({ code: 0, err: '' });
    expect(started.out).toMatch(
      new RegExp(
        `^Shadow test shadow-[0-9a-z-]+ of iris: running, version ${candidate} on 100% of requests\\n {2}started {2}\\S+Z by \\S+\\nIts report: modelctl shadow status iris\\n$`,
      ),
    );
    expect(again).toMatchObject({
      code: 1,
      out: '',
      err: expect.stringMatching(new RegExp(`^409 SHADOW_RUNNING: .*${id}.* \\(at model\\)\\n$`)) as unknown,
    });
    expect(experimentDuring).toMatchObject({ code: 1, out: '', err: expect.stringMatching(/^409 SHADOW_RUNNING: /) as unknown });
    // Assess: the report, as lines, of the six requests; the same file on both sides agrees everywhere
    expect(status).toMatchObject({ code: 0, err: '' });
    const lines = status.out.split('\n');
    expect(lines[0]).toBe(`Shadow test ${id} of iris: running, version ${candidate} on 100% of requests`);
    expect(lines[2]).toBe(`requests 6 (answered by version 1, run on version ${candidate}): 6 compared (6 rows), 0 failed`);
    expect(lines[3]).toBe('labels: 6 of 6 identical (100%); max abs diff 0');
    expect(lines[4]).toMatch(/^OUTPUT\s+KIND\s+REQUESTS\s+ELEMENTS\s+DIFFERING\s+MAX ABS DIFF\s+MEAN ABS DIFF$/);
    const report = (
      JSON.parse(json.out) as {
        report: { outputs: Record<string, { kind: string; requests: number; elements: number; differing: number }> };
      }
    ).report;
    const outputs = Object.entries(report.outputs);
    expect(outputs.length).toBeGreaterThan(0);
    for (const [name, o] of outputs) {
      expect(rowsOf(status.out, `${name} `)).toEqual([
        expect.stringMatching(new RegExp(`^${name}\\s+${o.kind}\\s+6\\s+${o.elements}\\s+0\\s+(0|-)\\s+(0|-)$`)) as unknown,
      ]);
    }
    expect(status.out).toContain(
      '\nlargest difference per request (6 compared): p50 0, p90 0, p99 0, max 0\n  buckets: 0: 6; (0, 1e-6]: 0; (1e-6, 1e-3]: 0; (1e-3, 0.1]: 0; > 0.1: 0\n',
    );
    expect(status.out).toMatch(
      /\nLATENCY MS\s+REQUESTS\s+P50\s+P99\s+MEAN\nprimary\s+6\s+[\d.]+\s+[\d.]+\s+[\d.]+\ncandidate\s+6\s+[\d.]+\s+[\d.]+\s+[\d.]+\n$/,
    );
    expect(status.out).not.toContain('differing most');
    expect(JSON.parse(json.out)).toEqual(api.body);
    // Assess: stopped, its report kept; then nothing to stop; --id reads it, and a bad id is the API's 400
    expect(stopped).toMatchObject({ code: 0, err: '' });
    expect(stopped.out).toMatch(
      new RegExp(`^Shadow test ${id} of iris: stopped, .*\\n {2}started .*\\n {2}stopped {2}\\S+Z by \\S+\\nrequests 6 `),
    );
    expect(stoppedAgain).toMatchObject({ code: 1, out: '', err: expect.stringMatching(/^404 NO_SHADOW_TEST: /) as unknown });
    expect(byId).toMatchObject({ code: 0, out: stopped.out });
    expect(badId).toMatchObject({
      code: 1,
      out: '',
      err: expect.stringMatching(/^400 INVALID_SHADOW_ID: .* \(at query\.id\)\n$/) as unknown,
    });
  }, 60_000);
});

describe('modelctl experiment', () => {
  let id: string;
  /** Each user's answer, `user-0` to `user-39`. */
  const served = new Map<string, Served>();
  /** The probe's variant: one request of a unit never given an outcome. */
  let probe: string | undefined;

  const usersOf = (variant: string) => [...served].filter(([, s]) => s.experiment?.variant === variant).map(([user]) => user);

  it('starts an experiment keyed by a header, prints its id and state, and lists it', async () => {
    // Act
    const before = await run('experiment', 'status', 'iris');
    const started = await run(
      'experiment',
      'start',
      'iris',
      '--variant',
      'control=1:50',
      '--variant',
      `treatment=${candidate}:50`,
      '--key-header',
      'X-User-Id',
      '--min-sample',
      '5',
      '--name',
      'checkout test',
    );
    id = /^Experiment (exp-\S+) of iris: running\n/.exec(started.out)?.[1] ?? '';
    const second = await run('experiment', 'start', 'iris', '--variant', 'a=1:50', '--variant', `b=${candidate}:50`);
    const listed = await run('experiment', 'status', 'iris');

    // Assess
    expect(before).toEqual({ code: 0, err: '', out: 'No experiments of model "iris".\n' });
    expect(started).toMatchObject({ code: 0, err: '' });
    expect(id).toMatch(/^exp-/);
    expect(started.out.split('\n').slice(1)).toEqual([
      '  name      checkout test',
      `  variants  control=1:50, treatment=${candidate}:50 (the first is the control)`,
      '  units     the request header x-user-id (a request without it is not assigned)',
      '  metric    conversion, maximize; alpha 0.05; a winner needs 5 units per variant',
      expect.stringMatching(/^ {2}starts {4}\S+Z$/) as unknown,
      '  ends      when stopped',
      expect.stringMatching(/^ {2}created {3}\S+Z by \S+$/) as unknown,
      'Endpoints see it within their pointer cache (POINTER_CACHE_MS, 5 s by default): until then requests are served as before.',
      `Its analysis: modelctl experiment status iris ${id}`,
      '',
    ]);
    expect(second).toMatchObject({
      code: 1,
      out: '',
      err: expect.stringMatching(new RegExp(`^409 EXPERIMENT_RUNNING: .*${id}`)) as unknown,
    });
    expect(listed).toMatchObject({ code: 0, err: '' });
    expect(listed.out.split('\n')).toEqual([
      expect.stringMatching(/^ID\s+STATE\s+NAME\s+VARIANTS\s+CREATED$/) as unknown,
      expect.stringMatching(
        new RegExp(`^${id}\\s+running\\s+checkout test\\s+control=1:50, treatment=${candidate}:50\\s+\\S+Z$`),
      ) as unknown,
      '',
    ]);
  });

  it("shows no winner before outcomes, and the promotion is the API's refusal", async () => {
    // Prepare: the endpoint serves the experiment once it has read the model's record again
    for (let i = 0; i < 100 && probe === undefined; i++) {
      const answer = await predictAs('probe');
      if (answer.experiment?.id === id) probe = answer.experiment.variant;
      else await pause(20);
    }
    expect(probe).toBeDefined();
    for (let i = 0; i < 40; i++) served.set(`user-${i}`, await predictAs(`user-${i}`));
    await stack.flush();

    // Act
    const status = await run('experiment', 'status', 'iris', id);
    const promoted = await run('experiment', 'promote-winner', 'iris', id);

    // Assess
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/\nwinner: none\. No winner/);
    expect(promoted).toMatchObject({
      code: 1,
      out: '',
      err: expect.stringMatching(new RegExp(`^409 NO_WINNER: Experiment "${id}" has no winner to promote\\. `)) as unknown,
    });
  }, 60_000);

  it("records outcomes once: by request id (the same again accepted, another value refused with the API's code) and by key", async () => {
    // Prepare
    const [first, ...treated] = usersOf('treatment');
    const controls = usersOf('control');
    const request = served.get(first as string)?.requestId as string;

    // Act
    const recorded = await run('experiment', 'outcome', 'iris', id, '--request-id', request, '--value', '1');
    const repeated = await run('experiment', 'outcome', 'iris', id, '--request-id', request, '--value', '1');
    const conflicting = await run('experiment', 'outcome', 'iris', id, '--request-id', request, '--value', '0');
    const byKey = [];
    for (const user of treated) byKey.push(await run('experiment', 'outcome', 'iris', id, '--key', user, '--value', '1'));
    // Control units: an explicit 0 (as good as none), one with an outcome id of its own.
    const zero = await run('experiment', 'outcome', 'iris', id, '--key', controls[0] as string, '--value', '0');
    const withId = await run(
      'experiment',
      'outcome',
      'iris',
      id,
      '--key',
      controls[1] as string,
      '--outcome-id',
      'visit-1',
      '--value',
      '0',
    );
    const json = await run(
      'experiment',
      'outcome',
      'iris',
      id,
      '--key',
      controls[1] as string,
      '--outcome-id',
      'visit-1',
      '--value',
      '0',
      '--json',
    );
    const unknown = await run('experiment', 'outcome', 'iris', 'exp-20000101t000000000z-aaaaaaaa', '--key', 'k', '--value', '1');

    // Assess
    expect(recorded).toEqual({ code: 0, err: '', out: `Recorded outcome 1 for variant treatment of ${id} (request ${request}).\n` });
    expect(repeated).toMatchObject({ code: 0, err: '' });
    expect(repeated.out).toMatch(
      new RegExp(
        `^Already recorded: outcome 1 for variant treatment of ${id} \\(request ${request}\\), at \\S+Z by \\S+; nothing changed\\.\\n$`,
      ),
    );
    expect(conflicting).toMatchObject({ code: 1, out: '' });
    expect(conflicting.err).toMatch(
      /^409 OUTCOME_CONFLICT: An outcome of 1 was recorded for this request at \S+; an outcome is recorded once\. \(at requestId\)\n$/,
    );
    for (const [i, result] of byKey.entries())
      expect(result).toEqual({ code: 0, err: '', out: `Recorded outcome 1 for variant treatment of ${id} (key "${treated[i]}").\n` });
    expect(zero.out).toBe(`Recorded outcome 0 for variant control of ${id} (key "${controls[0]}").\n`);
    expect(withId.out).toBe(`Recorded outcome 0 for variant control of ${id} (key "${controls[1]}", outcome id "visit-1").\n`);
    expect(JSON.parse(json.out)).toMatchObject({ created: false, outcome: { variant: 'control', value: 0 } });
    expect(unknown).toMatchObject({ code: 1, err: expect.stringMatching(/^404 EXPERIMENT_NOT_FOUND: /) as unknown });
  }, 60_000);

  it("shows the analysis as a row per variant with the counts served, the winner, and the API's JSON", async () => {
    // Act
    const status = await run('experiment', 'status', 'iris', id);
    const json = await run('experiment', 'status', 'iris', id, '--json');
    const api = await call(stack.url, 'GET', `/v1/models/iris/experiments/${id}`);

    // Assess: what this test served and recorded, per variant (the probe is one request of one unit)
    expect(status).toMatchObject({ code: 0, err: '' });
    const lines = status.out.split('\n');
    expect(lines[0]).toBe(`Experiment ${id} of iris (checkout test): running`);
    expect(lines[1]).toBe('metric conversion (maximize); treatment compared with control at p < 0.05; a winner needs 5 units per variant');
    expect(lines[2]).toMatch(
      /^VARIANT\s+VERSION\s+WEIGHT\s+REQUESTS\s+UNITS\s+OUTCOMES\s+MEAN\s+CI 95%\s+DIFFERENCE \(CI 95%\)\s+P-VALUE\s+SIGNIFICANT$/,
    );
    const units = (variant: string) => usersOf(variant).length + (probe === variant ? 1 : 0);
    const nControl = units('control');
    const nTreatment = units('treatment');
    expect(lines[3]).toMatch(
      new RegExp(`^control\\s+1\\s+50%\\s+${nControl}\\s+${nControl}\\s+2\\s+0\\s+\\[\\S+, 0\\.\\d+\\]\\s+\\(control\\)\\s+-\\s+-$`),
    );
    const rate = Number((usersOf('treatment').length / nTreatment).toPrecision(4));
    expect(lines[4]).toMatch(
      new RegExp(
        `^treatment\\s+${candidate}\\s+50%\\s+${nTreatment}\\s+${nTreatment}\\s+${usersOf('treatment').length}\\s+${String(rate).replace('.', '\\.')}\\s+\\[0\\.\\d+, [\\d.]+\\]\\s+\\+${String(rate).replace('.', '\\.')} \\[[\\d.]+, [\\d.]+\\]\\s+\\S+\\s+yes$`,
      ),
    );
    expect(lines[5]).toMatch(
      new RegExp(
        `^winner: treatment \\(version ${candidate}\\)\\. treatment is better than control: difference [\\d.]+, p = \\S+ < 0\\.05\\.$`,
      ),
    );
    expect(lines[6]).toBe(`Promote it: modelctl experiment promote-winner iris ${id}`);
    expect(json.code).toBe(0);
    const { analyzedAt: _mine, ...analysis } = JSON.parse(json.out) as Record<string, unknown>;
    const { analyzedAt: _theirs, ...expected } = api.body as Record<string, unknown>;
    expect(analysis).toEqual(expected);
  });

  it('stops it with a reason, then promotes its winner: all the traffic to the candidate', async () => {
    // Act
    const stopped = await run('experiment', 'stop', 'iris', id, '--reason', 'enough data');
    const again = await run('experiment', 'stop', 'iris', id);
    const both = await run('experiment', 'promote-winner', 'iris', id, '--canary', '10', '--managed', 'linear');
    const promoted = await run('experiment', 'promote-winner', 'iris', id, '--reason', 'treatment converts');
    const model = await call(stack.url, 'GET', '/v1/models/iris');
    const listed = await run('experiment', 'status', 'iris');

    // Assess
    expect(stopped).toMatchObject({ code: 0, err: '' });
    expect(stopped.out.split('\n')[0]).toBe(`Experiment ${id} of iris: stopped`);
    expect(stopped.out).toMatch(
      /\n {2}stopped {3}\S+Z by \S+: enough data\nEndpoints stop assigning within their pointer cache \(POINTER_CACHE_MS, 5 s by default\): until then a request may still be served by its variant\.\n$/,
    );
    expect(again).toMatchObject({ code: 1, err: expect.stringMatching(/^409 EXPERIMENT_STOPPED: /) as unknown });
    expect(both).toMatchObject({
      code: 2,
      out: '',
      err: '"experiment promote-winner" takes either --canary or --managed, not both.\nRun "modelctl experiment promote-winner --help" for usage.\n',
    });
    expect(promoted).toMatchObject({ code: 0, err: '' });
    expect(promoted.out.split('\n')).toEqual([
      `Winner of experiment ${id} of iris: treatment (version ${candidate})`,
      expect.stringMatching(/^ {2}decision {2}treatment is better than control: /) as unknown,
      '  stopped   no: it had been stopped already',
      expect.stringMatching(
        new RegExp(`^ {2}release {3}version ${candidate} takes all the traffic \\(function version \\S+\\)$`),
      ) as unknown,
      '',
    ]);
    expect(model.body).toMatchObject({ productionVersion: candidate });
    expect(rowsOf(listed.out, id)).toEqual([expect.stringMatching(new RegExp(`^${id}\\s+stopped\\s+checkout test\\s`)) as unknown]);
  }, 60_000);
});

describe('usage mistakes', () => {
  it.each<[string[], RegExp]>([
    [
      ['experiment', 'start', 'iris'],
      /^"experiment start" needs a --variant NAME=VERSION:WEIGHT per variant, two or more, the control first \(.*\); none was given\.$/,
    ],
    [
      ['experiment', 'start', 'iris', '--variant', 'control=1:100'],
      /^The weight in --variant control=1:100 is a percent of the units, from 0.001 to below 100, not "100"\.$/,
    ],
    [
      ['experiment', 'start', 'iris', '--variant', 'control=1:fifty', '--variant', 'treatment=2:50'],
      /^The weight in --variant control=1:fifty must be a number, not "fifty"\.$/,
    ],
    [
      ['experiment', 'start', 'iris', '--variant', 'control=1:0x10', '--variant', 'treatment=2:50'],
      /^The weight in --variant control=1:0x10 must be a number, not "0x10"\.$/,
    ],
    [
      ['experiment', 'start', 'iris', '--variant', 'control=1:0', '--variant', 'treatment=2:100'],
      /^The weight in --variant control=1:0 is a percent of the units, from 0.001 to below 100, not "0"\.$/,
    ],
    [
      ['experiment', 'start', 'iris', '--variant', 'control-1-50', '--variant', 'treatment=2:50'],
      /^--variant is NAME=VERSION:WEIGHT \(e\.g\. control=1:50, the weight a percent of the units\), not "control-1-50"\.$/,
    ],
    [
      ['experiment', 'start', 'iris', '--variant', 'control=1:50', '--variant', 'treatment=2:50', '--frobnicate'],
      /^Unknown option '--frobnicate'$/,
    ],
    [
      ['experiment', 'start', 'iris', '--variant', 'control=1:50', '--variant', 'treatment=2:50', '--metric', 'clicks'],
      /^--metric is "conversion" \(0 or 1 per unit\) or "value" \(a number per outcome\), not "clicks"\.$/,
    ],
    [
      ['experiment', 'start', 'iris', '--variant', 'control=1:50', '--variant', 'treatment=2:50', '--alpha', '0.9'],
      /^--alpha is the test's level, above 0 and at most 0\.5 \(e\.g\. 0\.05\), not "0\.9"\.$/,
    ],
    [
      ['experiment', 'start', 'iris', '--variant', 'control=1:50', '--variant', 'treatment=2:50', '--sample', '5'],
      /^Unknown option '--sample'/,
    ],
    [['experiment', 'outcome', 'iris', 'exp-x', '--key', 'k'], /^"experiment outcome" needs --value N: /],
    [
      ['experiment', 'outcome', 'iris', 'exp-x', '--key', 'k', '--request-id', 'r', '--value', '1'],
      /^"experiment outcome" takes --request-id or --key, not both/,
    ],
    [['experiment', 'outcome', 'iris', 'exp-x', '--request-id', 'r', '--outcome-id', 'o', '--value', '1'], /^--outcome-id goes with --key/],
    [['experiment', 'stop', 'iris'], /^Missing required argument 'experiment'$/],
    [['shadow', 'start', 'iris'], /^"shadow start" needs --version N: /],
    [
      ['shadow', 'start', 'iris', '--version', '2', '--sample', '0'],
      /^--sample is the percent of requests also run on the candidate, from 0\.001 to 100, not "0"; /,
    ],
    [['shadow', 'start', 'iris', '--version', '2', '--sample', ' 10'], /^--sample must be a number, not " 10"\.$/],
    [['shadow', 'status', 'iris', '--sample', '5'], /^Unknown option '--sample'$/],
  ])('%j: the message and where the help is; exit 2, nothing sent', async (argv, message) => {
    // Prepare
    const sent: string[] = [];
    const counting: typeof fetch = (input, init) => {
      sent.push(String(input));
      return fetch(input, init);
    };

    // Act
    const result = await runModelctl({ url: stack.url, token: undefined, fetch: counting }, argv);

    // Assess
    expect(result).toMatchObject({ code: 2, out: '' });
    const [first = '', ...rest] = result.err.split('\n');
    expect(first).toMatch(message);
    expect(rest).toEqual([`Run "modelctl ${argv[0]} ${argv[1]} --help" for usage.`, '']);
    expect(sent).toEqual([]);
  });

  it('refuses an unknown command of the groups and their options elsewhere, with the help that fits', async () => {
    // Act
    const unknown = await run('experiment', 'frobnicate');
    const unknownHelp = await run('help', 'shadow', 'frobnicate');
    const variantElsewhere = await run('versions', 'iris', '--variant', 'a=1:50');
    const idElsewhere = await run('versions', 'iris', '--id', 'shadow-x');
    const keyInDrift = await run('drift', 'iris', '--key', 'k');

    // Assess
    expect(unknown).toEqual({ code: 2, out: '', err: `Unknown command 'frobnicate'\nRun "modelctl experiment --help" for usage.\n` });
    expect(unknownHelp).toEqual({ code: 2, out: '', err: `Unknown command 'frobnicate'\nRun "modelctl shadow --help" for usage.\n` });
    expect(variantElsewhere).toEqual({ code: 2, out: '', err: `Unknown option '--variant'\nRun "modelctl versions --help" for usage.\n` });
    expect(idElsewhere).toEqual({ code: 2, out: '', err: `Unknown option '--id'\nRun "modelctl versions --help" for usage.\n` });
    expect(keyInDrift).toEqual({ code: 2, out: '', err: `Unknown option '--key'\nRun "modelctl drift --help" for usage.\n` });
  });
});

describe('help', () => {
  it('lists the experiment and shadow commands, each with its own help; status documents its exit code', async () => {
    // Act
    const general = await run('--help');
    const experiments = [await run('experiment', '--help'), await run('experiment', '-h'), await run('help', 'experiment')];
    const shadows = await run('shadow', '--help');
    const status = [await run('experiment', 'status', '--help'), await run('help', 'experiment', 'status')];

    // Assess
    expect(general.out).toMatch(/^ {2}experiment <command> +A\/B tests of versions on live traffic$/m);
    expect(general.out).toMatch(/^ {2}shadow <command> +a candidate version shadows live requests$/m);
    for (const result of experiments) expect(result).toMatchObject({ code: 0, err: '', out: experiments[0]?.out });
    expect(experiments[0]?.out).toMatch(/^Usage: modelctl experiment <command> \[options\]\n/);
    for (const command of [
      'start <model>',
      'status <model> [experiment]',
      'stop <model> <experiment>',
      'promote-winner <model> <experiment>',
      'outcome <model> <experiment>',
    ]) {
      expect(experiments[0]?.out).toContain(`\n  ${command}  `);
    }
    for (const command of ['start <model>', 'status <model>', 'stop <model>']) expect(shadows.out).toContain(`\n  ${command}  `);
    for (const result of status) {
      expect(result).toMatchObject({ code: 0, out: status[0]?.out });
      expect(result.out.split('\n')[0]).toBe('Usage: modelctl experiment status <model> [experiment] [options]');
      expect(result.out.replace(/\s+/g, ' ')).toContain('Exit 0 with a winner or without one.');
      expect(result.out).toMatch(/^ {2}-o, --output <format> /m);
    }
    const start = await run('help', 'experiment', 'start');
    expect(start.out.split('\n')[0]).toBe('Usage: modelctl experiment start <model> --variant NAME=VERSION:WEIGHT --variant ... [options]');
    const shadowStart = await run('shadow', 'start', '-h');
    expect(shadowStart.out.split('\n')[0]).toBe('Usage: modelctl shadow start <model> --version N [options]');
  });
});
