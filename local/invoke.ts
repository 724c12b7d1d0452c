/**
 * `npm run invoke`: what `sam local invoke` does, without Docker. Reads a function from the
 * synthesized template (`cdk synth`), takes its bundled code from `cdk.out` and its environment
 * from the template, points that environment at embedded DynamoDB- and S3-compatible servers
 * (with the sample model registered, and the caller's own models when asked: `--register`), and
 * runs the handler on an event in a fresh Node process, the way the Lambda runtime would: import
 * the bundle, call the handler once, print the result.
 *
 * A model the caller registers goes through the registry service the control plane runs
 * (`RegistryService.register`: the file loads in ONNX Runtime, the metadata matches its
 * signature, golden inputs replay), then to staging and production through the promotion gates,
 * with the control function's metric baselines and artifact size limit read from the same
 * template: what `POST /v1/models/{model}/versions` and a promotion do on AWS.
 *
 * The bundle is copied to a fresh task folder, as Lambda unpacks it to /var/task. What differs
 * from Lambda: that folder's `node_modules` is this repository's, so `onnxruntime-node` comes
 * from there (on Lambda, from the layer, which may be built for another architecture than this
 * machine's), and resources the template references (tables, buckets) are named after their
 * logical ids. The process has no Lambda Runtime API, so the prediction-log drain does not
 * register as an extension: the function writes its queued records when its work is done, before
 * the process exits.
 *
 * Payloads are Lambda's: an event over Lambda's synchronous limit (6 MiB serialized,
 * `LAMBDA_SYNC_PAYLOAD_BYTES`) is refused before the function runs, and a result over it is an
 * error, as Lambda refuses it (API Gateway then answers 502). The event and the result travel
 * through files, not the environment or a pipe, so an event of several MB (a binary body,
 * base64-encoded as API Gateway sends it) arrives whole. A proxy result with a base64 body is
 * what API Gateway decodes to bytes for a client that accepts them: {@link resultBody} gives them.
 *
 * Two channels, as on Lambda: the result file carries the handler's answer and nothing else
 * (only the runner writes it, once, after the handler returned); the process's stdout and stderr
 * carry everything else the function or the runtime prints (its log lines, `console.log`, Node's
 * warnings), kept apart from the answer, collected as `logs` and passed on as they come to
 * `InvokeOptions.onLog` (the CLI's own stderr). Nothing printed can be mistaken for the answer.
 *
 * What is missing is named with what to run first: no `cdk.out` or template (`npx cdk synth`),
 * no function of that name (the template's functions listed, the closest named), no bundled code.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureTables } from '../functions/adapters/tables.js';
import { AppError, formatPath } from '../functions/core/errors.js';
import { LAMBDA_SYNC_PAYLOAD_BYTES, serializedBytes } from '../functions/core/codec/payload-limits.js';
import { closestName } from '../functions/core/messages.js';
import type { RegistryService } from '../functions/core/registry.js';
import { ensureBucket, localClients, startLocalAws, type LocalAws } from './aws-servers.js';
import { QUIET_ENV } from './quiet.js';

/** What to run when the synthesized app is missing or stale. */
export const SYNTH_HINT = 'run "npx cdk synth -q" (or "npm run synth") first';

/** A Lambda function as the template declares it. */
export interface TemplateFunction {
  readonly logicalId: string;
  /** The construct path (`aws:cdk:path` metadata), e.g. `OnnxServing/Endpoint-iris/Function/Resource`. */
  readonly constructPath: string;
  /** The bundled code's folder. */
  readonly assetDir: string;
  /** `index.handler` → the file and the export. */
  readonly handler: string;
  readonly environment: Readonly<Record<string, unknown>>;
}

interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}

/**
 * The resources of a synthesized template. Throws, saying what to run, when the file is missing
 * or is not a template.
 */
