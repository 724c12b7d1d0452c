/**
 * The registry's items read back as domain types (`ModelRecord`, `ModelVersion`,
 * `StageTransition`), checked field by field: an item missing a field or holding one of the wrong
 * type is an `InternalError('REGISTRY_ITEM_INVALID')` naming the item and the field, never a
 * half-filled object. The maps (metadata, artifact, signature, capture, experiment, shadow) are
 * written from the domain types by the adapters and read back as they were. Also how a version
 * string names a stored version (`parseVersion`).
 */
import { InternalError } from '../core/errors.js';
import {
  STAGES,
  type ArtifactSource,
  type CaptureSettings,
  type ModelMetadata,
  type ModelRecord,
  type ModelVersion,
  type Stage,
  type StageTransition,
} from '../core/model.js';
import type { ActiveExperiment } from '../core/experiments/experiment.js';
import type { ActiveShadow } from '../core/shadow/shadow.js';
import { REGISTRY_KEYS } from './tables.js';

/** An item as the document client returns it: attribute values of unknown type. */
export type Item = Record<string, unknown>;

/** `"42"` → 42; anything that cannot name a stored version → undefined. */
export function parseVersion(version: string): number | undefined {
  if (!/^[1-9][0-9]*$/.test(version) || version.length > REGISTRY_KEYS.versionDigits) return undefined;
  return Number(version);
}

export function toModelRecord(item: Item): ModelRecord {
  const productionVersion = item.productionVersion;
  return {
    model: stringField(item, 'model'),
    ...(typeof productionVersion === 'string' ? { productionVersion } : {}),
    latestVersion: numberField(item, 'latestVersion'),
    revision: numberField(item, 'revision'),
    updatedAt: stringField(item, 'updatedAt'),
    updatedBy: stringField(item, 'updatedBy'),
    // Written from the domain type by `setCapture` and read back as it was.
    ...(item.capture === undefined ? {} : { capture: mapField(item, 'capture') as unknown as CaptureSettings }),
    // Written by the experiment store (`dynamodb-experiments.ts`) from the domain types.
    ...(item.experiment === undefined ? {} : { experiment: mapField(item, 'experiment') as unknown as ActiveExperiment }),
    ...(item.shadow === undefined ? {} : { shadow: mapField(item, 'shadow') as unknown as ActiveShadow }),
  };
}

export function toModelVersion(item: Item): ModelVersion {
  const stage = stringField(item, 'stage');
  if (!isStage(stage)) throw corrupt(item, 'stage');
  return {
    model: stringField(item, 'model'),
    version: stringField(item, 'version'),
    stage,
    revision: numberField(item, 'revision'),
    // The maps are written from these domain types by this adapter and read back as they were.
    metadata: mapField(item, 'metadata') as ModelMetadata,
    artifact: mapField(item, 'artifact') as unknown as ModelVersion['artifact'],
    signature: mapField(item, 'signature') as unknown as ModelVersion['signature'],
    registeredBy: stringField(item, 'registeredBy'),
    registeredAt: stringField(item, 'registeredAt'),
    ...(item.source === undefined ? {} : { source: mapField(item, 'source') as unknown as ArtifactSource }),
  };
}

export function toStageTransition(item: Item): StageTransition {
  const from = stringField(item, 'from');
  const to = stringField(item, 'to');
  if (!isStage(from)) throw corrupt(item, 'from');
  if (!isStage(to)) throw corrupt(item, 'to');
  const reason = item.reason;
  return {
    model: stringField(item, 'model'),
    version: stringField(item, 'version'),
    from,
    to,
    revision: numberField(item, 'revision'),
    actor: stringField(item, 'actor'),
    at: stringField(item, 'at'),
    ...(typeof reason === 'string' ? { reason } : {}),
  };
}

function isStage(value: string): value is Stage {
  return (STAGES as readonly string[]).includes(value);
}

export function stringField(item: Item, name: string): string {
  const value = item[name];
  if (typeof value !== 'string') throw corrupt(item, name);
  return value;
}

function numberField(item: Item, name: string): number {
  const value = item[name];
  if (typeof value !== 'number') throw corrupt(item, name);
  return value;
}

function mapField(item: Item, name: string): Item {
  const value = item[name];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt(item, name);
  return value as Item;
}

export function corrupt(item: Item, field: string): InternalError {
  return new InternalError('REGISTRY_ITEM_INVALID', `Registry item ${String(item.pk)} / ${String(item.sk)} has no valid "${field}".`);
}
