/**
 * The pure parts of `modelctl infer`: which inputs go by reference so that the request fits
 * Lambda's synchronous limit once base64-encoded, the binary request's header, how answers are
 * read (binary, JSON, by reference; and every way an answer can be wrong), the file names
 * outputs are written under, and the summary it prints.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  INLINE_MARGIN_BYTES,
  byReference,
  checkAgainstMetadata,
  inferSummary,
  outputFileNames,
  readInferReply,
  requestHeader,
  type InferInput,
} from '../../bin/modelctl.js';
import { LAMBDA_SYNC_PAYLOAD_BYTES } from '../../functions/core/codec/payload-limits.js';
import { jsonToRaw, rawToJson } from '../../functions/core/codec/tensor-bytes.js';

/** The most raw bytes that fit inline: base64 of them (4 per 3) within the limit less the margin. */
const MOST_INLINE = Math.floor((LAMBDA_SYNC_PAYLOAD_BYTES - INLINE_MARGIN_BYTES) / 4) * 3;

/** A binary answer: the header, then `parts`, with the header's length announced. */
function binaryAnswer(header: unknown, parts: readonly Uint8Array[], announced?: string): Response {
  const json = Buffer.from(JSON.stringify(header));
  return new Response(Buffer.concat([json, ...parts]), {
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': announced ?? String(json.byteLength) },
  });
}

/** The message `readInferReply` refuses an answer with (fails the test when it reads it). */
async function refusal(response: Response): Promise<string> {
  try {
    await readInferReply(response, fetch);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the answer was read');
}

describe('by reference', () => {
  it('sends everything inline while the body fits once base64-encoded, with the margin to spare', () => {
    expect(byReference([{ name: 'x', bytes: MOST_INLINE - 100 }], 100)).toEqual(new Set());
    expect(byReference([{ name: 'x', bytes: MOST_INLINE - 100 }], 101)).toEqual(new Set(['x']));
  });

  it('sends the largest inputs by reference, one by one, until the rest fits', () => {
    // Prepare: 4 MB, 3 MB and 1 MB: 8 MB raw is far over; without the 4 MB, 4 MB raw is 5.3 MB of base64
    const inputs = [
      { name: 'small', bytes: 1_000_000 },
      { name: 'large', bytes: 4_000_000 },
      { name: 'medium', bytes: 3_000_000 },
    ];

    // Act / Assess
    expect(byReference(inputs, 500)).toEqual(new Set(['large']));
    expect(byReference([...inputs, { name: 'more', bytes: 1_000_000 }], 500)).toEqual(new Set(['large', 'medium']));
  });
});

it("writes the request header: each input with its bytes' size or its payload id, and binary outputs asked for", () => {
  // Prepare
  const inputs: InferInput[] = [
    { name: 'a', tensor: { datatype: 'FP32', shape: [1, 2], data: jsonToRaw('FP32', [1, 2]) } },
    { name: 'b', tensor: { datatype: 'BYTES', shape: [1], data: jsonToRaw('BYTES', ['hi']) } },
  ];

  // Act
  const header = JSON.parse(Buffer.from(requestHeader(inputs, new Map([['b', 'p-1']]))).toString()) as unknown;

  // Assess
  expect(header).toEqual({
    inputs: [
      { name: 'a', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: 8 } },
      { name: 'b', shape: [1], datatype: 'BYTES', parameters: { data_ref: 'p-1' } },
    ],
    parameters: { binary_data_output: true },
  });
});