function readTemplate(templateFile: string): Record<string, TemplateResource> {
  if (!existsSync(templateFile)) {
    throw new Error(`The template ${templateFile} does not exist: ${SYNTH_HINT}, or give the template with -t <file>.`);
  }
  let template: unknown;
  try {
    template = JSON.parse(readFileSync(templateFile, 'utf8')) as unknown;
  } catch (error) {
    throw new Error(
      `${templateFile} is not JSON (${error instanceof Error ? error.message : String(error)}): give the .template.json file "cdk synth" writes, or ${SYNTH_HINT}.`,
    );
  }
  const resources = (template as { Resources?: unknown } | null)?.Resources;
  if (resources === null || typeof resources !== 'object') {
    throw new Error(
      `${templateFile} has no Resources: it is not a CloudFormation template. Give the .template.json file "cdk synth" writes.`,
    );
  }
  return resources as Record<string, TemplateResource>;
}

/**
 * A function's short name, as a user would type it: its construct path without the stack and
 * the trailing `Resource` (`EndpointIris/Predict/Function`), or its logical id.
 */
function shortName(logicalId: string, resource: TemplateResource): string {
  const constructPath = String(resource.Metadata?.['aws:cdk:path'] ?? '');
  if (!constructPath) return logicalId;
  return (
    constructPath
      .split('/')
      .slice(1)
      .filter((part, i, parts) => !(i === parts.length - 1 && part === 'Resource'))
      .join('/') || logicalId
  );
}

/**
 * Finds the function in a synthesized template whose logical id or short name (its construct
 * path without the stack, `EndpointIris/Predict/Function`) contains `name` (case-insensitive).
 * Exactly one must match. Throws when none or several match, listing the functions by short name
 * (and, for none, the closest to `name`); and, saying what to run, when the template has no
 * function or no bundled code.
 */
export function findFunction(templateFile: string, name: string): TemplateFunction {
  const functions = Object.entries(readTemplate(templateFile)).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
  if (functions.length === 0) {
    throw new Error(`${templateFile} declares no Lambda function: give the serving app's template (-t), or ${SYNTH_HINT}.`);
  }
  const wanted = name.toLowerCase();
  // The stack's name is in every construct path: it is left out, so that it matches no one function.
  const matches = functions.filter(([id, r]) => id.toLowerCase().includes(wanted) || shortName(id, r).toLowerCase().includes(wanted));
  if (matches.length !== 1) {
    const names = (matches.length === 0 ? functions : matches).map(([id, r]) => shortName(id, r));
    const closest = matches.length === 0 ? closestFunction(name, names) : undefined;
    const listed = names.map((n) => `  ${n}`).join('\n');
    throw new Error(
      matches.length === 0
        ? `No function in ${templateFile} matches "${name}"${closest ? ` (did you mean "${closest}"?)` : ''}. Give any part of one of these names:\n${listed}`
        : `More than one function in ${templateFile} matches "${name}"; give more of the name:\n${listed}`,
    );
  }
  const [logicalId, resource] = matches[0] as [string, TemplateResource];
  const assetPath = resource.Metadata?.['aws:asset:path'] ?? assetFromS3Key(resource);
  if (typeof assetPath !== 'string') throw new Error(`${logicalId} has no bundled code in ${path.dirname(templateFile)}: ${SYNTH_HINT}.`);
  const variables = (resource.Properties?.['Environment'] as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
  return {
    logicalId,
    constructPath: String(resource.Metadata?.['aws:cdk:path'] ?? ''),
    assetDir: path.resolve(path.dirname(templateFile), assetPath),
    handler: String(resource.Properties?.['Handler'] ?? 'index.handler'),
    environment: variables,
  };
}

/**
 * The function name closest to what was typed: by the whole short name, else by its parts
 * (`predict` for `EndpointIris/Predict/Function`).
 */
function closestFunction(typed: string, names: readonly string[]): string | undefined {
  const whole = closestName(typed, names);
  if (whole) return whole;
  // Its parts, construct ids and the words in them: `iris` in `EndpointIris/Predict/Function`.
  for (const name of names) if (closestName(typed, name.split(/\/|(?<=[a-z0-9])(?=[A-Z])/))) return name;
  return undefined;
}

/**
 * Without asset metadata (the CLI adds it, a bare `app.synth()` does not), the code's S3 key
 * `<hash>.zip` names the asset folder `asset.<hash>`.
 */
function assetFromS3Key(resource: TemplateResource): string | undefined {
  const key = (resource.Properties?.['Code'] as { S3Key?: unknown } | undefined)?.S3Key;
  return typeof key === 'string' && key.endsWith('.zip') ? `asset.${key.slice(0, -'.zip'.length)}` : undefined;
}

/**
 * The function's environment with every CloudFormation reference replaced by a local name: a
 * `Ref` to a table or bucket becomes its logical id, lower-cased (as bucket names must be), and
 * an `Fn::Join` of such parts is joined. Anything else that cannot be resolved
 * without AWS is refused, naming the variable.
 */
export function resolveEnvironment(environment: Readonly<Record<string, unknown>>): Record<string, string> {
  const resolved: Record<string, string> = {};
  for (const [name, value] of Object.entries(environment)) {
    const text = resolveValue(value);
    if (text === undefined)
      throw new Error(`Environment variable ${name} is ${JSON.stringify(value)}, which cannot be resolved without AWS.`);
    resolved[name] = text;
  }
  return resolved;
}

/** A string, a `Ref` (its logical id, lower-cased) or an `Fn::Join` of those; else undefined. */
function resolveValue(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (!value || typeof value !== 'object') return undefined;
  const ref = (value as { Ref?: unknown }).Ref;
  if (typeof ref === 'string') return ref.toLowerCase();
  const join = (value as { 'Fn::Join'?: unknown })['Fn::Join'];
  if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1])) {
    const parts = (join[1] as unknown[]).map(resolveValue);
    if (parts.every((p) => p !== undefined)) return parts.join(join[0]);
  }
  return undefined;
}

