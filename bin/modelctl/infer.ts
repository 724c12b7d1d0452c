/**
 * `modelctl infer`: Open Inference Protocol v2 requests from `.npy` files or JSON arrays, sent as
 * binary tensors; inputs too large for Lambda go first by reference (a presigned upload).
 */
import path from 'node:path';
import type { Command } from 'commander';
import { NpyError, readNpy, writeNpy } from '../../functions/core/codec/npy.js';
import { TensorBytesError, isWireDatatype, jsonToRaw, nestedToFlat } from '../../functions/core/codec/tensor-bytes.js';
import { FILE, FOLDER, VERSION, free } from './args.js';
import { type Call, type Cli, action, apiOptions, command, option, outputOptions } from './command.js';
import { type CliIo, UsageError, formatBytes, parseJson, readLocalFile, shown } from './common.js';
import { type Api, ApiError } from './http.js';
import {
  type InferInput,
  byReference,
  inferSummary,
  outputFileNames,
  readInferReply,
  replyJson,
  requestBody,
  requestHeader,
} from './infer-wire.js';
import { jsonText } from './output.js';
import { once, putFile, writeWhole } from './uploads.js';

interface InferOptions {
  readonly input?: string[];
  readonly body?: string;
  readonly version?: string;
  readonly outputDir?: string;
}

/** `POST /v1/models/{m}/payloads`: where to PUT an input's bytes, and the id that then names them. */
interface PayloadTicket {
  readonly payloadId: string;
  readonly url: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly expiresAt?: string;
}

/** `--input NAME=...`: its form is read with the others, before any file is. */
const INPUT = free('input');

/** `infer`, on `program`. */
export function addInferCommand(program: Command, cli: Cli): void {
  const infer = command(program, {
    name: 'infer <model>',
    summary: 'an Open Inference Protocol v2 request',
    group: 'Predictions:',
    usage: '<model> (--input NAME=FILE.npy ... | --body FILE) [options]',
    description:
      'Call POST /v2/models/<model>/infer (with --version: /versions/N/infer). --input, once per input: a NumPy .npy ' +
      'file, or @FILE.json, or an inline JSON array (typed as the model declares), sent as binary tensors; inputs too ' +
      "large for Lambda go first by reference (a presigned upload). Prints each output's datatype, shape and first " +
      "values; -o json: the answer with each output's values as JSON. --body: a JSON v2 request, sent as it is.",
    after: [
      'Examples:',
      '  modelctl infer iris --input features=rows.npy --output-dir out/',
      "  modelctl infer iris --input 'features=[[5.1, 3.5, 1.4, 0.2]]' -o json",
    ].join('\n'),
  });
  option(infer, '--input <name=file>', "NAME=FILE.npy, NAME=@FILE.json or NAME='[JSON array]', once per input", INPUT, {
    repeat: true,
  });
  option(infer, '--body <file>', 'a JSON v2 request, sent as it is', FILE);
  option(infer, '--version <n>', 'this version of the model, not the live one', VERSION);
  option(infer, '--output-dir <dir>', 'also write each output as DIR/<output>.npy', FOLDER);
  apiOptions(outputOptions(infer)).action(action(cli, inferCommand));
}

/**
 * With `--input`s, one binary request (Open Inference Protocol binary tensor data extension)
 * asking for binary outputs; inputs that would take the request past Lambda's limit are
 * uploaded first and sent by reference. With `--body`, the JSON request as it is.
 */
