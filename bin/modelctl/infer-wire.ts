/**
 * The wire side of `modelctl infer` (pure, no command line): which inputs go by reference so
 * that a request fits Lambda's synchronous limit once base64-encoded, the binary request (Open
 * Inference Protocol binary tensor data extension), how an answer is read (binary, JSON, outputs
 * by reference) and checked, the file names outputs are written under, and the summary printed.
 */
import { LAMBDA_SYNC_PAYLOAD_BYTES, base64Length } from '../../functions/core/codec/payload-limits.js';
import {
  TensorBytesError,
  checkRawTensor,
  elementCount,
  isWireDatatype,
  jsonToRaw,
  nestedToFlat,
  rawToJson,
  type RawTensor,
  type WireDatatype,
} from '../../functions/core/codec/tensor-bytes.js';
import { clean, shown } from './common.js';
import { ApiError, s3Refusal } from './http.js';

/**
 * Room kept below Lambda's synchronous limit for what is not the body (the request's headers,
 * the event's envelope): a request whose body, once base64-encoded (as API Gateway hands binary
 * bodies to Lambda), passes `LAMBDA_SYNC_PAYLOAD_BYTES - INLINE_MARGIN_BYTES` sends its largest
 * inputs by reference until the rest fits.
 */
export const INLINE_MARGIN_BYTES = 64 * 1024;

/** Values of each output the summary shows. */
const SUMMARY_VALUES = 8;
/** Characters of a BYTES value the summary shows. */
const SUMMARY_STRING_CHARS = 40;

/** One `--input` of `infer`, read: its name and tensor. */
export interface InferInput {
  readonly name: string;
  readonly tensor: RawTensor;
}

/** One output of an inference answer, with the parameters it came with. */
export interface InferOutput extends RawTensor {
  readonly name: string;
  readonly parameters?: Record<string, unknown>;
}

/** An inference answer: its JSON header without the outputs, and the outputs, whole. */
export interface InferReply {
  readonly header: Record<string, unknown>;
  readonly outputs: readonly InferOutput[];
}

/**
 * The inputs to send by reference: none when the body (`headerBytes` and every input's bytes)
 * fits inline once base64-encoded, with {@link INLINE_MARGIN_BYTES} to spare, below Lambda's
 * synchronous limit; else the largest ones, one by one, until the rest fits.
 */
export function byReference(inputs: readonly { name: string; bytes: number }[], headerBytes: number): Set<string> {
  const limit = LAMBDA_SYNC_PAYLOAD_BYTES - INLINE_MARGIN_BYTES;
  let total = inputs.reduce((sum, i) => sum + i.bytes, headerBytes);
  const chosen = new Set<string>();
  for (const input of [...inputs].sort((a, b) => b.bytes - a.bytes)) {
    if (base64Length(total) <= limit) break;
    chosen.add(input.name);
    total -= input.bytes;
  }
  return chosen;
}

/**
 * The JSON header of a binary request: each input's name, shape and datatype, with
 * `binary_data_size` (its bytes follow the header) or `data_ref` (uploaded before), and
 * `binary_data_output` to ask for the outputs in binary.
 */
export function requestHeader(inputs: readonly InferInput[], refs: ReadonlyMap<string, string>): Uint8Array {
  const header = {
    inputs: inputs.map(({ name, tensor }) => {
      const ref = refs.get(name);
      return {
        name,
        shape: tensor.shape,
        datatype: tensor.datatype,
        parameters: ref === undefined ? { binary_data_size: tensor.data.byteLength } : { data_ref: ref },
      };
    }),
    parameters: { binary_data_output: true },
  };
  return new TextEncoder().encode(JSON.stringify(header));
}

/** The header, then the bytes of each input sent inline, in the order the header lists them. */
export function requestBody(header: Uint8Array, inputs: readonly InferInput[], refs: ReadonlyMap<string, string>): Uint8Array {
  const inline = inputs.filter((i) => !refs.has(i.name)).map((i) => i.tensor.data);
  const body = new Uint8Array(inline.reduce((sum, d) => sum + d.byteLength, header.byteLength));
  body.set(header, 0);
  let offset = header.byteLength;
  for (const data of inline) {
    body.set(data, offset);
    offset += data.byteLength;
  }
  return body;
}

