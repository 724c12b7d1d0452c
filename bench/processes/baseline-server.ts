/**
 * Child process: the minimal server a user might write instead of ours, the HTTP baseline.
 * Plain node:http and onnxruntime-node with the product's session options: read the body, take
 * the named features in order, one `session.run`, answer the label and probabilities. No
 * validation, no auth, no logging, no request ids.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as ort from 'onnxruntime-node';
import { memoryFigures, serveRunner } from '../lib/children.js';
import { benchModel, rawSession, type ModelId } from '../lib/models.js';

const model = benchModel((process.env.BENCH_MODEL ?? 'iris') as ModelId);
const labels = model.metadata.classLabels as readonly string[];
const session = await rawSession(model);

const server = http.createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const { features } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { features: Record<string, number> };
    const data = Float32Array.from(model.features, (name) => features[name] ?? 0);
    session
      .run({ [model.inputName]: new ort.Tensor('float32', data, [1, data.length]) })
      .then((outputs) => {
        const probabilities = Array.from(outputs.probabilities?.data as Float32Array);
        const best = probabilities.indexOf(Math.max(...probabilities));
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ label: labels[best], probabilities }));
      })
      .catch(() => {
        response.writeHead(500);
        response.end();
      });
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

serveRunner(
  { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/predict` },
  { memory: () => memoryFigures() },
  () => new Promise<void>((resolve) => server.close(() => resolve())),
);
