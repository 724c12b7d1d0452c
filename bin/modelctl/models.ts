/**
 * The registry commands: `models`, `versions`, `register`, `stage`, `set-production`,
 * `history`; and `predict`. Each prints a table or lines, or the API's JSON with `-o json`.
 */
import type { Command } from 'commander';
import { type ModelRecord, type ModelVersion, STAGES, type StageTransition, type TensorSpec } from '../../functions/core/model.js';
import type { PredictResponse } from '../../functions/core/predict.js';
import { FILE, JSON_TEXT, TEXT, VERSION, choice } from './args.js';
import { type Call, type Cli, action, apiOptions, command, option, outputOptions } from './command.js';
import { POINTER_CACHE, UsageError, clean, formatBytes, parseJson, plural, readLocalFile, statistic } from './common.js';
import { cell, fieldLines, table } from './output.js';
import { UPLOAD_THRESHOLD_BYTES, openFile, upload } from './uploads.js';

const REGISTRY = 'Registry:';

/** `/v1/models/{model}` with the name encoded. */
export function modelPath(model: string): string {
  return `/v1/models/${encodeURIComponent(model)}`;
}

/** The registry commands, on `program`. */
export function addModelCommands(program: Command, cli: Cli): void {
  const models = command(program, { name: 'models', summary: 'list registered models', group: REGISTRY });
  apiOptions(outputOptions(models)).action(
    action(cli, async (call) => {
      call.print((await call.api.call('GET', '/v1/models')) as ModelsReply, (reply) => modelsTable(reply.models));
      return 0;
    }),
  );

  const versions = command(program, { name: 'versions <model>', summary: "list a model's versions", group: REGISTRY });
  apiOptions(outputOptions(versions)).action(
    action(cli, async (call) => {
      const [model = ''] = call.args;
      const reply = (await call.api.call('GET', `${modelPath(model)}/versions`)) as VersionsReply;
      call.print(reply, (r) => versionsTable(r.versions));
      return 0;
    }),
  );

  const register = command(program, {
    name: 'register <model> <file.onnx>',
    summary: 'upload and register a new version',
    group: REGISTRY,
    description:
      'Upload an ONNX file and register it as the next version of the model, in stage development. The API checks it ' +
      'first: it loads in ONNX Runtime, its signature agrees with the declared features, its golden inputs reproduce ' +
      'their expected outputs.\n\nFiles over 1 MB, or any with --upload, go straight to S3 through a presigned URL, ' +
      'with a progress bar on stderr.',
    after: 'Example:\n  modelctl register iris models/iris/model.onnx --metadata models/iris/metadata.json --production',
    args: { 'file.onnx': FILE },
  });
  option(register, '--metadata <file>', "the version's metadata (JSON): features, class labels, metrics, golden inputs", FILE);
  option(register, '--profile <file>', "the version's reference profile for drift detection (JSON, as modelctl profile writes it)", FILE);
  register
    .option('--production', 'then move it through staging to production (the gates run on the way)')
    .option('--upload', 'upload the file through a presigned URL whatever its size');
  apiOptions(outputOptions(register)).action(action(cli, registerVersion));

  const stage = command(program, {
    name: 'stage <model> <version> <stage>',
    summary: 'move a version to another stage',
    group: REGISTRY,
    description:
      'Move a version one stage forward (development -> staging -> production), or to archived from any stage. ' +
      'Moving to production archives the production version before it.',
    args: { version: VERSION, stage: choice(STAGES) },
  });
  option(stage, '--reason <text>', 'why, kept in the history', TEXT);
  apiOptions(outputOptions(stage)).action(
    action<{ reason?: string }>(cli, async (call) => {
      const [model = '', version = '', to = ''] = call.args;
      const record = (await call.api.call('POST', `${modelPath(model)}/versions/${encodeURIComponent(version)}/stage`, {
        to,
        ...(call.opts.reason === undefined ? {} : { reason: call.opts.reason }),
      })) as ModelRecord;
      call.print(record, (r) => stagedLines(r, version, to));
      return 0;
    }),
  );

  const setProduction = command(program, {
    name: 'set-production <model> <version>',
    summary: 'promote a staging version to production',
    group: REGISTRY,
    description:
      'Make a staging version the production version; the one before it is archived. Endpoints follow within their ' +
      'pointer cache (POINTER_CACHE_MS, 5 s by default): a prediction sent sooner may still get the version before.',
    args: { version: VERSION },
  });
  option(setProduction, '--reason <text>', 'why, kept in the history', TEXT);
  apiOptions(outputOptions(setProduction)).action(
    action<{ reason?: string }>(cli, async (call) => {
      const [model = '', version = ''] = call.args;
      const record = (await call.api.call('PUT', `${modelPath(model)}/production`, {
        version,
        ...(call.opts.reason === undefined ? {} : { reason: call.opts.reason }),
      })) as ModelRecord;
      call.print(
        record,
        (r) => `Version ${r.productionVersion ?? version} of ${r.model} is now the production version.\n${SERVING_NOTE}\n`,
      );
      return 0;
    }),
  );

  const history = command(program, { name: 'history <model>', summary: "the model's stage changes: who, when, why", group: REGISTRY });
  apiOptions(outputOptions(history)).action(
    action(cli, async (call) => {
      const [model = ''] = call.args;
      const reply = (await call.api.call('GET', `${modelPath(model)}/history`)) as HistoryReply;
      call.print(reply, (r) => historyTable(r.history));
      return 0;
    }),
  );

  const predict = command(program, {
    name: 'predict <model>',
    summary: 'predict with the live version of a model',
    group: 'Predictions:',
    usage: '<model> (--features JSON | --instances JSON | --body FILE) [options]',
    description:
      'Call POST /v1/models/<model>/predict with one record (--features, an object of feature values), many ' +
      '(--instances, an array of objects or of rows), or a request file as it is (--body).',
    after:
      'Example:\n  modelctl predict iris --features \'{"sepal_length_cm":5.1,"sepal_width_cm":3.5,"petal_length_cm":1.4,"petal_width_cm":0.2}\'',
  });
  option(predict, '--features <json>', 'one record: {"feature": value, ...}', JSON_TEXT);
  option(predict, '--instances <json>', 'many records: [{...}, ...] or [[...], ...]', JSON_TEXT);
  option(predict, '--body <file>', 'a JSON request file, sent as it is', FILE);
  apiOptions(outputOptions(predict)).action(action(cli, predictWith));
}

