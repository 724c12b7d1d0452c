/**
 * The canary gate on the model, not just the infrastructure (issue 13, item 4): during a release,
 * the canary's prediction distribution is compared with the stable version's on the same window
 * (the captured requests of each since the release started), and a shift past the threshold is a
 * failure signal for the release, as errors and latency are. The comparison is `canaryShift`
 * (`report.ts`): per prediction column (`predictions.ts`), PSI with the chi-squared or KS test,
 * judged once each side has `minRows` rows. It needs the model's data capture on: without
 * captured requests there is nothing to compare, and the gate stays silent.
 */
import type { CaptureReader, ModelRegistry } from '../ports.js';
import { RELEASE_MONITOR, recordStagingEntry } from '../release.js';
import { liveColumns } from './service.js';
import { canaryShift, type CanaryShiftOptions, type CanaryShiftVerdict } from './report.js';

export interface CanaryGateDeps {
  readonly registry: Pick<ModelRegistry, 'getModel' | 'getVersion'>;
  readonly capture: CaptureReader;
  /** Writes captured requests still queued (locally, every emulated version's) before reading. */
  readonly flush?: () => Promise<void>;
  readonly options?: Omit<CanaryShiftOptions, 'stableVersion' | 'canaryVersion'>;
  /** Most captured requests read per side (the newest). @default 5000 */
  readonly maxRecords?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export interface CanaryGateCheck {
  readonly model: string;
  /** The stable side's model version; `undefined` for the one the registry calls production. */
  readonly stableVersion: string | undefined;
  readonly canaryVersion: string;
  /** Epoch ms the release started: the window's beginning. */
  readonly since: number;
}

/**
 * The verdict on the canary's predictions, or `undefined` when nothing can be judged (capture is
 * off, the stable version is unknown).
 */
export async function canaryDistributionVerdict(deps: CanaryGateDeps, check: CanaryGateCheck): Promise<CanaryShiftVerdict | undefined> {
  const record = await deps.registry.getModel(check.model);
  if (!record?.capture) return undefined;
  const stableVersion = check.stableVersion ?? record.productionVersion;
  if (stableVersion === undefined || stableVersion === check.canaryVersion) return undefined;
  const [stable, canary] = await Promise.all([
    deps.registry.getVersion(check.model, stableVersion),
    deps.registry.getVersion(check.model, check.canaryVersion),
  ]);
  if (!stable || !canary) return undefined;
  await deps.flush?.();
  const from = new Date(check.since).toISOString();
  const to = new Date((deps.now ?? Date.now)() + 1_000).toISOString();
  const maxRecords = deps.maxRecords ?? 5_000;
  const [stableRecords, canaryRecords] = await Promise.all([
    deps.capture.read({ model: check.model, versions: [stableVersion], from, to, maxRecords }),
    deps.capture.read({ model: check.model, versions: [check.canaryVersion], from, to, maxRecords }),
  ]);
  // Each side's columns through its own signature and labels.
  const stableColumns = liveColumns(stableRecords.records, stable).predictions;
  const canaryColumns = liveColumns(canaryRecords.records, canary).predictions;
  return canaryShift(stableColumns, canaryColumns, { ...deps.options, stableVersion, canaryVersion: check.canaryVersion });
}

/** Why the release must roll back on its canary's predictions; `undefined` while it may go on. */
export async function canaryDistributionFailure(deps: CanaryGateDeps, check: CanaryGateCheck): Promise<string | undefined> {
  const verdict = await canaryDistributionVerdict(deps, check);
  if (!verdict?.judged || !verdict.shifted) return undefined;
  return shiftReason(verdict);
}

/** The failure reason of a shifted verdict, as the history records it. */
export function shiftReason(verdict: CanaryShiftVerdict): string {
  return `the canary's predictions shifted from the stable version's (distribution gate): ${verdict.reason ?? 'a prediction column shifted'}`;
}

/**
 * Records in the model's history that the distribution gate found the canary's predictions
 * shifted: a staging → staging entry of the canary's version carrying the reason, as a rollback
 * is recorded. Once per version: nothing is written when its newest entry already says so, or
 * when the version is no longer in staging.
 */
export async function recordCanaryShift(
  registry: Pick<ModelRegistry, 'getVersion' | 'listHistory' | 'applyTransition'>,
  model: string,
  canaryVersion: string,
  reason: string,
  at: Date = new Date(),
): Promise<boolean> {
  const version = await registry.getVersion(model, canaryVersion);
  if (version?.stage !== 'staging') return false;
  const last = (await registry.listHistory(model)).filter((h) => h.version === canaryVersion).at(-1);
  if (last?.actor === RELEASE_MONITOR && last.reason?.includes('(distribution gate)')) return false;
  await recordStagingEntry(registry, version, RELEASE_MONITOR, `canary rolled back by its CanaryPredictionShift alarm: ${reason}`, at);
  return true;
}
