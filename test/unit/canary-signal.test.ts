/**
 * The canary signal end to end, without AWS: the errors alarm the CDK app synthesizes reads a
 * metric (namespace, name, dimensions) that the real predict handler actually writes when it
 * answers a caught 500. On AWS a caught error never raises Lambda's `Errors`, so if the two drifted
 * apart (a renamed metric or dimension, another namespace, a version dimension the pre-traffic
 * hook does not move) a failing canary would never be rolled back. Everything the assertions
 * compare with is read from the synthesized template, after the hook's `retargeted` has pointed
 * the alarm at function version 7, the version the handler reports.
 *
 * The 500s are real: a model whose `session.run` fails in ONNX Runtime for some inputs (a Reshape
 * to a fixed shape, fed two rows), and a registered version whose artifact was deleted from the
 * store.
 */
import { jest } from '@jest/globals';
import type { MetricAlarm, MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMetrics, EmfRequestObserver } from '../../functions/adapters/emf-metrics.js';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { buildModel } from '../support/onnx/builder.js';
import type { ModelSignature, TensorSpec } from '../../functions/core/model.js';
import { PredictionService } from '../../functions/core/predict.js';
import { makeHandler } from '../../functions/predict/app.js';
import { retargeted } from '../../functions/release-hook/hook.js';
import { flattenReference } from '../../lib/nag.js';
import { loadConfig } from '../../functions/shared/config.js';
import { cdkJsonConfig, endpointFunction, errorsAlarmOf, removeCdkOutdir, synthesize, type TemplateMetricQuery } from '../cdk/helpers.js';
import { captureOutput, jsonLines } from '../fixtures/output.js';
import { InMemoryArtifactStore, InMemoryModelRegistry, InMemoryPredictionLog, publishModel } from '../fixtures/in-memory.js';

/** The Lambda version the handler runs as, and the deployment's target the hook retargets to. */
const TARGET_VERSION = '7';

/** What the synthesized errors alarm reads of the handler's EMF, once retargeted. */
interface AlarmSignal {
  /** The namespace the endpoint function is configured to publish in (its METRICS_NAMESPACE, as its config parses it). */
  readonly configuredNamespace: string;
  readonly namespace: string;
  readonly metricName: string;
  readonly stat: string;
  readonly dimensions: Readonly<Record<string, string>>;
  /** The alarm as PutMetricAlarm would be sent it by the pre-traffic hook. */
  readonly alarm: MetricAlarm;
}

/** One EMF line (CloudWatch Embedded Metric Format) as the handler wrote it to stdout. */
interface EmfLine {
  readonly _aws: {
    readonly CloudWatchMetrics: readonly {
      readonly Namespace: string;
      readonly Dimensions: readonly (readonly string[])[];
      readonly Metrics: readonly { readonly Name: string }[];
    }[];
  };
  readonly [key: string]: unknown;
}

let signal: AlarmSignal;
let cacheDir: string;

/** The template's alarm as DescribeAlarms returns it: references as the strings they resolve to (`<LogicalId>` here). */
function describedAlarm(properties: Record<string, unknown> & { Metrics: TemplateMetricQuery[] }): MetricAlarm {
  const metrics: MetricDataQuery[] = properties.Metrics.map((query) => ({
    Id: query.Id,
    ...(query.Expression !== undefined ? { Expression: query.Expression } : {}),
    ...(query.Label !== undefined ? { Label: query.Label } : {}),
    ...(query.ReturnData !== undefined ? { ReturnData: query.ReturnData } : {}),
    ...(query.MetricStat
      ? {
          MetricStat: {
            Metric: {
              Namespace: query.MetricStat.Metric.Namespace,
              MetricName: query.MetricStat.Metric.MetricName,
              Dimensions: query.MetricStat.Metric.Dimensions.map((d) => ({ Name: d.Name, Value: flattenReference(d.Value) })),
            },
            Period: query.MetricStat.Period,
            Stat: query.MetricStat.Stat,
          },
        }
      : {}),
  }));
  return {
    AlarmName: 'OnnxServing-EndpointIrisErrorsAlarm',
    Metrics: metrics,
    Threshold: properties['Threshold'] as number,
    ComparisonOperator: properties['ComparisonOperator'] as MetricAlarm['ComparisonOperator'],
    EvaluationPeriods: properties['EvaluationPeriods'] as number,
  };
}