interface RegisterOptions {
  readonly metadata?: string;
  readonly profile?: string;
  readonly production?: boolean;
  readonly upload?: boolean;
}

/**
 * `register`: the file inline (base64) or, when large or with `--upload`, through a presigned
 * upload; with `--production`, then to staging and production, and the version read again so
 * that what is printed is its stage after the promotion.
 */
async function registerVersion(call: Call<RegisterOptions>): Promise<number> {
  const { io, opts, api } = call;
  const [model = '', file = ''] = call.args;
  const metadata = opts.metadata === undefined ? undefined : parseJson(await readLocalFile(io, opts.metadata), opts.metadata);
  const profile = opts.profile === undefined ? undefined : parseJson(await readLocalFile(io, opts.profile), opts.profile);
  const opened = await openFile(io, file);
  const source =
    opts.upload || opened.size > UPLOAD_THRESHOLD_BYTES
      ? { uploadId: await upload(api, io, model, file, opened) }
      : { modelBase64: Buffer.from(await readLocalFile(io, file)).toString('base64') };
  const registered = (await api.call('POST', `${modelPath(model)}/versions`, {
    ...source,
    ...(metadata === undefined ? {} : { metadata }),
    ...(profile === undefined ? {} : { profile }),
  })) as ModelVersion;
  if (!opts.production) {
    call.print(registered, (v) => versionLines(v, `Registered ${v.model} v${v.version}: ${v.stage}`));
    return 0;
  }
  const versionPath = `${modelPath(model)}/versions/${encodeURIComponent(registered.version)}`;
  const reason = 'modelctl register --production';
  await api.call('POST', `${versionPath}/stage`, { to: 'staging', reason });
  const record = (await api.call('PUT', `${modelPath(model)}/production`, { version: registered.version, reason })) as ModelRecord;
  const promoted = (await api.call('GET', versionPath)) as ModelVersion;
  // A first version had nothing before it to serve in its place.
  call.print(
    { version: promoted, model: record },
    ({ version: v }) =>
      `${versionLines(v, `Registered ${v.model} v${v.version}: ${v.stage} (development -> staging -> ${v.stage})`)}${v.version === '1' ? '' : `${SERVING_NOTE}\n`}`,
  );
  return 0;
}

