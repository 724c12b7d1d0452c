/**
 * `modelctl`: the command line for the model registry, releases and predictions, against the
 * local API (`npm start`) or a deployed one. The commands live in `bin/modelctl/`, a module per
 * group; this module is what the entry point (`modelctl-main.ts`) and the tests import.
 *
 * @example
 * modelctl register iris models/iris/model.onnx --metadata models/iris/metadata.json --production
 * modelctl predict iris --features '{"sepal_length_cm":5.1,"sepal_width_cm":3.5,"petal_length_cm":1.4,"petal_width_cm":0.2}'
 * modelctl batch run iris data/iris.csv
 * modelctl infer segmenter --input image=image.npy --output-dir out/
 * modelctl experiment start iris --variant control=1:50 --variant treatment=2:50 --key-header x-user-id
 */
export { resultsLocation, uploadName } from './modelctl/batch.js';
export { captureLines } from './modelctl/capture.js';
export type { CliIo } from './modelctl/common.js';
export { DRIFTED_EXIT_CODE, NOT_JUDGED_EXIT_CODE, driftTable } from './modelctl/drift.js';
export { analysisLines, experimentLines, experimentsTable, winnerLines } from './modelctl/experiment-lines.js';
export { variantArg } from './modelctl/experiments.js';
export { checkAgainstMetadata } from './modelctl/infer.js';
export {
  INLINE_MARGIN_BYTES,
  type InferInput,
  type InferOutput,
  type InferReply,
  byReference,
  inferSummary,
  outputFileNames,
  readInferReply,
  requestHeader,
} from './modelctl/infer-wire.js';
export { type JobFiles, type JobReply, jobLines, jobsTable } from './modelctl/jobs.js';
export { logLine } from './modelctl/logs.js';
export { historyTable, modelsTable, predictionsTable, versionLines, versionsTable } from './modelctl/models.js';
export { profileSummary } from './modelctl/profile.js';
export { EXIT_CODES_HELP, VERSION, modelctl } from './modelctl/program.js';
export { deploymentLines, promoteLines, statsTable } from './modelctl/releases.js';
export { replayLines } from './modelctl/replay.js';
export { shadowLines } from './modelctl/shadow.js';
export { Progress, type ProgressOptions, UPLOAD_THRESHOLD_BYTES } from './modelctl/uploads.js';
