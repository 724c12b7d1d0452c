/**
 * scikit-learn classifiers exported to ONNX (skl2onnx, onnxmltools) end in a ZipMap operator
 * (domain `ai.onnx.ml`): it turns the `[N, K]` float probability tensor into one map per row,
 * `seq(map(string or int64, float))` keyed by class label. ONNX Runtime's Node binding cannot
 * return such a value, so at registration the graph is rewritten to serve the tensor instead:
 *
 * - a ZipMap whose output is a graph output (and read by nothing else) becomes an `Identity` of
 *   its input, so the output keeps its name and now returns the `[N, K]` float tensor;
 * - the ZipMap's own labels (`classlabels_strings`, or `classlabels_int64s` as decimal strings),
 *   in column order, become the version's class labels;
 * - everything else in the file is left as it was, fields this module does not read included
 *   (protobuf-es keeps them: see `proto.ts`).
 *
 * Pure: bytes in, bytes out. The protobuf code (`proto.ts` and the generated schema, about 20 ms
 * to load when bundled) is imported only for a file that mentions ZipMap at all, so no other
 * registration and no serving cold start pays for it.
 *
 * Refusals (400): `ZIPMAP_NOT_REWRITABLE` (path `model`) for a ZipMap this cannot turn into a
 * tensor output, `ZIPMAP_LABELS_MISMATCH` (path `metadata.classLabels`) when the caller declared
 * other class labels than the ZipMap's (see {@link servedClassLabels}).
 */
import { ValidationError, clip } from '../errors.js';
import type { GraphProto, ModelProto, NodeProto, TypeProto } from './proto.js';

/** Domain of the classic ML operators, ZipMap among them. */
const ML_DOMAIN = 'ai.onnx.ml';
const ZIPMAP = 'ZipMap';
/** `TensorProto.DataType` codes this module needs (`proto.ts` `DataType`, without loading it). */
const FLOAT = 1;
const INT64 = 7;
const STRING = 8;
/** The limits `ModelMetadataSchema` puts on declared class labels, applied to the ZipMap's. */
const MAX_LABELS = 10_000;
const MAX_LABEL_LENGTH = 256;

export interface ZipMapRewrite {
  /** The file to serve: the rewritten one, or the input itself when nothing was rewritten. */
  readonly bytes: Uint8Array;
  readonly rewritten: boolean;
  /** The ZipMap's class labels, in the order of the probability columns (when rewritten). */
  readonly classLabels?: readonly string[];
  /** The outputs that now return `[N, K]` float32 probabilities instead of a sequence of maps. */
  readonly outputs?: readonly string[];
  /** One sentence saying what was done (or why nothing was), for the version record and logs. */
  readonly note: string;
}

/**
 * Rewrites the ZipMap outputs of an ONNX model (see the module comment). A file that does not
 * mention ZipMap, or cannot be decoded as ONNX protobuf, or has no ZipMap of domain `ai.onnx.ml`
 * in its main graph, comes back unchanged with `rewritten: false` (ONNX Runtime then judges it
 * as any other file: a malformed file gets `INVALID_MODEL`, a non-tensor output
 * `NON_TENSOR_OUTPUT`).
 *
 * @throws ValidationError (400) `ZIPMAP_NOT_REWRITABLE` (path `model`): a ZipMap output that is
 *   also read by another node, or reaches a graph output through other nodes; a ZipMap without
 *   exactly one input and output, or without exactly one of `classlabels_strings` /
 *   `classlabels_int64s`; fewer than 2, more than 10,000, empty, over-long (256 characters),
 *   duplicate or non-UTF-8 labels; a declared output type other than
 *   `seq(map(string|int64, float))` matching the labels' kind; two ZipMap outputs with
 *   different labels; value names that are not valid UTF-8
 *
 * @example
 * const { bytes, rewritten, classLabels } = await rewriteZipMap(await readFile('logreg.onnx'));
 * // rewritten === true, classLabels === ['setosa', 'versicolor', 'virginica']
 */