/** `predict`: exactly one of `--features`, `--instances` and `--body`. */
async function predictWith(call: Call<{ features?: string; instances?: string; body?: string }>): Promise<number> {
  const { opts } = call;
  const [model = ''] = call.args;
  const given = [opts.features, opts.instances, opts.body].filter((v) => v !== undefined).length;
  if (given !== 1) throw new UsageError('"predict" takes exactly one of --features, --instances or --body.');
  let body: unknown;
  if (opts.features !== undefined) body = { features: parseJson(opts.features, '--features') };
  else if (opts.instances !== undefined) body = { instances: parseJson(opts.instances, '--instances') };
  else body = parseJson(await readLocalFile(call.io, opts.body as string), opts.body as string);
  call.print((await call.api.call('POST', `${modelPath(model)}/predict`, body)) as PredictResponse, predictionsTable);
  return 0;
}

/** `GET /v1/models`. */
export interface ModelsReply {
  readonly models: readonly ModelRecord[];
}

/** `GET /v1/models/{m}/versions`. */
export interface VersionsReply {
  readonly versions: readonly ModelVersion[];
}

/** `GET /v1/models/{m}/history`. */
interface HistoryReply {
  readonly history: readonly StageTransition[];
}

/** What a change of the production version means for serving: endpoints follow it within their pointer cache. */
export const SERVING_NOTE = `Endpoints follow ${POINTER_CACHE}: a prediction sent sooner may still get the version before.`;

/** `stage`'s answer: where the version is, the production version now, and, moved to production, when serving follows. */
function stagedLines(record: ModelRecord, version: string, to: string): string {
  const production =
    record.productionVersion === undefined
      ? `${record.model} has no production version.`
      : `The production version is ${record.productionVersion}.`;
  return `Version ${version} of ${record.model} is in ${to}. ${production}\n${to === 'production' ? `${SERVING_NOTE}\n` : ''}`;
}

/**
 * `models` as a table:
 *
 *     MODEL  PRODUCTION  LATEST  UPDATED                   BY         ACTIVE
 *     iris   1           2       2026-11-30T12:00:00.000Z  local-dev  capture 10%; shadow of v2 on 5%
 */
export function modelsTable(models: readonly ModelRecord[]): string {
  if (models.length === 0) return 'No models registered. Register one: modelctl register <model> <file.onnx> --metadata meta.json\n';
  return table(
    ['MODEL', 'PRODUCTION', 'LATEST', 'UPDATED', 'BY', 'ACTIVE'],
    models.map((m) => {
      const active = [
        ...(m.capture ? [`capture ${m.capture.samplePercent}%`] : []),
        ...(m.experiment ? [`experiment ${m.experiment.id}`] : []),
        ...(m.shadow ? [`shadow of v${m.shadow.version} on ${m.shadow.samplePercent}%`] : []),
      ];
      return [m.model, m.productionVersion ?? '-', String(m.latestVersion), m.updatedAt, m.updatedBy, active.join('; ') || '-'];
    }),
  );
}

/**
 * `versions` as a table, a version a row:
 *
 *     VERSION  STAGE       REGISTERED                BY        FRAMEWORK     ALGORITHM  FEATURES  SHA256
 *     1        production  2026-11-30T12:00:00.000Z  cli-user  scikit-learn  LogReg     4         3f1a9c0b7d2e
 */
export function versionsTable(versions: readonly ModelVersion[]): string {
  if (versions.length === 0) return 'No versions.\n';
  return table(
    ['VERSION', 'STAGE', 'REGISTERED', 'BY', 'FRAMEWORK', 'ALGORITHM', 'FEATURES', 'SHA256'],
    versions.map((v) => [
      v.version,
      v.stage,
      v.registeredAt,
      v.registeredBy,
      v.metadata.framework ?? '-',
      v.metadata.algorithm ?? '-',
      featureCount(v),
      v.artifact.sha256.slice(0, 12),
    ]),
  );
}

/** The FEATURES cell: how many are declared, and how many of them are read by key (`10 (6 by key)`). */
function featureCount(version: ModelVersion): string {
  const { features, onlineFeatures } = version.metadata;
  if (features === undefined) return '-';
  const byKey = (onlineFeatures ?? []).reduce((n, g) => n + g.features.length, 0);
  return byKey === 0 ? String(features.length) : `${features.length} (${byKey} by key)`;
}

