/**
 * Cold-start limit, run by plain Node in a fresh process: ONNX Runtime (from the layer) reads the
 * model from local disk, creates a session and runs one row. Nothing else: no registry, no
 * download, no checks, no HTTP edge. Prints its phases in ms since the process started.
 */
import { readFile } from 'node:fs/promises';

const started = performance.now();
const ort = await import('onnxruntime-node');
const runtimeLoaded = performance.now();
const bytes = await readFile(process.env.BENCH_MODEL_FILE ?? '');
const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: Number(process.env.BENCH_THREADS ?? 1) });
const created = performance.now();
const row = JSON.parse(process.env.BENCH_ROW ?? '[]') as number[];
const inputName = session.inputNames[0] ?? '';
await session.run({ [inputName]: new ort.Tensor('float32', Float32Array.from(row), [1, row.length]) });
const done = performance.now();
process.stdout.write(
  `${JSON.stringify({ total: done, bootstrap: started, runtimeLoad: runtimeLoaded - started, sessionCreate: created - runtimeLoaded })}\n`,
);
process.exit(0);