/**
 * A model to register and make live before the function runs (`--register <model>=<file.onnx>`):
 * registered as version 1 of a fresh registry, promoted to staging, then production.
 */
export interface ModelRegistration {
  /** The model's name: the one the chosen function serves (its `SERVED_MODEL`), if it serves one. */
  readonly model: string;
  /** The ONNX file's bytes. */
  readonly bytes: Uint8Array;
  /**
   * The version's metadata, as `POST /v1/models/{model}/versions` takes it (features, class
   * labels, metrics, golden inputs, ...). @default {}
   */
  readonly metadata?: unknown;
}

export interface InvokeOptions {
  readonly templateFile: string;
  readonly functionName: string;
  readonly event: unknown;
  /**
   * Register the sample model first (as `npm start` does); skipped when `register` names the
   * sample's model, so that the caller's file is the one served. @default true
   */
  readonly seedSampleModel?: boolean;
  /**
   * The caller's models, registered and made live before the function runs. Each must be the
   * model the function serves (`SERVED_MODEL`); a function that serves no one model (the control
   * plane) takes any. @default none
   */
  readonly register?: readonly ModelRegistration[];
  /**
   * Called with each piece of what the function's process prints (stdout and stderr: its logs,
   * Node's warnings) as it comes, apart from the result. @default nothing (only `logs`)
   */
  readonly onLog?: (text: string) => void;
}

export interface InvokeResult {
  readonly function: string;
  /** The handler's answer, as Lambda returns it: from the result file, never from the process's output. */
  readonly result: unknown;
  /** What the function's process wrote to stdout and stderr (its logs, Node's warnings), in order of arrival. */
  readonly logs: string;
  /** The versions registered from `register`, each live (production) when the function ran. */
  readonly registered: readonly { readonly model: string; readonly version: string }[];
}

