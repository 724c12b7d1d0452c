/**
 * The base of every function in the app: a handler from `functions/` bundled with the local
 * esbuild, the ONNX Runtime layer of its architecture (the functions that run models; the JWT
 * authorizer has none), its own log group with retention, a role
 * with no managed policies, and one-call bindings of tables and buckets (environment variable +
 * least-privilege statement) that merge into the environment and never overwrite it.
 *
 * Bundle format: ESM (`index.mjs`). The sources are ES modules, middy 5+ and jose 6 ship only ES
 * modules, and ESM keeps top-level `await` available to the composition roots. Lambda's Node.js
 * runtimes (18+) resolve bare imports of ES modules from layers' `/opt/nodejs/node_modules`, so
 * `onnxruntime-node` stays external and is found in the layer. The banner defines `require` with
 * `createRequire` for the bundled CommonJS code that calls `require` on Node built-ins, which an
 * ES module otherwise lacks. The functions' own code does not use `import.meta.url` (only the
 * banner does, where Lambda gives it the bundle's file URL).
 */
import { Annotations, ArnFormat, AssetStaging, type Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal, type IGrantable, type IPrincipal } from 'aws-cdk-lib/aws-iam';
import { Tracing, type Architecture, type ParamsAndSecretsLayerVersion } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkUnzippedSize, directorySize, LAMBDA_UNZIPPED_LIMIT_BYTES } from '../layers/onnxruntime/build.js';
import type { ObservabilityConfig } from './config.js';
import { acknowledgeNag, nagValue } from './nag.js';
import { NODE_RUNTIME, type OnnxRuntimeLayer } from './onnxruntime-layer.js';
import type { DesignedTable } from './serving-tables.js';

/** The repository root (the folder holding package.json and functions/). */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Modules the bundle leaves as imports: the layer provides ONNX Runtime. The AWS SDK is bundled
 * (tree-shaken, minified) rather than loaded from the runtime's copy: loading the runtime's
 * node_modules costs the cold start far more than parsing the clients we use (docs/BENCHMARKS.md,
 * cold start), and the functions run the SDK version the tests ran.
 */
export const EXTERNAL_MODULES = ['onnxruntime-node', 'onnxruntime-common'] as const;

/**
 * Powertools Tracer and the X-Ray SDK (about 120 kB of minified code). The function imports them
 * only when TRACING is on, but a module in the bundle is parsed at every cold start whether it
 * runs or not; so they are bundled only into functions synthesized with tracing on, and left out
 * (as imports that never run) otherwise.
 */
export const TRACING_MODULES = ['@aws-lambda-powertools/tracer', 'aws-xray-sdk-core'] as const;

/** What a function's bundle leaves as imports: the layer's packages, and the tracing ones when tracing is off. */
export function externalModules(tracing: boolean): string[] {
  return [...EXTERNAL_MODULES, ...(tracing ? [] : TRACING_MODULES)];
}

const ESM_REQUIRE_BANNER =
  "import { createRequire as __bundleCreateRequire } from 'node:module'; const require = __bundleCreateRequire(import.meta.url);";

export interface ServingFunctionProps {
  /** Handler file relative to the repository root, exporting `handler`, e.g. `functions/predict/handler.ts`. */
  readonly entry: string;
  /** The ONNX Runtime layer; the function runs on its architecture. @default none: give `architecture` */
  readonly layer?: OnnxRuntimeLayer;
  /** The architecture of a function without the ONNX Runtime layer. @default the layer's */
  readonly architecture?: Architecture;
  /** The AWS Parameters and Secrets Lambda Extension, for functions that read a secret. @default none */
  readonly paramsAndSecrets?: ParamsAndSecretsLayerVersion;
  readonly memoryMb: number;
  readonly timeout: Duration;
  readonly logRetention: RetentionDays;
  readonly description?: string;
  /** Initial environment; bindings add to it. @default {} */
  readonly environment?: Readonly<Record<string, string>>;
  /** @default none */
  readonly reservedConcurrency?: number;
  /** Fail synth when code plus layer pass this many unzipped bytes. @default Lambda's 250 MB */
  readonly unzippedSizeLimitBytes?: number;
  /**
   * How the function reports: `METRICS_NAMESPACE` and `LOG_LEVEL` in its environment (what
   * `functions/shared/config.ts` reads), and with `tracing` X-Ray active tracing, `TRACING=true`
   * and the X-Ray write permissions. @default none: the function's own defaults (namespace
   * OnnxServing, INFO), no tracing
   */
  readonly observability?: ObservabilityConfig;
}