export async function rewriteZipMap(bytes: Uint8Array): Promise<ZipMapRewrite> {
  if (!mentionsZipMap(bytes)) return { bytes, rewritten: false, note: 'The file has no ZipMap operator.' };
  const wire = await import('./proto.js');
  let model: ModelProto;
  try {
    model = wire.decodeModel(bytes);
  } catch (error) {
    if (error instanceof wire.ProtobufDecodeError)
      return { bytes, rewritten: false, note: 'The file is not a readable ONNX protobuf; left to ONNX Runtime.' };
    throw error;
  }
  const graph = model.graph;
  const zipMaps = graph?.node.filter(isZipMap) ?? [];
  if (!graph || zipMaps.length === 0) return { bytes, rewritten: false, note: 'The file has no ZipMap operator of domain ai.onnx.ml.' };

  const outputs = new Map(graph.output.map((o) => [o.name, o]));
  const readers = readersOf(graph);
  const rewrites: Array<{ node: NodeProto; output: string; labels: string[] }> = [];
  for (const node of zipMaps) {
    const name = nodeName(node);
    if (node.input.length !== 1 || node.output.length !== 1 || !node.input[0] || !node.output[0]) {
      throw notRewritable(`its ZipMap ${name} has ${node.input.length} inputs and ${node.output.length} outputs; ZipMap has one of each`);
    }
    const output = node.output[0];
    if (!outputs.has(output)) continue; // Read inside the graph: judged below if it reaches an output.
    const reader = readers.get(output);
    if (reader !== undefined) {
      throw notRewritable(
        `the output "${clip(output, 80)}" of its ZipMap ${name} is also read by node ${nodeName(reader)}; only a ZipMap read by nothing but the graph's outputs can be replaced by its probability tensor`,
      );
    }
    const labels = zipMapLabels(node);
    checkOutputType(outputs.get(output)?.type, labels.keyType, output);
    rewrites.push({ node, output, labels: labels.values });
  }
  checkNoNonTensorOutputFromZipMap(graph, new Set(rewrites.map((r) => r.output)));
  const first = rewrites[0];
  if (!first) return { bytes, rewritten: false, note: 'No ZipMap output is a graph output; nothing to rewrite.' };
  for (const other of rewrites.slice(1)) {
    if (!sameList(other.labels, first.labels)) {
      throw notRewritable(
        `its ZipMap outputs "${clip(first.output, 80)}" and "${clip(other.output, 80)}" have different class labels; a version has one list of class labels`,
      );
    }
  }
  checkNames(graph);

  for (const { node, output, labels } of rewrites) {
    const index = graph.node.indexOf(node);
    graph.node[index] = wire.create(wire.NodeProtoSchema, {
      input: [node.input[0] as string],
      output: [output],
      name: node.name || undefined,
      opType: 'Identity',
      docString: `Was ZipMap (ai.onnx.ml): probabilities of ${labels.length} classes, rewritten at registration to serve the tensor.`,
    });
    const info = outputs.get(output);
    if (info) {
      info.type = wire.create(wire.TypeProtoSchema, {
        value: {
          case: 'tensorType',
          value: { elemType: FLOAT, shape: { dim: [{}, { value: { case: 'dimValue', value: BigInt(labels.length) } }] } },
        },
      });
    }
  }
  // Identity is a default-domain operator (version 1 onwards): import that domain if the file
  // did not (a graph of ai.onnx.ml operators only).
  if (!model.opsetImport.some((o) => o.domain === '' || o.domain === 'ai.onnx')) {
    model.opsetImport.push(wire.create(wire.OperatorSetIdProtoSchema, { domain: '', version: 13n }));
  }
  const names = rewrites.map((r) => `"${clip(r.output, 80)}"`).join(', ');
  return {
    bytes: wire.encodeModel(model),
    rewritten: true,
    classLabels: first.labels,
    outputs: rewrites.map((r) => r.output),
    note: `ZipMap output ${names} rewritten to return its [N, ${first.labels.length}] float probability tensor; the class labels are the ZipMap's.`,
  };
}

/**
 * The class labels a rewritten version serves: the ZipMap's, when the caller declared none or
 * the same list.
 *
 * @throws ValidationError (400) `ZIPMAP_LABELS_MISMATCH` (path `metadata.classLabels`) when the
 *   declared labels differ from the ZipMap's (in content or order): the probability columns are
 *   the ZipMap's, so other labels would name them wrongly
 */
export function servedClassLabels(declared: readonly string[] | undefined, zipMap: readonly string[]): readonly string[] {
  if (declared === undefined || sameList(declared, zipMap)) return zipMap;
  throw new ValidationError(
    'ZIPMAP_LABELS_MISMATCH',
    `The declared class labels ${labelList(declared)} differ from the model's ZipMap labels ${labelList(zipMap)}, which name its probability columns in order. Declare the ZipMap's labels, in that order, or leave classLabels out to use them.`,
    ['metadata', 'classLabels'],
  );
}

/** Whether the bytes contain the text "ZipMap" anywhere: no ZipMap node can be in a file without it. */
function mentionsZipMap(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(ZIPMAP);
}

function isZipMap(node: NodeProto): boolean {
  return node.opType === ZIPMAP && node.domain === ML_DOMAIN;
}

function nodeName(node: NodeProto): string {
  return node.name ? `"${clip(node.name, 80)}"` : `(unnamed ${clip(node.opType, 40)})`;
}

function notRewritable(reason: string): ValidationError {
  return new ValidationError(
    'ZIPMAP_NOT_REWRITABLE',
    `This model's ZipMap output cannot be served as a probability tensor: ${reason}. Export the classifier without ZipMap (skl2onnx: options={id(model): {'zipmap': False}}) and register that file.`,
    ['model'],
  );
}

/**
 * The first node reading each value of the main graph, including nodes of its subgraphs (If,
 * Loop and Scan bodies read outer values by name).
 */
