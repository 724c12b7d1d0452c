/** The machine a run measured: what the report must state beside every figure. */
import os from 'node:os';
import type { Machine } from '../results.js';
import { onnxRuntimeVersion } from './models.js';

export function describeMachine(): Machine {
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    totalMemoryGb: Math.round((os.totalmem() / 1_073_741_824) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    arch: process.arch,
    node: process.version,
    onnxruntime: onnxRuntimeVersion(),
  };
}
