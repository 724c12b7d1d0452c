/**
 * The replay's agreement report, written by the workflow's assemble step (issue 13, item 5):
 * `comparisons.jsonl` and `errors.jsonl` (the job's outputs, once assembled) read back as streams
 * and summed by `ReplayReportBuilder` into `replay.json` in the job folder. Written before the
 * job's end is recorded, so a job seen ended has its report.
 */
import { JOB_FILES, type DataObjects, type ObjectRef, type PlanResult, type WorkflowInput } from '../batch-contract.js';
import { InternalError } from '../errors.js';
import { ReplayReportBuilder, type ReplayReport, type RequestComparison } from './compare.js';

/** What the assemble step hands the report writer. */
export interface ReplayReportInput {
  readonly job: WorkflowInput;
  readonly plan: PlanResult;
  /** The assembled outputs. */
  readonly comparisons: ObjectRef;
  readonly errors: ObjectRef;
}

/** Where a replay's report lives in its job folder. */
export function replayReportRef(job: Pick<WorkflowInput, 'output'>): ObjectRef {
  return { bucket: job.output.bucket, key: job.output.prefix + JOB_FILES.replayReport };
}

/** Reads the outputs, writes `replay.json`, and returns the report. */
export async function writeReplayReport(objects: DataObjects, input: ReplayReportInput): Promise<ReplayReport> {
  const { job, plan } = input;
  const builder = new ReplayReportBuilder();
  for await (const line of jsonLines(objects, input.comparisons)) builder.compared(line as RequestComparison & { row: number });
  for await (const line of jsonLines(objects, input.errors)) {
    const given = (line as { code?: unknown }).code;
    builder.notReplayable(typeof given === 'string' ? given : 'UNKNOWN');
  }
  const spec = job.replay;
  const found = plan.replay;
  const report = builder.report({
    jobId: job.jobId,
    model: job.model,
    targetVersion: job.version,
    sourceVersions: spec?.sourceVersions ?? [],
    window: { since: spec?.since ?? '', until: spec?.until ?? '' },
    capture: {
      inWindow: found?.inWindow ?? 0,
      replayed: found?.selected ?? 0,
      maxRequests: spec?.maxRequests ?? 0,
      capped: (found?.inWindow ?? 0) > (spec?.maxRequests ?? Number.POSITIVE_INFINITY),
      outsideWindow: found?.outside ?? 0,
      unreadableLines: found?.unreadable ?? 0,
    },
  });
  await objects.put(replayReportRef(job), `${JSON.stringify(report, null, 2)}\n`, 'application/json');
  return report;
}

/** The JSON values of a JSON Lines object, streamed (an absent object has none). */
async function* jsonLines(objects: DataObjects, ref: ObjectRef): AsyncGenerator<unknown> {
  if (!(await objects.head(ref))) return;
  const decoder = new TextDecoder('utf-8');
  let pending = '';
  const parse = (line: string): unknown => {
    try {
      return JSON.parse(line);
    } catch (error) {
      throw new InternalError(
        'STORED_OBJECT_INVALID',
        `A line of s3://${ref.bucket}/${ref.key} is not JSON; the replay's outputs were not written by its workers.`,
        { cause: error },
      );
    }
  };
  for await (const chunk of objects.stream(ref)) {
    pending += decoder.decode(chunk, { stream: true });
    let from = 0;
    for (let newline = pending.indexOf('\n'); newline >= 0; newline = pending.indexOf('\n', from)) {
      const line = pending.slice(from, newline);
      from = newline + 1;
      if (line.trim() !== '') yield parse(line);
    }
    pending = pending.slice(from);
  }
  pending += decoder.decode();
  if (pending.trim() !== '') yield parse(pending);
}
