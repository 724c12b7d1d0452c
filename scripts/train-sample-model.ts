/**
 * Trains the sample iris model and writes `model.onnx`, `metadata.json` and `profile.json` (the
 * training split's reference profile, for drift detection: its features, and the model's own
 * predictions on it).
 *
 * Usage: `npm run train:sample [-- --out DIR]` (default `models/iris`). Deterministic: rerunning
 * it reproduces the committed files byte for byte.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { trainSampleModel, trainingProfile } from './sample-model.js';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'models/iris' } } });
const outDir = values.out;

const csv = readFileSync(new URL('../data/iris.csv', import.meta.url), 'utf8');
const sample = trainSampleModel(csv);
const { bytes, metadata, split, trainAccuracy, testAccuracy } = sample;

mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'model.onnx'), bytes);
writeFileSync(join(outDir, 'metadata.json'), `${JSON.stringify(metadata, null, 2)}\n`);
writeFileSync(join(outDir, 'profile.json'), `${JSON.stringify(await trainingProfile(split.train, sample), null, 2)}\n`);

const sha256 = createHash('sha256').update(bytes).digest('hex');
console.log(`accuracy: ${testAccuracy.toFixed(4)} held-out, ${trainAccuracy.toFixed(4)} train`);
console.log(`wrote ${join(outDir, 'model.onnx')} (${bytes.length} bytes, sha256 ${sha256}), metadata.json and profile.json`);