function readersOf(graph: GraphProto): Map<string, NodeProto> {
  const readers = new Map<string, NodeProto>();
  const visit = (g: GraphProto, owner: NodeProto | undefined): void => {
    for (const node of g.node) {
      for (const input of node.input) if (input !== '' && !readers.has(input)) readers.set(input, owner ?? node);
      for (const a of node.attribute) {
        if (a.g) visit(a.g, owner ?? node);
        for (const sub of a.graphs) visit(sub, owner ?? node);
      }
    }
  };
  visit(graph, undefined);
  return readers;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The ZipMap's labels as strings, checked against the limits declared labels have. */
function zipMapLabels(node: NodeProto): { keyType: 'string' | 'int64'; values: string[] } {
  const name = nodeName(node);
  const strings = node.attribute.find((a) => a.name === 'classlabels_strings');
  const ints = node.attribute.find((a) => a.name === 'classlabels_int64s');
  const hasStrings = (strings?.strings.length ?? 0) > 0;
  const hasInts = (ints?.ints.length ?? 0) > 0;
  if (hasStrings === hasInts) {
    throw notRewritable(`its ZipMap ${name} needs exactly one of the attributes classlabels_strings and classlabels_int64s, non-empty`);
  }
  let values: string[];
  if (hasStrings) {
    try {
      values = (strings?.strings ?? []).map((s) => utf8.decode(s));
    } catch {
      throw notRewritable(`a class label of its ZipMap ${name} is not valid UTF-8`);
    }
  } else {
    values = (ints?.ints ?? []).map(String);
  }
  if (values.length < 2 || values.length > MAX_LABELS) {
    throw notRewritable(`its ZipMap ${name} has ${values.length} class labels; a classifier has 2 to ${MAX_LABELS}`);
  }
  const bad = values.findIndex((v) => v.length === 0 || v.length > MAX_LABEL_LENGTH);
  if (bad >= 0)
    throw notRewritable(
      `class label ${bad} of its ZipMap ${name} is ${values[bad] === '' ? 'empty' : `longer than ${MAX_LABEL_LENGTH} characters`}`,
    );
  const seen = new Set<string>();
  for (const v of values) {
    if (seen.has(v)) throw notRewritable(`its ZipMap ${name} lists the class label "${clip(v, 80)}" twice`);
    seen.add(v);
  }
  return { keyType: hasStrings ? 'string' : 'int64', values };
}

/** A declared ZipMap output type must be `seq(map(<the labels' kind>, float))`; absent is fine. */
function checkOutputType(type: TypeProto | undefined, keyType: 'string' | 'int64', output: string): void {
  if (!type || type.value.case === undefined) return;
  const map = type.value.case === 'sequenceType' ? type.value.value.elemType?.value : undefined;
  const value = map?.case === 'mapType' ? map.value.valueType?.value : undefined;
  const key = map?.case === 'mapType' ? map.value.keyType : undefined;
  const fits = key === (keyType === 'string' ? STRING : INT64) && value?.case === 'tensorType' && value.value.elemType === FLOAT;
  if (!fits) {
    throw notRewritable(
      `the output "${clip(output, 80)}" is declared with another type than seq(map(${keyType}, float)), which its ZipMap produces`,
    );
  }
}

/**
 * A non-tensor graph output left after the rewrite must not come from a ZipMap through other
 * nodes (a ZipMap feeding, say, a sequence operator): that cannot be served, and replacing the
 * ZipMap alone would change what the other nodes compute.
 */
function checkNoNonTensorOutputFromZipMap(graph: GraphProto, rewritten: ReadonlySet<string>): void {
  const producers = new Map<string, NodeProto>();
  for (const node of graph.node) for (const o of node.output) producers.set(o, node);
  for (const output of graph.output) {
    const kind = output.type?.value.case;
    if (rewritten.has(output.name) || kind === undefined || kind === 'tensorType') continue;
    const seen = new Set<string>();
    const pending = [output.name];
    while (pending.length > 0) {
      const value = pending.pop() as string;
      const node = producers.get(value);
      if (!node || seen.has(value)) continue;
      seen.add(value);
      if (isZipMap(node)) {
        throw notRewritable(
          `its output "${clip(output.name, 80)}" is computed from the output of its ZipMap ${nodeName(node)} by other nodes, not by the ZipMap itself`,
        );
      }
      pending.push(...node.input.filter((i) => i !== ''));
    }
  }
}

/**
 * protobuf-es reads strings as ONNX does (no UTF-8 validation), substituting U+FFFD for invalid
 * bytes: a rewritten file would carry changed names. Refused rather than served renamed.
 */
function checkNames(graph: GraphProto): void {
  const names = [
    ...graph.input.map((v) => v.name),
    ...graph.output.map((v) => v.name),
    ...graph.initializer.map((t) => t.name),
    ...graph.node.flatMap((n) => [n.name, ...n.input, ...n.output]),
  ];
  if (names.some((n) => n.includes('\uFFFD'))) throw notRewritable('some of its value or node names are not valid UTF-8');
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** At most 10 labels, each clipped: messages quote, never echo unbounded input. */
function labelList(labels: readonly string[]): string {
  const shown = labels
    .slice(0, 10)
    .map((l) => JSON.stringify(clip(l, 40)))
    .join(', ');
  return `[${shown}${labels.length > 10 ? `, … (${labels.length} in all)` : ''}]`;
}
