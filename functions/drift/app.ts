/**
 * The drift function: what an endpoint's EventBridge schedules invoke (`lib/drift-schedule.ts`),
 * with a rule's constant input.
 *
 * - `{"model": "<name>"}` (hourly by default): runs drift detection for the model's production
 *   version over the default window (`DriftService.run`, trigger `schedule`), which stores the
 *   report, and emits the report's metrics, on which each model's drift alarm watches.
 * - `{"model": "<name>", "check": "canary"}` (every minute): while alias `live` routes to a canary,
 *   the distribution gate (`functions/core/drift/canary-gate.ts`) compares the canary's captured
 *   predictions with the stable version's over the last {@link CANARY_WINDOW_MINUTES} minutes and
 *   emits `CanaryPredictionShift` (1 shifted, 0 not); its alarm is one of the endpoint's CodeDeploy
 *   alarms, so a shift rolls the deployment back as errors and latency do. The reason goes into
 *   the model's history once per canary version (CodeDeploy's rollback itself records none).
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
import { canaryDistributionVerdict, shiftReason, type CanaryGateDeps } from '../core/drift/canary-gate.js';

/** The distribution gate's check of the model's canary, if alias `live` routes to one. */
async function canaryCheck(deps: DriftHandlerDeps, model: string): Promise<DriftRunOutcome> {
  const canary = deps.canary;
  if (!canary) return { status: 'skipped', model, reason: 'this deployment has no canary check (no endpoints to read)' };
  const routing = await canary.routing(model);
  if (routing.canary === undefined) return { status: 'skipped', model, reason: 'alias live routes to no canary' };
  const since = (canary.now ?? Date.now)() - CANARY_WINDOW_MINUTES * 60_000;
  const verdict = await canaryDistributionVerdict(canary.gate, {
    model,
    stableVersion: routing.stable,
    canaryVersion: routing.canary,
    since,
  });
  if (!verdict)
    return { status: 'skipped', model, reason: "capture is off for this model, so the canary's predictions cannot be compared" };
  const shifted = verdict.judged && verdict.shifted;
  canary.emit(model, shifted);
  const reason = shifted ? shiftReason(verdict) : verdict.reason;
  if (shifted && reason) {
    deps.log('WARN', 'canary predictions shifted', { model, canaryVersion: routing.canary, reason });
    await canary.record(model, routing.canary, reason);
  }
  return { status: 'canary-checked', model, canaryVersion: routing.canary, judged: verdict.judged, shifted, ...(reason ? { reason } : {}) };
}

/** The window the canary check compares: the last 30 minutes of both versions' captured requests. */
export const CANARY_WINDOW_MINUTES = 30;

export interface DriftHandlerDeps {
  readonly drift: Pick<DriftService, 'run'>;
  readonly registry: Pick<ModelRegistry, 'getModel'>;
  /** Emits the report's metrics (EMF on Lambda). */
  readonly emit: (report: StoredDriftReport) => void;
  /** The canary check's parts; without them a canary check is skipped. */
  readonly canary?: {
    /** The model versions alias `live` routes to: the stable one (`undefined`: the production version) and the canary, if any. */
    readonly routing: (model: string) => Promise<{ readonly stable: string | undefined; readonly canary: string | undefined }>;
    readonly gate: CanaryGateDeps;
    /** Emits `CanaryPredictionShift` for the model (1 or 0). */
    readonly emit: (model: string, shifted: boolean) => void;
    /** Records the reason in the model's history for the canary version (once per version). */
    readonly record: (model: string, canaryVersion: string, reason: string) => Promise<void>;
    /** @default Date.now */
    readonly now?: () => number;
  };
  readonly log: (level: 'INFO' | 'WARN', message: string, fields: Record<string, unknown>) => void;
}

/** What one invocation did. */
export type DriftRunOutcome =
  | {
      readonly status: 'canary-checked';
      readonly model: string;
      readonly canaryVersion: string;
      readonly judged: boolean;
      readonly shifted: boolean;
      readonly reason?: string;
    }
  | {
      readonly status: 'reported';
      readonly model: string;
      readonly modelVersion: string;
      readonly drifted: boolean;
      readonly driftedFeatures: number;
      readonly driftedPredictions: number;
      readonly records: number;
    }
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
    const check = (event as { check?: unknown }).check;
    if (check === 'canary') return canaryCheck(deps, model);
    const record = await deps.registry.getModel(model);
    if (!record?.capture) {
      const reason = record
        ? 'capture is off for this model (PUT /v1/models/{model}/capture turns it on)'
        : 'no such model in the registry';
      deps.log('INFO', 'drift run skipped', { model, reason });
      return { status: 'skipped', model, reason };
    }
    try {
      const report = await deps.drift.run(model, { trigger: 'schedule' });
      deps.emit(report);
      const { driftedFeatures, driftedPredictions } = report.totals;
      deps.log(report.drifted ? 'WARN' : 'INFO', report.drifted ? 'drift detected' : 'no drift', {
        model,
        modelVersion: report.modelVersion,
        driftedFeatures,
        driftedPredictions,
        records: report.records,
        drifted: report.results.filter((r) => r.drifted).map((r) => r.name),
      });
      return {
        status: 'reported',
        model,
        modelVersion: report.modelVersion,
        drifted: report.drifted,
        driftedFeatures,
        driftedPredictions,
        records: report.records,
      };
    } catch (error) {
      if (error instanceof AppError && (error.code === 'NO_REFERENCE_PROFILE' || error.code === 'NO_PRODUCTION_VERSION')) {
        deps.log('WARN', 'drift run skipped', { model, reason: error.message });
        return { status: 'skipped', model, reason: error.message };
      }
      throw error;
    }
  };
}
