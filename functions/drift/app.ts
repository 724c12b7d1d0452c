/**
 * The drift function: what an endpoint's EventBridge schedule invokes (`lib/data-capture.ts`),
 * with the rule's constant input `{"model": "<name>"}`. It runs drift detection for the model's
 * production version over the default window (`DriftService.run`, trigger `schedule`), which
 * stores the report, and emits the report's metrics, on which each model's drift alarm watches.
 *
 * A model with capture off, or whose production version has no reference profile, is skipped
 * with a log line, not failed: neither is transient, and an asynchronous invocation that throws is
 * retried by Lambda twice for nothing. Anything else throws (a registry or bucket outage), so
 * Lambda's retries and the function's error metric see it.
 */
import { AppError } from '../core/errors.js';
import type { DriftService, StoredDriftReport } from '../core/drift/service.js';
import type { ModelRegistry } from '../core/ports.js';
import { MODEL_NAME_PATTERN } from '../core/model.js';

export interface DriftHandlerDeps {
  readonly drift: Pick<DriftService, 'run'>;
  readonly registry: Pick<ModelRegistry, 'getModel'>;
  /** Emits the report's metrics (EMF on Lambda). */
  readonly emit: (report: StoredDriftReport) => void;
  readonly log: (level: 'INFO' | 'WARN', message: string, fields: Record<string, unknown>) => void;
}

/** What one invocation did. */
export type DriftRunOutcome =
  | { readonly status: 'reported'; readonly model: string; readonly modelVersion: string; readonly drifted: boolean; readonly driftedFeatures: number; readonly driftedPredictions: number; readonly records: number }
  | { readonly status: 'skipped'; readonly model: string; readonly reason: string };

export function makeHandler(deps: DriftHandlerDeps): (event: unknown) => Promise<DriftRunOutcome> {
  return async (event) => {
    const model = typeof event === 'object' && event !== null ? (event as { model?: unknown }).model : undefined;
    if (typeof model !== 'string' || !MODEL_NAME_PATTERN.test(model)) {
      // A schedule whose input was edited by hand: nothing to retry.
      const reason = 'the event has no valid "model" (the schedule\'s input must be {"model": "<name>"})';
      deps.log('WARN', 'drift run skipped', { reason });
      return { status: 'skipped', model: String(model).slice(0, 64), reason };
    }
    const record = await deps.registry.getModel(model);
    if (!record?.capture) {
      const reason = record ? 'capture is off for this model (PUT /v1/models/{model}/capture turns it on)' : 'no such model in the registry';
      deps.log('INFO', 'drift run skipped', { model, reason });
      return { status: 'skipped', model, reason };
    }
    try {
      const report = await deps.drift.run(model, { trigger: 'schedule' });
      deps.emit(report);
      const { driftedFeatures, driftedPredictions } = report.totals;
      deps.log(report.drifted ? 'WARN' : 'INFO', report.drifted ? 'drift detected' : 'no drift', { model, modelVersion: report.modelVersion, driftedFeatures, driftedPredictions, records: report.records, drifted: report.results.filter((r) => r.drifted).map((r) => r.name) });
      return { status: 'reported', model, modelVersion: report.modelVersion, drifted: report.drifted, driftedFeatures, driftedPredictions, records: report.records };
    } catch (error) {
      if (error instanceof AppError && (error.code === 'NO_REFERENCE_PROFILE' || error.code === 'NO_PRODUCTION_VERSION')) {
        deps.log('WARN', 'drift run skipped', { model, reason: error.message });
        return { status: 'skipped', model, reason: error.message };
      }
      throw error;
    }
  };
}