export interface AllowOptions {
  readonly conditions?: Record<string, Record<string, unknown>>;
  /** Why a resource with a wildcard is needed; required when one has it. */
  readonly wildcardReason?: string;
}

/** The IAM actions a binding grants, per resource. */
export interface TableAccess {
  readonly actions: readonly string[];
  /** Indexes the function queries (their ARNs are added to the statement). @default none */
  readonly indexes?: readonly string[];
}

/**
 * @example
 * const fn = new ServingFunction(this, 'Predict', { entry: 'functions/predict/handler.ts', layer, memoryMb: 2048, ... });
 * fn.bindTable('PREDICTION_LOG_TABLE', tables.predictionLog, { actions: ['dynamodb:PutItem'] });
 */
export class ServingFunction extends Construct implements IGrantable {
  readonly function: NodejsFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;
  readonly grantPrincipal: IPrincipal;
  private readonly environment = new Map<string, string>();

  constructor(scope: Construct, id: string, props: ServingFunctionProps) {
    super(scope, id);
    const architecture = props.layer?.architecture ?? props.architecture;
    if (!architecture) throw new Error(`${this.node.path}: give the ONNX Runtime layer or, for a function without one, its architecture.`);
    if (props.layer && props.architecture && props.architecture !== props.layer.architecture) {
      throw new Error(
        `${this.node.path}: architecture ${props.architecture.name} differs from the layer's ${props.layer.architectureName}.`,
      );
    }
    this.logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention, removalPolicy: RemovalPolicy.RETAIN });
    // Our own role: no AWSLambdaBasicExecutionRole (its logs:* on every log group), only writes
    // to this function's log streams and what the bindings add.
    this.role = new Role(this, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    this.grantPrincipal = this.role.grantPrincipal;
    const logStreams = Stack.of(this).formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: `${this.logGroup.logGroupName}:log-stream:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    this.function = new NodejsFunction(this, 'Function', {
      entry: path.join(PROJECT_ROOT, props.entry),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      runtime: NODE_RUNTIME,
      architecture,
      layers: props.layer ? [props.layer.layer] : [],
      ...(props.paramsAndSecrets ? { paramsAndSecrets: props.paramsAndSecrets } : {}),
      memorySize: props.memoryMb,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      ...(props.description ? { description: props.description } : {}),
      ...(props.reservedConcurrency !== undefined ? { reservedConcurrentExecutions: props.reservedConcurrency } : {}),
      ...(props.observability?.tracing ? { tracing: Tracing.ACTIVE } : {}),
      // Old versions stay: alias `live` may still route to them, and rollback needs them.
      currentVersionOptions: { removalPolicy: RemovalPolicy.RETAIN },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        externalModules: externalModules(props.observability?.tracing ?? false),
        minify: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        forceDockerBundling: false,
        // esbuild's warnings and errors only: not its per-file size listing at every synth.
        logLevel: LogLevel.WARNING,
      },
    });
    acknowledgeNag(
      this.function,
      'AwsSolutions-L1',
      `The product targets ${NODE_RUNTIME.name} (its layer and bundle are built for it); moving to a newer Node.js runtime is a deliberate upgrade of function, layer and tests together.`,
    );
    this.allow(['logs:CreateLogStream', 'logs:PutLogEvents'], [logStreams], {
      wildcardReason:
        "Lambda creates a log stream per execution environment at run time; the wildcard covers only this function's own log group's streams.",
    });
    this.setEnvironment('NODE_OPTIONS', '--enable-source-maps');
    if (props.observability) this.observe(props.observability);
    for (const [name, value] of Object.entries(props.environment ?? {})) this.setEnvironment(name, value);

    const limit = props.unzippedSizeLimitBytes ?? LAMBDA_UNZIPPED_LIMIT_BYTES;
    this.node.addValidation({ validate: () => this.checkSize(props.layer, limit) });
  }

  /**
   * Adds an environment variable; setting one that already holds a different value throws, so a
   * binding can never silently replace what another part of the app set.
   */
  setEnvironment(name: string, value: string): this {
    const current = this.environment.get(name);
    if (current !== undefined && current !== value) {
      throw new Error(
        `${this.node.path}: environment variable ${name} is already set to "${current}"; refusing to overwrite it with "${value}".`,
      );
    }
    if (current === undefined) {
      this.environment.set(name, value);
      this.function.addEnvironment(name, value);
    }
    return this;
  }

  /**
   * Allows `actions` on `resources`. Wildcard actions are refused; a resource with a wildcard
   * needs `wildcardReason`, which becomes the cdk-nag acknowledgment of exactly that resource.
   */
  allow(actions: readonly string[], resources: readonly string[], options: AllowOptions = {}): this {
    const wildAction = actions.find((action) => action.includes('*'));
    if (wildAction) throw new Error(`${this.node.path}: wildcard action ${wildAction} refused; list the actions.`);
    for (const resource of resources) {
      const printed = nagValue(this, resource);
      if (!printed.includes('*')) continue;
      if (!options.wildcardReason) {
        throw new Error(`${this.node.path}: resource ${printed} has a wildcard; say why with wildcardReason.`);
      }
      acknowledgeNag(this.role, `AwsSolutions-IAM5[Resource::${printed}]`, options.wildcardReason);
    }
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [...actions],
        resources: [...resources],
        ...(options.conditions ? { conditions: options.conditions } : {}),
      }),
    );
    return this;
  }

  /**
   * The environment of `observability`; with tracing, the acknowledgment of the X-Ray statement
   * CDK adds for `Tracing.ACTIVE` (`xray:PutTraceSegments` and `xray:PutTelemetryRecords` on "*":
   * X-Ray has no resource-level permissions,
   * https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html).
   */
  private observe(observability: ObservabilityConfig): void {
    this.setEnvironment('METRICS_NAMESPACE', observability.metricsNamespace);
    this.setEnvironment('LOG_LEVEL', observability.logLevel);
    if (!observability.tracing) return;
    this.setEnvironment('TRACING', 'true');
    acknowledgeNag(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      'X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords have no resource-level permissions (IAM allows only "*"); CDK grants exactly these two for Tracing.ACTIVE.',
    );
  }

  /** Sets `envName` to the table's name and allows `access.actions` on it (and on the named indexes). */
  bindTable(envName: string, table: DesignedTable, access: TableAccess): this {
    this.setEnvironment(envName, table.table.tableName);
    return this.allow(access.actions, [table.table.tableArn, ...(access.indexes ?? []).map((index) => table.indexArn(index))]);
  }

  /**
   * Sets `ONLINE_FEATURE_TABLES` to `tables` (comma separated, in this order; empty: none) and
   * allows `actions` on exactly those DynamoDB tables of the stack's account and region, which the
   * stack does not own (they are Feast's, or loaded by `modelctl features load`).
   */
  bindFeatureTables(tables: readonly string[], actions: readonly string[]): this {
    this.setEnvironment('ONLINE_FEATURE_TABLES', tables.join(','));
    if (tables.length === 0) return this;
    const stack = Stack.of(this);
    return this.allow(
      actions,
      tables.map((table) => stack.formatArn({ service: 'dynamodb', resource: 'table', resourceName: table })),
    );
  }

  /**
   * The bundle CDK staged for this function; absent when bundling was skipped (`cdk ls`, or the
   * context `aws:cdk:bundling-stacks` leaving this stack out), where the asset stands for the
   * project folder itself rather than the function's code.
   */
  private bundleDir(): string | undefined {
    if (!Stack.of(this).bundlingRequired) return undefined;
    const staging = this.function.node.findAll().find((c): c is AssetStaging => c instanceof AssetStaging);
    return staging?.absoluteStagedPath;
  }

  private checkSize(layer: OnnxRuntimeLayer | undefined, limit: number): string[] {
    const dir = this.bundleDir();
    if (!dir || !existsSync(dir)) return [];
    const bundle = directorySize(dir);
    if (bundle.files === 0) return [];
    const check = checkUnzippedSize(
      {
        [`function ${this.node.path}`]: bundle.bytes,
        ...(layer ? { [`layer onnxruntime (${layer.architectureName})`]: layer.unzippedBytes } : {}),
      },
      limit,
    );
    if (!check.ok) return [`Function and layers pass Lambda's unzipped size limit: ${check.report}.`];
    Annotations.of(this).addInfo(`unzipped size: ${check.report}`);
    return [];
  }
}
