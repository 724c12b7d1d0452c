/**
 * Trains the second sample model, the diabetes regressor, and writes `model.onnx`,
 * `metadata.json` and `profile.json` (the training split's reference profile, for drift
 * detection: its features, and the model's own predictions on them).
 *
 * Usage: `npx tsx scripts/train-diabetes-model.ts [--out DIR]` (default `models/diabetes`).
 * Deterministic: rerunning it reproduces the committed files byte for byte.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { trainDiabetesModel, trainingProfile } from './diabetes-model.js';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'models/diabetes' } } });
const outDir = values.out;

const csv = readFileSync(new URL('../data/diabetes.csv', import.meta.url), 'utf8');
const sample = trainDiabetesModel(csv);
const { bytes, metadata, split, train, test } = sample;

mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'model.onnx'), bytes);
writeFileSync(join(outDir, 'metadata.json'), `${JSON.stringify(metadata, null, 2)}\n`);
writeFileSync(join(outDir, 'profile.json'), `${JSON.stringify(await trainingProfile(split.train, sample), null, 2)}\n`);

const sha256 = createHash('sha256').update(bytes).digest('hex');
console.log(`held-out (${split.test.length} rows): R² ${test.r2.toFixed(4)}, RMSE ${test.rmse.toFixed(2)}, MAE ${test.mae.toFixed(2)}`);
console.log(`train (${split.train.length} rows): R² ${train.r2.toFixed(4)}`);
console.log(`wrote ${join(outDir, 'model.onnx')} (${bytes.length} bytes, sha256 ${sha256}), metadata.json and profile.json`);