/** The API's answer was not the inference answer it should be; says what is wrong. */
function badReply(message: string): ApiError {
  return new ApiError(`The inference answer cannot be read: ${message}`);
}

/**
 * Reads an inference answer: binary (`application/octet-stream`: a JSON header of
 * `Inference-Header-Content-Length` bytes, then each output's bytes in order) or JSON. Each
 * output comes with `parameters.binary_data_size` (its bytes are in the body), with
 * `parameters.data_url` (downloaded from there with `fetchFn`, no token sent: the URL is
 * presigned; its length checked against `data_bytes` or `binary_data_size` when given), or with
 * `data` (JSON values). Every output is checked against its shape, and the
 * body must hold nothing after the last output's bytes.
 */
export async function readInferReply(response: Response, fetchFn: typeof fetch): Promise<InferReply> {
  const type = (response.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  const body = new Uint8Array(await response.arrayBuffer());
  let headerLength = body.byteLength;
  if (type === 'application/octet-stream') {
    const announced = response.headers.get('inference-header-content-length');
    if (announced === null || !/^[0-9]{1,10}$/.test(announced.trim()))
      throw badReply('it is binary but has no Inference-Header-Content-Length header.');
    headerLength = Number(announced.trim());
    if (headerLength > body.byteLength)
      throw badReply(`its header is announced as ${headerLength} bytes, but the body has ${body.byteLength}.`);
  } else if (type !== 'application/json')
    throw badReply(`its Content-Type is ${shown(type ?? '')}, neither application/json nor application/octet-stream.`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body.subarray(0, headerLength)));
  } catch {
    throw badReply('its header is not JSON.');
  }
  if (header === null || typeof header !== 'object' || !Array.isArray((header as { outputs?: unknown }).outputs))
    throw badReply('it has no "outputs" list.');
  const { outputs: entries, ...rest } = header as { outputs: unknown[] };
  let offset = headerLength;
  const outputs: InferOutput[] = [];
  for (const [i, entry] of entries.entries()) {
    if (entry === null || typeof entry !== 'object') throw badReply(`output ${i} is not an object.`);
    const { name, datatype, shape, data, parameters } = entry as Record<string, unknown>;
    if (typeof name !== 'string') throw badReply(`output ${i} has no name.`);
    if (!isWireDatatype(datatype))
      throw badReply(`output ${shown(name)} has the datatype ${shown(String(datatype))}, which modelctl cannot read.`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0))
      throw badReply(`output ${shown(name)} has no shape of whole numbers.`);
    const params =
      parameters !== null && typeof parameters === 'object' && !Array.isArray(parameters)
        ? (parameters as Record<string, unknown>)
        : undefined;
    const size = params?.['binary_data_size'];
    const url = params?.['data_url'];
    let bytes: Uint8Array;
    if (typeof url === 'string') {
      bytes = await downloadOutput(fetchFn, name, url);
      const announced = params?.['data_bytes'] ?? size;
      if (typeof announced === 'number' && announced !== bytes.byteLength)
        throw badReply(`output ${shown(name)} is announced as ${announced} bytes; its download has ${bytes.byteLength}.`);
    } else if (typeof size === 'number') {
      if (!Number.isSafeInteger(size) || size < 0 || size > body.byteLength - offset) {
        throw badReply(`output ${shown(name)} is announced as ${size} bytes, but ${body.byteLength - offset} are left in the body.`);
      }
      bytes = body.subarray(offset, offset + size);
      offset += size;
    } else if (Array.isArray(data)) {
      try {
        bytes = jsonToRaw(datatype, nestedToFlat(data).values);
      } catch (error) {
        if (error instanceof TensorBytesError) throw badReply(`output ${shown(name)}: ${error.message}`);
        throw error;
      }
    } else throw badReply(`output ${shown(name)} has neither data, binary_data_size nor data_url.`);
    const output: InferOutput = {
      name,
      datatype,
      shape: shape as number[],
      data: bytes,
      ...(params === undefined ? {} : { parameters: params }),
    };
    try {
      checkRawTensor(output);
    } catch (error) {
      if (error instanceof TensorBytesError) throw badReply(`output ${shown(name)}: ${error.message}`);
      throw error;
    }
    outputs.push(output);
  }
  if (offset !== body.byteLength) throw badReply(`${body.byteLength - offset} bytes follow the last output's.`);
  return { header: rest, outputs };
}

