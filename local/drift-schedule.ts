/**
 * The drift schedule of `npm start`: what an EventBridge rule per endpoint does on AWS
 * (`lib/drift-schedule.ts`), as a timer. Every `intervalMs` it runs drift detection
 * (`DriftService.run`, trigger `schedule`) for each model that has capture on, after writing the
 * captured records queued so far; the report is stored as on AWS and served by
 * `GET /v1/models/{model}/drift`. A model whose version has no reference profile is skipped (said
 * once per model and version); any other failure is reported and the next tick tries again.
 */
import { AppError } from '../functions/core/errors.js';
import type { DriftService, StoredDriftReport } from '../functions/core/drift/service.js';
import type { ModelRegistry } from '../functions/core/ports.js';

export interface LocalDriftScheduleOptions {
  readonly drift: DriftService;
  readonly registry: Pick<ModelRegistry, 'listModels'>;
  /** Writes the queued captured records of every emulated function version. */
  readonly flush: () => Promise<void>;
  /** ms between runs. */
  readonly intervalMs: number;
  /** Where the schedule says what it did. @default stderr */
  readonly say?: (line: string) => void;
}

export class LocalDriftSchedule {
  private timer: ReturnType<typeof setInterval> | undefined;
  private running: Promise<void> | undefined;
  private readonly skipped = new Set<string>();
  private readonly say: (line: string) => void;

  constructor(private readonly options: LocalDriftScheduleOptions) {
    this.say = options.say ?? ((line) => process.stderr.write(`${line}\n`));
  }

  start(): void {
    if (this.timer || this.options.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.tick().catch((error: unknown) => this.failed(error)), this.options.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a run in progress. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /**
   * A pass that could not start (the captured records not written, the models not listed: the
   * local DynamoDB or S3 server gone, say) is reported; the next tick tries again, and the process
   * goes on serving.
   */
  private failed(error: unknown): void {
    this.say(
      `drift: the scheduled pass failed and is tried again at the next tick: ${error instanceof Error ? error.message.slice(0, 300) : String(error)}`,
    );
  }

  /**
   * One scheduled pass over the models with capture on (what a tick runs); resolves to the reports
   * made. A failure for one model is reported and the pass goes on; a failure to write the queued
   * records or to list the models rejects.
   */
  async tick(): Promise<StoredDriftReport[]> {
    if (this.running) return [];
    const reports: StoredDriftReport[] = [];
    const run = (async () => {
      await this.options.flush();
      for (const model of await this.options.registry.listModels()) {
        if (!model.capture || model.productionVersion === undefined) continue;
        try {
          const report = await this.options.drift.run(model.model, { trigger: 'schedule' });
          reports.push(report);
          if (report.drifted) {
            const names = report.results
              .filter((r) => r.drifted)
              .map((r) => r.name)
              .join(', ');
            this.say(
              `drift: model ${model.model} version ${report.modelVersion} drifted (${names}); GET /v1/models/${model.model}/drift has the report`,
            );
          }
        } catch (error) {
          const key = `${model.model}@${model.productionVersion}`;
          if (error instanceof AppError && error.code === 'NO_REFERENCE_PROFILE') {
            if (!this.skipped.has(key))
              this.say(
                `drift: model ${model.model} version ${model.productionVersion} has no reference profile; its scheduled drift runs are skipped until one is uploaded`,
              );
            this.skipped.add(key);
            continue;
          }
          this.say(
            `drift: the scheduled run for model ${model.model} failed: ${error instanceof Error ? error.message.slice(0, 300) : String(error)}`,
          );
        }
      }
    })();
    this.running = run.finally(() => {
      this.running = undefined;
    });
    await this.running;
    return reports;
  }
}
