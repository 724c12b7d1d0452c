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
import type { S3Client } from '@aws-sdk/client-s3';
import { InternalError } from '../core/errors.js';
import type { DriftReportStore, ReferenceProfileStore } from '../core/ports.js';
import type { ReferenceProfile } from '../core/drift/profile.js';
import type { StoredDriftReport } from '../core/drift/service.js';
import { S3DataObjects } from './s3-data.js';

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

/** JSON objects in one bucket, written and read by these stores only. */
class JsonObjects {
  private readonly objects: S3DataObjects;

  constructor(
    private readonly bucket: string,
    client: S3Client,
  ) {
    this.objects = new S3DataObjects({ client });
  }

  /** The object's JSON, `undefined` when there is no such object. */
  async read<T>(key: string): Promise<T | undefined> {
    const text = await this.objects.text({ bucket: this.bucket, key });
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new InternalError('STORED_OBJECT_INVALID', `s3://${this.bucket}/${key} is not the JSON this service wrote.`, { cause: error });
    }
  }

  async write(key: string, value: unknown): Promise<void> {
    await this.objects.put({ bucket: this.bucket, key }, JSON.stringify(value), 'application/json');
  }
}

export class S3ReferenceProfileStore implements ReferenceProfileStore {
  private readonly json: JsonObjects;

  constructor(options: S3StoreOptions) {
    this.json = new JsonObjects(options.bucket, options.client);
  }

  async get(model: string, version: string): Promise<ReferenceProfile | undefined> {
    return this.json.read<ReferenceProfile>(profileKey(model, version));
  }

  async put(model: string, version: string, profile: ReferenceProfile): Promise<void> {
    await this.json.write(profileKey(model, version), profile);
  }
}

export class S3DriftReportStore implements DriftReportStore {
  private readonly json: JsonObjects;

  constructor(options: S3StoreOptions) {
    this.json = new JsonObjects(options.bucket, options.client);
  }

  async put(report: StoredDriftReport): Promise<void> {
    await this.json.write(DRIFT_KEYS.run(report.model, report.createdAt), report);
    await this.json.write(DRIFT_KEYS.versionLatest(report.model, report.modelVersion), report);
    await this.json.write(DRIFT_KEYS.latest(report.model), report);
  }

  async latest(model: string, version?: string): Promise<StoredDriftReport | undefined> {
    return this.json.read<StoredDriftReport>(version === undefined ? DRIFT_KEYS.latest(model) : DRIFT_KEYS.versionLatest(model, version));
  }
}