/** An output the API left in S3: its raw bytes from the presigned URL. */
async function downloadOutput(fetchFn: typeof fetch, name: string, url: string): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetchFn(url);
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    throw new ApiError(`Cannot download output ${shown(name)} from ${new URL(url).origin}${cause}.`);
  }
  if (!response.ok) throw new ApiError(`The download of output ${shown(name)} was refused: ${await s3Refusal(response)}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * A file name for each output, `<name>.npy`: characters other than letters, digits, `.`, `_`
 * and `-` become `_` (a name from the API never leaves the folder), and names that would meet
 * (on a case-insensitive file system too) get `-2`, `-3`, ...
 */
export function outputFileNames(names: readonly string[]): string[] {
  const used = new Set<string>();
  return names.map((name) => {
    let base = name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200);
    if (/^\.*$/.test(base)) base = `output${base.length > 0 ? '_' : ''}`;
    let candidate = base;
    for (let n = 2; used.has(candidate.toLowerCase()); n += 1) candidate = `${base}-${n}`;
    used.add(candidate.toLowerCase());
    return `${candidate}.npy`;
  });
}

/** One element as the summary shows it: numbers and words as they are, strings quoted and cut. */
function summaryValue(datatype: WireDatatype, value: string | number | boolean): string {
  if (datatype !== 'BYTES' || typeof value !== 'string') return String(value);
  return JSON.stringify(value.length > SUMMARY_STRING_CHARS ? `${value.slice(0, SUMMARY_STRING_CHARS)}…` : value);
}

/**
 * `infer`'s summary, an output a line (its first values, and the file it was written to):
 *
 *     segmenter v1 (request 6f1c…)
 *       mask  FP32  [1, 1, 512, 512]  0.25, 0.5, 0.75, 1, 0, 0, 0, 0, …  -> out/mask.npy
 */
export function inferSummary(reply: InferReply, files?: readonly string[]): string {
  const { model_name: name, model_version: version, id } = reply.header;
  const head = `${typeof name === 'string' ? name : 'model'}${typeof version === 'string' ? ` v${version}` : ''}${typeof id === 'string' ? ` (request ${id})` : ''}`;
  const rows = reply.outputs.map((output, i) => {
    const values = rawToJson(output, SUMMARY_VALUES).map((v) => summaryValue(output.datatype, v));
    const more = values.length < elementCount(output.shape) ? ', …' : '';
    return [
      output.name,
      output.datatype,
      `[${output.shape.join(', ')}]`,
      `${values.join(', ')}${more}`,
      files?.[i] === undefined ? '' : `-> ${files[i]}`,
    ];
  });
  const widths = [0, 1, 2].map((c) => Math.max(0, ...rows.map((r) => (r[c] ?? '').length)));
  const lines = rows.map((r) =>
    clean(
      r
        .map((cell, c) => (c < 3 ? cell.padEnd(widths[c] ?? 0) : cell))
        .join('  ')
        .trimEnd(),
    ),
  );
  return `${[clean(head), ...lines.map((l) => `  ${l}`)].join('\n')}\n`;
}

/** `infer --json`: the answer's header with each output's values as JSON `data`. */
export function replyJson(reply: InferReply): Record<string, unknown> {
  return {
    ...reply.header,
    outputs: reply.outputs.map((output) => {
      const {
        binary_data_size: _size,
        data_url: _url,
        data_bytes: _bytes,
        data_expires_at: _expires,
        binary_data: _binary,
        ...parameters
      } = output.parameters ?? {};
      return {
        name: output.name,
        datatype: output.datatype,
        shape: output.shape,
        ...(Object.keys(parameters).length > 0 ? { parameters } : {}),
        data: rawToJson(output),
      };
    }),
  };
}