describe('reading answers', () => {
  let server: Server;
  let base: string;
  const stored = new Map<string, Uint8Array>([['/y', jsonToRaw('INT64', [1, '9007199254740993'])]]);

  beforeAll(async () => {
    // A presigned URL's stand-in: a real HTTP server that answers the stored bytes, S3's XML refusal otherwise.
    server = createServer((request, response) => {
      const bytes = stored.get(request.url ?? '');
      if (bytes) response.end(bytes);
      else
        response
          .writeHead(403, { 'content-type': 'application/xml' })
          .end('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => {
    server.close();
  });

  it('reads binary outputs in order, JSON ones, and ones by reference', async () => {
    // Prepare
    const header = {
      model_name: 'm',
      model_version: '2',
      id: 'r-1',
      parameters: { processing_time_ms: 1 },
      outputs: [
        { name: 'x', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } },
        {
          name: 'y',
          datatype: 'INT64',
          shape: [2],
          parameters: { data_url: `${base}/y`, data_bytes: 16, data_expires_at: '2026-12-01T00:00:00.000Z' },
        },
        { name: 'z', datatype: 'FP64', shape: [1, 2], data: ['NaN', '-Infinity'] },
        { name: 'w', datatype: 'BOOL', shape: [1], parameters: { binary_data_size: 1 } },
      ],
    };

    // Act
    const reply = await readInferReply(binaryAnswer(header, [jsonToRaw('FP32', [0.5, -1]), Uint8Array.of(1)]), fetch);

    // Assess
    expect(reply.header).toEqual({ model_name: 'm', model_version: '2', id: 'r-1', parameters: { processing_time_ms: 1 } });
    expect(reply.outputs.map((o) => [o.name, o.datatype, o.shape, rawToJson(o)])).toEqual([
      ['x', 'FP32', [2], [0.5, -1]],
      ['y', 'INT64', [2], [1, '9007199254740993']],
      ['z', 'FP64', [1, 2], ['NaN', '-Infinity']],
      ['w', 'BOOL', [1], [true]],
    ]);
  });

  it('reads a JSON answer', async () => {
    const response = Response.json({ model_name: 'm', outputs: [{ name: 'label', datatype: 'BYTES', shape: [2], data: ['a', 'b'] }] });

    const reply = await readInferReply(response, fetch);

    expect(rawToJson(reply.outputs[0] ?? { datatype: 'BYTES', shape: [], data: new Uint8Array() })).toEqual(['a', 'b']);
  });

  it.each([
    [
      'no header length',
      () => new Response('{}', { headers: { 'content-type': 'application/octet-stream' } }),
      /it is binary but has no Inference-Header-Content-Length header/,
    ],
    [
      'a header length past the body',
      () => binaryAnswer({ outputs: [] }, [], '99'),
      /its header is announced as 99 bytes, but the body has 14/,
    ],
    ['a header that is not JSON', () => binaryAnswer({ outputs: [] }, [], '3'), /its header is not JSON/],
    ['no outputs', () => Response.json({ error: 'x' }), /it has no "outputs" list/],
    [
      'another media type',
      () => new Response('<html>', { headers: { 'content-type': 'text/html; charset=utf-8' } }),
      /its Content-Type is "text\/html", neither/,
    ],
    [
      'an unknown datatype',
      () => Response.json({ outputs: [{ name: 'x', datatype: 'BF16', shape: [1], data: [1] }] }),
      /output "x" has the datatype "BF16", which modelctl cannot read/,
    ],
    [
      'an output without data',
      () => Response.json({ outputs: [{ name: 'x', datatype: 'FP32', shape: [1] }] }),
      /output "x" has neither data, binary_data_size nor data_url/,
    ],
    [
      'a size past the body',
      () =>
        binaryAnswer({ outputs: [{ name: 'x', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } }] }, [new Uint8Array(4)]),
      /output "x" is announced as 8 bytes, but 4 are left/,
    ],
    [
      'bytes that do not match the shape',
      () =>
        binaryAnswer({ outputs: [{ name: 'x', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 4 } }] }, [new Uint8Array(4)]),
      /output "x": FP32 data of shape \[2\] takes 8 bytes, not 4/,
    ],
    [
      'bytes after the last output',
      () =>
        binaryAnswer({ outputs: [{ name: 'x', datatype: 'UINT8', shape: [1], parameters: { binary_data_size: 1 } }] }, [new Uint8Array(3)]),
      /2 bytes follow the last output's/,
    ],
    [
      'JSON data that is not the datatype',
      () => Response.json({ outputs: [{ name: 'x', datatype: 'INT8', shape: [1], data: [300] }] }),
      /output "x": Element 0 is 300/,
    ],
  ])('refuses an answer with %s', async (_name, answer, message) => {
    expect(await refusal(answer())).toMatch(/^The inference answer cannot be read: /);
    expect(await refusal(answer())).toMatch(message);
  });

  it('says when an output by reference cannot be downloaded, or is not the size announced', async () => {
    // Prepare
    const output = (url: string, size: number) =>
      Response.json({ outputs: [{ name: 'y', datatype: 'INT64', shape: [2], parameters: { data_url: url, data_bytes: size } }] });

    // Act / Assess
    expect(await refusal(output(`${base}/expired`, 16))).toBe(
      'The download of output "y" was refused: 403 AccessDenied: Request has expired',
    );
    expect(await refusal(output(`${base}/y`, 24))).toMatch(/output "y" is announced as 24 bytes; its download has 16/);
  });
});