/**
 * The registry refused a model given with `register` (`--register`), or a gate refused to make it
 * live: `code` and `message` are the API's (`ValidationError`, `GateError`, ... of the registry
 * service), `path` the field they point at.
 */
export class RegistrationRefusedError extends Error {
  readonly code: string;
  readonly path: string;

  constructor(
    readonly model: string,
    step: string,
    cause: AppError,
  ) {
    const path = formatPath(cause.path);
    super(`${step} "${model}" was refused: ${cause.code}: ${cause.message}${path ? ` (at ${path})` : ''}`, { cause });
    this.name = 'RegistrationRefusedError';
    this.code = cause.code;
    this.path = path;
  }
}

/**
 * Reads a `--register <model>=<file.onnx>` argument, and the `--metadata <file.json>` given with
 * it, into a registration. Throws, naming the argument, when the form is not `<model>=<file>`, a
 * file is missing or not a file, or the metadata is not JSON.
 */
export function readRegistration(spec: string, metadataFile?: string): ModelRegistration {
  const at = spec.indexOf('=');
  const model = spec.slice(0, at);
  const file = spec.slice(at + 1);
  if (at < 1 || file === '')
    throw new Error(`--register takes <model>=<file.onnx>, e.g. --register iris=models/iris/model.onnx; got "${spec}".`);
  const bytes = readFileNamed(file, `The model file "${file}" (--register ${spec})`);
  if (metadataFile === undefined) return { model, bytes };
  const text = readFileNamed(metadataFile, `The metadata file "${metadataFile}" (--metadata, for ${model})`).toString('utf8');
  try {
    return { model, bytes, metadata: JSON.parse(text) as unknown };
  } catch (error) {
    throw new Error(
      `The metadata file "${metadataFile}" (--metadata, for ${model}) is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

function readFileNamed(file: string, what: string): Buffer {
  if (!existsSync(file)) throw new Error(`${what} does not exist (relative paths are read from ${process.cwd()}).`);
  if (!statSync(file).isFile()) throw new Error(`${what} is not a file.`);
  return readFileSync(file);
}

/**
 * Refuses registrations the function cannot use, before anything starts: a function without a
 * registry (no `REGISTRY_TABLE` and `ARTIFACT_BUCKET`), a model other than the one it serves
 * (`SERVED_MODEL`), or one model given twice.
 */
function checkRegistrations(fn: TemplateFunction, env: Record<string, string>, registrations: readonly ModelRegistration[]): void {
  if (registrations.length === 0) return;
  if (!env['REGISTRY_TABLE'] || !env['ARTIFACT_BUCKET']) {
    throw new Error(
      `${fn.logicalId} reads no model registry (its environment has no REGISTRY_TABLE and ARTIFACT_BUCKET): there is no model to register for it. Choose an endpoint's function or the control function.`,
    );
  }
  const served = env['SERVED_MODEL'];
  const seen = new Set<string>();
  for (const { model } of registrations) {
    if (served !== undefined && model !== served) {
      throw new Error(
        `${fn.logicalId} serves the model "${served}", not "${model}": register its file as --register ${served}=<file.onnx>, or invoke the function of an endpoint for "${model}" (declare it in the CDK app's endpoints, then run "npx cdk synth").`,
      );
    }
    if (seen.has(model)) throw new Error(`"${model}" is given to --register twice; give each model once.`);
    seen.add(model);
  }
}

/**
 * What the control plane registers and promotes with, read from the template's control function
 * (the function whose environment has `METRIC_BASELINES` and `MAX_ARTIFACT_BYTES`): the metrics
 * gate's baselines and the largest model file accepted. None found: no baselines, the default size.
 */