beforeAll(async () => {
  // Prepare: cdk.json's app, its iris errors alarm, pointed at version 7 as the hook would. The
  // template is all this file reads, so the functions are not bundled; and the app is given an
  // issuer, so that synthesis does not warn about cdk.json's placeholder one.
  const { template, config } = synthesize(cdkJsonConfig(), { bundle: false });
  const model = config.endpoints[0]?.model ?? '';
  const [, properties] = errorsAlarmOf(template, model);
  const [, fn] = endpointFunction(template, model);
  const variables = (fn['Environment'] as { Variables: Record<string, unknown> }).Variables;
  const configured = loadConfig(Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, flattenReference(value)])));
  const alarm = retargeted(describedAlarm(properties), TARGET_VERSION) as MetricAlarm;
  // The query that reads what the function writes: the one outside Lambda's own namespace.
  const ours = (alarm.Metrics ?? []).filter((q) => q.MetricStat && q.MetricStat.Metric?.Namespace !== 'AWS/Lambda');
  expect(ours).toHaveLength(1);
  const stat = ours[0]?.MetricStat;
  signal = {
    configuredNamespace: configured.METRICS_NAMESPACE,
    namespace: stat?.Metric?.Namespace ?? '',
    metricName: stat?.Metric?.MetricName ?? '',
    stat: stat?.Stat ?? '',
    dimensions: Object.fromEntries((stat?.Metric?.Dimensions ?? []).map((d) => [d.Name ?? '', d.Value ?? ''])),
    alarm,
  };
  cacheDir = await mkdtemp(join(tmpdir(), 'canary-signal-'));
}, 180_000);

afterAll(async () => {
  await rm(cacheDir, { recursive: true, force: true });
  // The synthesis folder (this file is in the unit project, without the CDK project's setup).
  removeCdkOutdir();
});

afterEach(() => {
  jest.restoreAllMocks();
});

/** Input `x` float32 [N,3] → `y` = Reshape(x, [1,3]): runs for one row, fails in ONNX Runtime for two. */
function oneRowModel(): { bytes: Uint8Array; signature: ModelSignature } {
  const inputs: TensorSpec[] = [{ name: 'x', type: 'float32', shape: ['N', 3] }];
  const outputs: TensorSpec[] = [{ name: 'y', type: 'float32', shape: [1, 3] }];
  const bytes = buildModel({
    inputs,
    outputs,
    initializers: [{ name: 'shape', dims: [2], data: [1n, 3n] }],
    nodes: [{ op: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] }],
  });
  return { bytes, signature: { inputs, outputs } };
}

/**
 * The predict handler of the endpoint function serving `model`, as `functions/predict/handler.ts`
 * wires it on Lambda (EMF observer in the namespace the synthesized function is configured with,
 * the function version Lambda reports), over an in-memory registry and prediction log and a real
 * ONNX Runtime (its /tmp cache empty). With `artifactDeleted`, the registered version's artifact
 * is removed from the store behind the registry's back.
 */
async function endpoint(model: string, options: { readonly artifactDeleted?: boolean } = {}) {
  const registry = new InMemoryModelRegistry();
  const artifacts = new InMemoryArtifactStore();
  const { bytes, signature } = oneRowModel();
  const version = await publishModel(registry, artifacts, { model, bytes, signature });
  if (options.artifactDeleted) artifacts.remove(version.artifact.key);
  const service = new PredictionService({
    registry,
    runtime: new OnnxRuntime(artifacts, { cacheDir: await mkdtemp(join(cacheDir, 'models-')), intraOpThreads: 1 }),
    log: new InMemoryPredictionLog(),
    config: {
      maxRows: 1000,
      servedModel: model,
      functionVersion: TARGET_VERSION,
      logTtlDays: 30,
      maxLoggedOutputBytes: 16_384,
      pointerCacheMs: 5_000,
    },
  });
  return makeHandler({
    service,
    limits: { maxBodyBytes: 6_000_000, maxJsonDepth: 32 },
    servedModel: model,
    // As handler.ts wires it: the namespace from the function's own configuration.
    observer: new EmfRequestObserver(createMetrics(signal.configuredNamespace)),
    edge: { functionVersion: TARGET_VERSION },
  });
}

/** API Gateway's event for `POST /v1/models/<model>/predict` (the literal resource the API gives each endpoint). */
function predictEvent(model: string, body: unknown): APIGatewayProxyEvent {
  const path = `/v1/models/${model}/predict`;
  return {
    resource: path,
    path,
    httpMethod: 'POST',
    headers: { 'Content-Type': 'application/json' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      requestId: `req-${Math.random().toString(36).slice(2)}`,
      resourcePath: path,
      httpMethod: 'POST',
      path,
    } as APIGatewayProxyEvent['requestContext'],
    body: JSON.stringify(body),
    isBase64Encoded: false,
  };
}

/**
 * Runs `act` with stdout and stderr captured; returns its result, the EMF lines and the
 * function's ERROR log lines (Powertools writes those to stderr) written meanwhile.
 */
async function capturingEmf(
  act: () => Promise<APIGatewayProxyResult>,
): Promise<{ response: APIGatewayProxyResult; lines: EmfLine[]; errors: Record<string, unknown>[] }> {
  let response: APIGatewayProxyResult | undefined;
  const printed = jsonLines(
    await captureOutput(async () => {
      response = await act();
    }),
  );
  return {
    response: response as APIGatewayProxyResult,
    lines: printed.filter((line): line is EmfLine => typeof line['_aws'] === 'object'),
    errors: printed.filter((line) => line['level'] === 'ERROR'),
  };
}