it('names output files safely: never outside the folder, never twice (whatever the case)', () => {
  expect(outputFileNames(['probabilities', 'label', '../../etc/passwd', 'a/b', 'A/B', '..', '', 'x:0', 'Label'])).toEqual([
    'probabilities.npy',
    'label.npy',
    '.._.._etc_passwd.npy',
    'a_b.npy',
    'A_B-2.npy',
    'output_.npy',
    'output.npy',
    'x_0.npy',
    'Label-2.npy',
  ]);
});

it('summarizes each output: datatype, shape, first values, the file it went to', () => {
  // Prepare
  const reply = {
    header: { model_name: 'seg', model_version: '3', id: 'req-1' },
    outputs: [
      { name: 'mask', datatype: 'FP32' as const, shape: [1, 10], data: jsonToRaw('FP32', [0.1, 0.2, 'NaN', 1, 2, 3, 4, 5, 6, 7]) },
      { name: 'label', datatype: 'BYTES' as const, shape: [1], data: jsonToRaw('BYTES', ['cat\n']) },
    ],
  };

  // Act
  const text = inferSummary(reply, ['out/mask.npy', 'out/label.npy']);

  // Assess
  expect(text).toBe(
    [
      'seg v3 (request req-1)',
      '  mask   FP32   [1, 10]  0.1, 0.2, NaN, 1, 2, 3, 4, 5, …  -> out/mask.npy',
      '  label  BYTES  [1]      "cat\\n"  -> out/label.npy',
      '',
    ].join('\n'),
  );
});

describe('checkAgainstMetadata: what the model would refuse, found before an upload', () => {
  const metadata = {
    inputs: [{ name: 'image', datatype: 'FP32', shape: [-1, 3, -1, -1] }],
    parameters: { max_rows: 1000 },
  };
  const input = (datatype: 'FP32' | 'FP64', rows: number): InferInput => ({
    name: 'image',
    tensor: { datatype, shape: [rows, 3, 2, 2], data: new Uint8Array(rows * 12 * (datatype === 'FP32' ? 4 : 8)) },
  });

  it('passes inputs the metadata allows', () => {
    expect(() => checkAgainstMetadata([input('FP32', 1000)], metadata)).not.toThrow();
  });

  it('refuses more rows than max_rows, an undeclared input, and float64 for a float32 input with the NumPy hint', () => {
    expect(() => checkAgainstMetadata([input('FP32', 1001)], metadata)).toThrow(/1001 rows; this endpoint takes at most 1000/);
    expect(() => checkAgainstMetadata([{ ...input('FP32', 1), name: 'pixels' }], metadata)).toThrow(/no input "pixels"/);
    expect(() => checkAgainstMetadata([input('FP64', 1)], metadata)).toThrow(/astype\('float32'\)/);
  });
});