function registrySettings(templateFile: string): Record<string, string> {
  const template = JSON.parse(readFileSync(templateFile, 'utf8')) as { Resources?: Record<string, TemplateResource> };
  for (const resource of Object.values(template.Resources ?? {})) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const variables = (resource.Properties?.['Environment'] as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    const { METRIC_BASELINES: baselines, MAX_ARTIFACT_BYTES: maxBytes } = variables;
    if (typeof baselines === 'string' && typeof maxBytes === 'string') return { METRIC_BASELINES: baselines, MAX_ARTIFACT_BYTES: maxBytes };
  }
  return {};
}

/**
 * Invokes the function once on `event` against embedded servers, after registering the sample
 * model and `register`'s models; stops the servers afterwards.
 *
 * @throws Error, as Lambda refuses them, on an event or a result over `LAMBDA_SYNC_PAYLOAD_BYTES`;
 *   on a registration the function cannot use (see `InvokeOptions.register`), before anything starts
 * @throws RegistrationRefusedError when the registry or a promotion gate refuses a model
 */
export async function invoke(options: InvokeOptions): Promise<InvokeResult> {
  const fn = findFunction(options.templateFile, options.functionName);
  checkBundle(fn);
  const env = resolveEnvironment(fn.environment);
  const registrations = options.register ?? [];
  checkRegistrations(fn, env, registrations);
  const eventBytes = serializedBytes(options.event);
  if (eventBytes > LAMBDA_SYNC_PAYLOAD_BYTES) {
    throw new Error(
      `The event is ${eventBytes} bytes as JSON, over Lambda's ${LAMBDA_SYNC_PAYLOAD_BYTES}-byte limit for a synchronous invoke: Lambda would refuse it (RequestEntityTooLargeException) before the function runs.`,
    );
  }
  const aws = await startLocalAws();
  try {
    const settings = registrations.length > 0 ? registrySettings(options.templateFile) : {};
    const registered = await prepareResources(aws, env, options.seedSampleModel ?? true, registrations, settings);
    return { function: fn.logicalId, ...(await runBundle(fn, env, aws, options.event, options.onLog)), registered };
  } finally {
    await aws.stop();
  }
}

const REPOSITORY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

/**
 * Creates the tables and buckets the environment names, registers the sample model, then the
 * caller's models (each made live); resolves with the versions registered for the caller.
 */
async function prepareResources(
  aws: LocalAws,
  env: Record<string, string>,
  seed: boolean,
  registrations: readonly ModelRegistration[],
  settings: Record<string, string>,
): Promise<{ model: string; version: string }[]> {
  const { REGISTRY_TABLE, PREDICTION_LOG_TABLE, ARTIFACT_BUCKET, PAYLOAD_BUCKET } = env;
  if (!REGISTRY_TABLE || !PREDICTION_LOG_TABLE || !ARTIFACT_BUCKET) return [];
  const clients = localClients(aws);
  try {
    await ensureTables(clients.dynamo, { registry: REGISTRY_TABLE, predictionLog: PREDICTION_LOG_TABLE });
    await ensureBucket(clients.s3, ARTIFACT_BUCKET);
    if (PAYLOAD_BUCKET) await ensureBucket(clients.s3, PAYLOAD_BUCKET);
    if (!seed && registrations.length === 0) return [];
    // Imported here so that reading a template needs no ONNX Runtime.
    const { loadConfig } = await import('../functions/shared/config.js');
    const { buildRegistryService } = await import('../functions/shared/composition.js');
    const { seedSampleModel, SAMPLE_MODEL } = await import('./stack.js');
    const config = loadConfig({
      ...settings,
      REGISTRY_TABLE,
      PREDICTION_LOG_TABLE,
      ARTIFACT_BUCKET,
      MODEL_CACHE_DIR: path.join(os.tmpdir(), 'onnx-serving-model-cache'),
    });
    const registry = buildRegistryService(config, clients);
    if (seed && !registrations.some((r) => r.model === SAMPLE_MODEL.name)) await seedSampleModel(registry);
    const registered: { model: string; version: string }[] = [];
    for (const registration of registrations) registered.push(await registerLive(registry, registration));
    return registered;
  } finally {
    clients.destroy();
  }
}