/** An input or output: `features float32 [N, 4]`. */
function tensorText(spec: TensorSpec): string {
  return `${spec.name} ${spec.type} [${spec.shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

/**
 * A version as `register` prints it: the headline, then its fields.
 *
 *     Registered iris v2: development
 *       sha256    3f1a9c0b...
 *       size      1.4 KB
 *       inputs    features float32 [N, 4]
 *       ...
 */
export function versionLines(version: ModelVersion, headline: string): string {
  const m = version.metadata;
  const fields: [string, string][] = [
    ['sha256', version.artifact.sha256],
    ['size', formatBytes(version.artifact.sizeBytes)],
    ['inputs', version.signature.inputs.map(tensorText).join('; ')],
    ['outputs', version.signature.outputs.map(tensorText).join('; ')],
    ...(m.features ? [['features', m.features.join(', ')] as [string, string]] : []),
    ...(m.classLabels ? [['labels', m.classLabels.join(', ')] as [string, string]] : []),
    ...(m.goldenInputs ? [['golden', `${plural(m.goldenInputs.length, 'input')}, reproduced`] as [string, string]] : []),
    ...(m.onlineFeatures ?? []).map((g): [string, string] => [
      'by key',
      `${g.features.join(', ')} from ${g.source.table} (${g.source.layout}) by ${g.entity}`,
    ]),
    ...(m.predictionCache
      ? [
          [
            'cache',
            `${m.predictionCache.maxEntries} answers per sandbox${m.predictionCache.ttlSeconds === undefined ? '' : `, ${m.predictionCache.ttlSeconds} s each`}`,
          ] as [string, string],
        ]
      : []),
    ['by', `${version.registeredBy} at ${version.registeredAt}`],
  ];
  const next =
    version.stage === 'production'
      ? `Predict: modelctl predict ${version.model} --features '{...}'`
      : `Next: modelctl stage ${version.model} ${version.version} staging`;
  return `${[clean(headline), ...fieldLines(fields), next].join('\n')}\n`;
}

/**
 * `history` as a table, oldest first as the API answers:
 *
 *     AT                        VERSION  FROM         TO          BY        REASON
 *     2026-11-30T12:00:00.000Z  1        development  staging     cli-user  offline eval passed
 */
export function historyTable(history: readonly StageTransition[]): string {
  if (history.length === 0) return 'No stage changes yet.\n';
  return table(
    ['AT', 'VERSION', 'FROM', 'TO', 'BY', 'REASON'],
    history.map((h) => [h.at, h.version, h.from, h.to, h.actor, h.reason ?? '-']),
  );
}

/** A number or the words the API uses for NaN and the infinities, as a table shows it. */
function numberText(value: unknown): string {
  return typeof value === 'number' ? statistic(value) : cell(value);
}

/**
 * `predict`'s answer: who served it, then a row per prediction. A classifier's rows show the
 * label, the confidence and each class's probability; any other model's, each output's value.
 *
 *     iris v1 (request 5b0c..., function $LATEST, 1.9 ms)
 *     ROW  LABEL   CONFIDENCE  PROBABILITIES
 *     0    setosa  0.9792      setosa 0.9792, versicolor 0.0208, virginica 0
 */
export function predictionsTable(reply: PredictResponse): string {
  const head = `${reply.model} v${reply.modelVersion} (request ${reply.requestId}, function ${reply.functionVersion}, ${reply.processingTimeMs} ms)`;
  const rows = reply.predictions as unknown[];
  const classifier = rows.every((p) => p !== null && typeof p === 'object' && 'label' in p && 'probabilities' in p);
  if (rows.length > 0 && classifier) {
    const lines = rows.map((p, i) => {
      const { label, confidence, probabilities } = p as { label: unknown; confidence: unknown; probabilities: Record<string, unknown> };
      const classes = Object.entries(probabilities).map(([name, value]) => `${name} ${numberText(value)}`);
      return [String(i), cell(label), numberText(confidence), classes.join(', ')];
    });
    return `${clean(head)}\n${table(['ROW', 'LABEL', 'CONFIDENCE', 'PROBABILITIES'], lines)}`;
  }
  const keys = [...new Set(rows.flatMap((p) => (p !== null && typeof p === 'object' && !Array.isArray(p) ? Object.keys(p) : [])))];
  if (keys.length === 0)
    return `${clean(head)}\n${table(
      ['ROW', 'VALUE'],
      rows.map((p, i) => [String(i), cell(p)]),
    )}`;
  const lines = rows.map((p, i) => [String(i), ...keys.map((k) => cell((p as Record<string, unknown>)[k]))]);
  return `${clean(head)}\n${table(['ROW', ...keys.map((k) => k.toUpperCase())], lines)}`;
}