async function inferCommand(call: Call<InferOptions>): Promise<number> {
  const { io, opts, api } = call;
  const [model = ''] = call.args;
  const base = `/v2/models/${encodeURIComponent(model)}${opts.version === undefined ? '' : `/versions/${encodeURIComponent(opts.version)}`}`;
  if (opts.body !== undefined) {
    if (opts.input !== undefined || opts.outputDir !== undefined)
      throw new UsageError('--body sends a JSON request as it is; it goes without --input and --output-dir.');
    const body = parseJson(await readLocalFile(io, opts.body), opts.body);
    if (call.json) {
      io.out(jsonText(await api.call('POST', `${base}/infer`, body)));
      return 0;
    }
    const response = await api.send('POST', `${base}/infer`, new TextEncoder().encode(JSON.stringify(body)), {
      'content-type': 'application/json',
    });
    io.out(inferSummary(await readInferReply(response, io.fetch)));
    return 0;
  }
  if (opts.input === undefined)
    throw new UsageError('"infer" takes --input NAME=FILE.npy (once per input), or --body FILE with a JSON v2 request.');
  const inputs = await inferInputs(opts.input, base, api, io);

  const remote = byReference(
    inputs.map((i) => ({ name: i.name, bytes: i.tensor.data.byteLength })),
    requestHeader(inputs, new Map()).byteLength,
  );
  // Before anything is uploaded, what the model's metadata can refuse is checked here.
  if (remote.size > 0) checkAgainstMetadata(inputs, await api.call('GET', base));
  const refs = new Map<string, string>();
  for (const input of inputs) if (remote.has(input.name)) refs.set(input.name, await uploadPayload(api, io, model, input));
  const header = requestHeader(inputs, refs);
  const response = await api.send('POST', `${base}/infer`, requestBody(header, inputs, refs), {
    'content-type': 'application/octet-stream',
    'inference-header-content-length': String(header.byteLength),
    accept: 'application/octet-stream',
  });
  const reply = await readInferReply(response, io.fetch);

  const dir = opts.outputDir;
  const files = dir === undefined ? undefined : outputFileNames(reply.outputs.map((o) => o.name)).map((name) => path.join(dir, name));
  if (files) {
    const write = io.writeFile ?? writeWhole;
    for (const [i, output] of reply.outputs.entries()) await write(files[i] as string, once(writeNpy(output)));
  }
  if (call.json) {
    io.out(jsonText(replyJson(reply)));
    if (files) io.err(files.map((f) => `Wrote ${f}\n`).join(''));
  } else io.out(inferSummary(reply, files));
  return 0;
}

/** The `--input`s, read: `.npy` files as they are; JSON arrays typed as the model declares the input. */
async function inferInputs(specs: readonly string[], base: string, api: Api, io: CliIo): Promise<InferInput[]> {
  // Every --input's form first: nothing is read or asked before they all make sense.
  const given = specs.map((spec) => {
    const eq = spec.indexOf('=');
    if (eq < 1) throw new UsageError(`--input is NAME=FILE.npy, NAME=@FILE.json or NAME='[JSON array]', not ${shown(spec)}.`);
    const name = spec.slice(0, eq);
    const value = spec.slice(eq + 1);
    return { name, value, inline: value.trimStart().startsWith('[') ? parseJson(value, `--input ${name}`) : undefined };
  });
  const twice = given.find((g, i) => given.findIndex((other) => other.name === g.name) !== i);
  if (twice) throw new UsageError(`--input ${shown(twice.name)} is given twice.`);
  let declared: Promise<Map<string, string>> | undefined;
  const inputs: InferInput[] = [];
  for (const { name, value, inline } of given) {
    if (inline === undefined && !value.startsWith('@')) {
      const file = await readInput(io, value);
      try {
        inputs.push({ name, tensor: readNpy(file, { name: value }) });
      } catch (error) {
        if (error instanceof NpyError) throw new Error(error.message);
        throw error;
      }
      continue;
    }
    const where = inline === undefined ? value.slice(1) : `--input ${name}`;
    const json = inline ?? parseJson(await readInput(io, value.slice(1)), where);
    declared ??= declaredDatatypes(api, base);
    const datatype = (await declared).get(name);
    if (datatype === undefined) {
      throw new ApiError(
        `The model has no input ${shown(name)} (its inputs: ${[...(await declared).keys()].map(shown).join(', ')}); a JSON --input takes the datatype the model declares.`,
      );
    }
    if (!isWireDatatype(datatype))
      throw new ApiError(`The model declares input ${shown(name)} as ${shown(datatype)}, which modelctl cannot send.`);
    try {
      const { shape, values } = nestedToFlat(json);
      inputs.push({ name, tensor: { datatype, shape, data: jsonToRaw(datatype, values) } });
    } catch (error) {
      if (error instanceof TensorBytesError) throw new Error(`${where}: ${error.message}`);
      throw error;
    }
  }
  return inputs;
}