/**
 * Registers the caller's model and makes it the production version (staging first, through the
 * gates), as `seedSampleModel` does for the sample and a promotion through the API does.
 */
async function registerLive(
  registry: RegistryService,
  { model, bytes, metadata }: ModelRegistration,
): Promise<{ model: string; version: string }> {
  const actor = 'npm-run-invoke';
  let step = 'Registering';
  try {
    const { version } = await registry.register({ model, bytes, metadata: metadata ?? {}, actor });
    step = `Promoting version ${version} of`;
    await registry.transition({ model, version, to: 'staging', actor, reason: 'npm run invoke --register' });
    await registry.setProduction(model, version, actor);
    return { model, version };
  } catch (error) {
    // Refusals (4xx) are the caller's to fix; anything else is not a refusal and stays as it is.
    if (error instanceof AppError && error.status < 500) throw new RegistrationRefusedError(model, step, error);
    throw error;
  }
}

/** Throws, saying what to run, when the function's bundled code is not where the template says. */
function checkBundle(fn: TemplateFunction): void {
  const [file] = fn.handler.split('.') as [string];
  if (!existsSync(fn.assetDir)) {
    throw new Error(`The bundled code of ${fn.logicalId} (${fn.assetDir}) is missing: ${SYNTH_HINT} again.`);
  }
  if (!['.mjs', '.js', '.cjs'].some((ext) => existsSync(path.join(fn.assetDir, `${file}${ext}`)))) {
    throw new Error(`No ${file}.mjs/.js/.cjs in ${fn.assetDir}: ${SYNTH_HINT} again.`);
  }
}

/**
 * Runs the bundled handler in a fresh Node process, as the Lambda runtime would. The answer comes
 * back in the result file; what the process prints goes to `logs` (and `onLog`), never into it.
 */