/** The one EMF line of one request, checked against the alarm's namespace and dimension set. */
function alarmedLine(lines: readonly EmfLine[]): EmfLine {
  expect(lines).toHaveLength(1);
  const [line] = lines as [EmfLine];
  const directives = line._aws.CloudWatchMetrics;
  expect(directives).toHaveLength(1);
  const [directive] = directives as [EmfLine['_aws']['CloudWatchMetrics'][number]];
  // The alarm's namespace, and among the line's dimension sets exactly the alarm's dimension names.
  expect(directive.Namespace).toBe(signal.namespace);
  const alarmNames = Object.keys(signal.dimensions).sort();
  expect(directive.Dimensions.map((set) => [...set].sort())).toContainEqual(alarmNames);
  // The alarm's dimension values, FunctionVersion 7 included (the retargeted one).
  for (const [name, value] of Object.entries(signal.dimensions)) expect(line[name]).toBe(value);
  expect(directive.Metrics.map((m) => m.Name)).toContain(signal.metricName);
  return line;
}

describe('the errors alarm reads what the predict handler writes', () => {
  it('the synthesized alarm, retargeted, reads a Sum of the EMF metric under (Model, FunctionVersion 7), in the namespace the function is configured with', () => {
    // Assess: what the other tests rely on, read from the template.
    expect(signal.configuredNamespace).toBe(signal.namespace);
    expect(signal.stat).toBe('Sum');
    expect(signal.dimensions).toMatchObject({ FunctionVersion: TARGET_VERSION });
    expect(Object.keys(signal.dimensions).sort()).toEqual(['FunctionVersion', 'Model']);
    const lambdaQueries = (signal.alarm.Metrics ?? []).filter((q) => q.MetricStat?.Metric?.Namespace === 'AWS/Lambda');
    for (const query of lambdaQueries) {
      expect(query.MetricStat?.Metric?.Dimensions).toContainEqual({ Name: 'ExecutedVersion', Value: TARGET_VERSION });
    }
  });

  it.each([
    [
      'ONNX Runtime fails to run the model on two rows',
      {
        instances: [
          [1, 2, 3],
          [4, 5, 6],
        ],
      },
      {},
      'MODEL_RUN_FAILED',
    ],
    [
      "the registered version's artifact was deleted from the store",
      { instances: [[1, 2, 3]] },
      { artifactDeleted: true },
      'ARTIFACT_NOT_FOUND',
    ],
  ] as const)('a caught 500 (%s) writes one line the alarm counts: its metric = 1', async (_case, body, options, code) => {
    // Prepare
    const model = signal.dimensions['Model'] ?? '';
    const handler = await endpoint(model, options);

    // Act
    const { response, lines, errors } = await capturingEmf(() => handler(predictEvent(model, body), {} as Context));

    // Assess: answered 500 (so Lambda's Errors stays 0), logged once as an error with its code,
    // and counted by the alarm's EMF metric.
    expect(response.statusCode).toBe(500);
    expect((JSON.parse(response.body) as { error: { code: string } }).error.code).toBe(code);
    expect(errors).toEqual([expect.objectContaining({ message: 'request failed', code, model, functionVersion: TARGET_VERSION })]);
    const line = alarmedLine(lines);
    expect(line[signal.metricName]).toBe(1);
    expect(line['Invocation4XXErrors']).toBe(0);
    expect(line['Invocations']).toBe(1);
    expect(line['ModelErrors']).toBe(1);
  });

  it('a served request writes the same line with the metric = 0 (the alarm sums failures only)', async () => {
    const model = signal.dimensions['Model'] ?? '';
    const handler = await endpoint(model);

    const { response, lines, errors } = await capturingEmf(() => handler(predictEvent(model, { instances: [[1, 2, 3]] }), {} as Context));

    expect(response.statusCode).toBe(200);
    expect(errors).toEqual([]);
    const line = alarmedLine(lines);
    expect(line[signal.metricName]).toBe(0);
    expect(line['Invocations']).toBe(1);
  });

  it("a caller's mistake (a row of the wrong width) is a 4xx: Invocation5XXErrors 0, Invocation4XXErrors 1", async () => {
    const model = signal.dimensions['Model'] ?? '';
    const handler = await endpoint(model);

    const { response, lines, errors } = await capturingEmf(() => handler(predictEvent(model, { instances: [[1, 2]] }), {} as Context));

    expect(response.statusCode).toBe(400);
    expect(errors).toEqual([]);
    const line = alarmedLine(lines);
    expect(line[signal.metricName]).toBe(0);
    expect(line['Invocation5XXErrors']).toBe(0);
    expect(line['Invocation4XXErrors']).toBe(1);
  });
});