/**
 * The inputs against the model's metadata (`GET /v2/models/{m}`): each a declared input, of its
 * declared datatype, with no more rows than `parameters.max_rows`. The server checks all of it
 * again; here it spares an upload the server would refuse.
 */
export function checkAgainstMetadata(inputs: readonly InferInput[], metadata: unknown): void {
  const described = (metadata ?? {}) as {
    inputs?: { name?: unknown; datatype?: unknown; shape?: unknown }[];
    parameters?: { max_rows?: unknown };
  };
  const declared = new Map((described.inputs ?? []).filter((i) => typeof i.name === 'string').map((i) => [i.name as string, i]));
  const maxRows = described.parameters?.max_rows;
  for (const { name, tensor } of inputs) {
    const input = declared.get(name);
    if (!input) throw new ApiError(`The model has no input ${shown(name)} (its inputs: ${[...declared.keys()].map(shown).join(', ')}).`);
    if (typeof input.datatype === 'string' && input.datatype !== tensor.datatype) {
      const hint = tensor.datatype === 'FP64' && input.datatype === 'FP32' ? " Convert it first: NumPy's arr.astype('float32')." : '';
      throw new ApiError(`Input ${shown(name)} is ${input.datatype}; the file holds ${tensor.datatype}.${hint}`);
    }
    const shape = Array.isArray(input.shape) ? input.shape : [];
    const rows = tensor.shape[0];
    if (typeof maxRows === 'number' && shape.length > 0 && shape[0] === -1 && rows !== undefined && rows > maxRows) {
      throw new ApiError(
        `Input ${shown(name)} has ${rows} rows; this endpoint takes at most ${maxRows} per request. Split it, or run the rows as a batch job.`,
      );
    }
  }
}

/** An input file's bytes; one that cannot be read said plainly. */
function readInput(io: CliIo, file: string): Promise<Buffer> {
  return readLocalFile(io, file, 'Give a .npy file (or @FILE.json).');
}

/** The model's inputs and their declared datatypes (`GET /v2/models/{m}[/versions/{v}]`). */
async function declaredDatatypes(api: Api, base: string): Promise<Map<string, string>> {
  const metadata = (await api.call('GET', base)) as { inputs?: { name?: unknown; datatype?: unknown }[] } | undefined;
  const declared = new Map<string, string>();
  for (const input of metadata?.inputs ?? [])
    if (typeof input.name === 'string' && typeof input.datatype === 'string') declared.set(input.name, input.datatype);
  return declared;
}

/** Uploads an input's bytes through a presigned URL (progress on stderr); the payload id naming them. */
async function uploadPayload(api: Api, io: CliIo, model: string, input: InferInput): Promise<string> {
  const { data } = input.tensor;
  const ticket = (await api.call('POST', `/v1/models/${encodeURIComponent(model)}/payloads`, { bytes: data.byteLength })) as
    | Partial<PayloadTicket>
    | undefined;
  if (typeof ticket?.payloadId !== 'string' || typeof ticket.url !== 'string')
    throw new ApiError('POST /v1/models/{model}/payloads answered without a payloadId and a url.');
  io.err(
    `Input ${input.name} is ${formatBytes(data.byteLength)}: too large for Lambda's 6 MB inline, so it is uploaded first and sent by reference.\n`,
  );
  await putFile(io, { url: ticket.url, method: ticket.method ?? 'PUT', headers: ticket.headers ?? {} }, input.name, {
    size: data.byteLength,
    stream: () => once(data),
  });
  return ticket.payloadId;
}