function runBundle(
  fn: TemplateFunction,
  env: Record<string, string>,
  aws: LocalAws,
  event: unknown,
  onLog?: (text: string) => void,
): Promise<{ result: unknown; logs: string }> {
  const [file, exported] = fn.handler.split('.') as [string, string];
  checkBundle(fn);
  const task = mkdtempSync(path.join(os.tmpdir(), 'invoke-task-'));
  cpSync(fn.assetDir, task, { recursive: true });
  symlinkSync(path.join(REPOSITORY, 'node_modules'), path.join(task, 'node_modules'), 'dir');
  const entry = ['.mjs', '.js', '.cjs'].map((ext) => path.join(task, `${file}${ext}`)).find((c) => existsSync(c)) as string;
  // The event and the result go through files beside the task folder: an environment variable
  // holds at most 128 KiB on Linux, and the function's own output shares stdout.
  const io = mkdtempSync(path.join(os.tmpdir(), 'invoke-io-'));
  const eventFile = path.join(io, 'event.json');
  const resultFile = path.join(io, 'result.json');
  writeFileSync(eventFile, JSON.stringify(event));
  const runner = [
    `import { readFileSync, writeFileSync } from 'node:fs';`,
    `const mod = await import(${JSON.stringify(pathToFileURL(entry).href)});`,
    `const event = JSON.parse(readFileSync(${JSON.stringify(eventFile)}, 'utf8'));`,
    `const deadline = Date.now() + 30000;`,
    `const context = { awsRequestId: 'invoke-' + Date.now(), functionName: ${JSON.stringify(fn.logicalId)}, functionVersion: '$LATEST', memoryLimitInMB: '1769', getRemainingTimeInMillis: () => deadline - Date.now() };`,
    `const result = await mod[${JSON.stringify(exported)}](event, context);`,
    // As the Node.js runtime sends it: JSON, and null for undefined.
    `writeFileSync(${JSON.stringify(resultFile)}, JSON.stringify(result) ?? 'null');`,
  ].join('\n');
  const childEnv: Record<string, string> = {
    PATH: process.env['PATH'] ?? '',
    ...QUIET_ENV,
    ...env,
    ...CREDENTIALS,
    AWS_ENDPOINT_URL_DYNAMODB: aws.dynamoEndpoint,
    AWS_ENDPOINT_URL_S3: aws.s3Endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    // The S3-compatible server knows nothing of the SDK's default flexible checksums.
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    MODEL_CACHE_DIR: path.join(os.tmpdir(), 'onnx-serving-model-cache'),
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', runner], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const log = (text: string) => {
      out += text;
      onLog?.(text);
    };
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', log);
    child.stderr.on('data', log);
    child.on('error', (error) => {
      rmSync(task, { recursive: true, force: true });
      rmSync(io, { recursive: true, force: true });
      reject(error);
    });
    // 'close', not 'exit': the process has ended and its output has been read to the end.
    child.on('close', (code, signal) => {
      rmSync(task, { recursive: true, force: true });
      const text = code === 0 && existsSync(resultFile) ? readFileSync(resultFile, 'utf8') : undefined;
      rmSync(io, { recursive: true, force: true });
      if (text === undefined) {
        reject(new Error(`The function exited with ${signal ? `signal ${signal}` : `code ${code}`}:\n${out}`));
        return;
      }
      const resultBytes = Buffer.byteLength(text, 'utf8');
      if (resultBytes > LAMBDA_SYNC_PAYLOAD_BYTES) {
        reject(
          new Error(
            `The function's result is ${resultBytes} bytes as JSON, over Lambda's ${LAMBDA_SYNC_PAYLOAD_BYTES}-byte limit for a synchronous invoke: Lambda would refuse it (Function.ResponseSizeTooLarge), and API Gateway answer 502.\n${out}`,
          ),
        );
        return;
      }
      resolve({ result: JSON.parse(text) as unknown, logs: out });
    });
  });
}

/** What an API Gateway proxy result (REST, Lambda proxy integration) looks like to `npm run invoke`. */
export interface ProxyResultShape {
  readonly statusCode: number;
  readonly headers?: Record<string, unknown>;
  readonly multiValueHeaders?: Record<string, unknown>;
  readonly body?: string;
  readonly isBase64Encoded?: boolean;
}

/** Whether `result` is a proxy result: a numeric `statusCode`, and a `body` that is a string when present. */
export function isProxyResult(result: unknown): result is ProxyResultShape {
  if (result === null || typeof result !== 'object') return false;
  const { statusCode, body } = result as { statusCode?: unknown; body?: unknown };
  return typeof statusCode === 'number' && (body === undefined || body === null || typeof body === 'string');
}

/**
 * The body of a proxy result as the client would get it: a base64 body (`isBase64Encoded`)
 * decoded to its bytes, as API Gateway does for a client that accepts a binary media type; a text
 * body as its UTF-8 bytes. `undefined` when `result` is not a proxy result.
 */
export function resultBody(result: unknown): Buffer | undefined {
  if (!isProxyResult(result)) return undefined;
  const body = result.body ?? '';
  return result.isBase64Encoded ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
}

/**
 * What `npm run invoke` prints for a result: the result as JSON, except that a proxy result with a
 * base64 body, or one whose body went to a file (`written`), shows its status, headers and
 * `bodyBytes` (the decoded size) in place of the body.
 */
export function describeResult(result: unknown, written?: string): string {
  const bytes = resultBody(result);
  if (!isProxyResult(result) || bytes === undefined || (!result.isBase64Encoded && written === undefined))
    return JSON.stringify(result, null, 2);
  const { body: _body, ...rest } = result;
  return JSON.stringify({ ...rest, bodyBytes: bytes.length, ...(written !== undefined ? { bodyFile: written } : {}) }, null, 2);
}
