/**
 * S3 implementations of the drift ports:
 *
 * - {@link S3ReferenceProfileStore}: a version's reference profile as JSON beside the model's
 *   artifacts, `profiles/<model>/<version>.json` in the artifact bucket (a profile holds up to a
 *   thousand sorted values per feature: too large for the version's registry item).
 * - {@link S3DriftReportStore}: every run's report at `drift/<model>/<createdAt>.json` in the
 *   capture bucket (the history, kept as long as the bucket's lifecycle rule says), and the newest
 *   again at `drift/<model>/versions/<version>/latest.json` and `drift/<model>/latest.json`,
 *   which `GET /v1/models/{model}/drift` reads.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { InternalError } from '../core/errors.js';
import type { DriftReportStore, ReferenceProfileStore } from '../core/ports.js';
import type { ReferenceProfile } from '../core/drift/profile.js';
import type { StoredDriftReport } from '../core/drift/service.js';

export interface S3StoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
}

/** The key of a version's reference profile in the artifact bucket. */
export function profileKey(model: string, version: string): string {
  return `profiles/${model}/${version}.json`;
}

/** The keys of a model's drift reports in the capture bucket. */
export const DRIFT_KEYS = {
  latest: (model: string) => `drift/${model}/latest.json`,
  versionLatest: (model: string, version: string) => `drift/${model}/versions/${version}/latest.json`,
  run: (model: string, createdAt: string) => `drift/${model}/${createdAt.replace(/[-:.]/g, '')}.json`,
};

export class S3ReferenceProfileStore implements ReferenceProfileStore {
  constructor(private readonly options: S3StoreOptions) {}

  async get(model: string, version: string): Promise<ReferenceProfile | undefined> {
    return readJson<ReferenceProfile>(this.options, profileKey(model, version));
  }

  async put(model: string, version: string, profile: ReferenceProfile): Promise<void> {
    await writeJson(this.options, profileKey(model, version), profile);
  }
}

export class S3DriftReportStore implements DriftReportStore {
  constructor(private readonly options: S3StoreOptions) {}

  async put(report: StoredDriftReport): Promise<void> {
    await writeJson(this.options, DRIFT_KEYS.run(report.model, report.createdAt), report);
    await writeJson(this.options, DRIFT_KEYS.versionLatest(report.model, report.modelVersion), report);
    await writeJson(this.options, DRIFT_KEYS.latest(report.model), report);
  }

  async latest(model: string, version?: string): Promise<StoredDriftReport | undefined> {
    return readJson<StoredDriftReport>(this.options, version === undefined ? DRIFT_KEYS.latest(model) : DRIFT_KEYS.versionLatest(model, version));
  }
}

/** The object's JSON, `undefined` when there is no such object; written by these stores only. */
async function readJson<T>({ client, bucket }: S3StoreOptions, key: string): Promise<T | undefined> {
  let text: string | undefined;
  try {
    const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    text = await object.Body?.transformToString('utf-8');
  } catch (error) {
    if (error instanceof Error && (error.name === 'NoSuchKey' || error.name === 'NotFound')) return undefined;
    throw error;
  }
  try {
    return JSON.parse(text ?? '') as T;
  } catch (error) {
    throw new InternalError('STORED_OBJECT_INVALID', `s3://${bucket}/${key} is not the JSON this service wrote.`, { cause: error });
  }
}

async function writeJson({ client, bucket }: S3StoreOptions, key: string, value: unknown): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify(value), ContentType: 'application/json' }));
}
