/**
 * S3 implementation of the `CaptureReader` port: reads captured records back from the capture
 * bucket (`CAPTURE_BUCKET`), under `capture/model=<m>/version=<v>/date=<yyyy-MM-dd>/` as Firehose
 * (on AWS) or `S3CaptureDelivery` (locally) wrote them.
 *
 * Only the date partitions that overlap the window are listed; within them, objects are read
 * newest first (both writers name objects by the time they were written, so key order is time
 * order within a partition), and reading stops once `maxRecords` records in the window are held:
 * the newest records are the ones kept. Listing uses ListObjects (v1) with markers, which S3 and
 * the embedded S3-compatible server both page the same way.
 */
import { GetObjectCommand, ListObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import { capturePrefix, parseCaptureLines, type CaptureRecord } from '../core/capture.js';
import type { CaptureQuery, CaptureReadResult, CaptureReader } from '../core/ports.js';

export interface S3CaptureReaderOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Keys per ListObjects page. @default 1000 */
  readonly pageSize?: number;
}

const DAY_MS = 86_400_000;

export class S3CaptureReader implements CaptureReader {
  constructor(private readonly options: S3CaptureReaderOptions) {}

  async read(query: CaptureQuery): Promise<CaptureReadResult> {
    const versions = [...new Set(query.versions)];
    const dates = datesBetween(query.from, query.to).reverse();
    const kept: CaptureRecord[] = [];
    let invalid = 0;
    let capped = false;
    // Newest date first; within a date every version's objects, newest first. The versions come
    // from the caller (the registry knows them): listing them with a delimiter two levels up is
    // not paged the same way by every S3-compatible server.
    for (const date of dates) {
      const keys: string[] = [];
      for (const version of versions) keys.push(...(await this.keys(capturePrefix(query.model, version, date))));
      keys.sort((a, b) => objectName(b).localeCompare(objectName(a)));
      for (const key of keys) {
        if (kept.length >= query.maxRecords) {
          capped = true;
          break;
        }
        const parsed = parseCaptureLines(await this.text(key));
        invalid += parsed.invalid;
        for (const record of parsed.records) {
          if (record.model === query.model && record.timestamp >= query.from && record.timestamp < query.to) kept.push(record);
        }
      }
      if (capped) break;
    }
    kept.sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
    if (kept.length > query.maxRecords) capped = true;
    return { records: kept.slice(Math.max(0, kept.length - query.maxRecords)), invalid, capped };
  }

  private async keys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = await this.options.client.send(new ListObjectsCommand({ Bucket: this.options.bucket, Prefix: prefix, MaxKeys: this.options.pageSize ?? 1000, ...(marker ? { Marker: marker } : {}) }));
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      const last = page.Contents?.at(-1)?.Key;
      if (!page.IsTruncated || !last || last === marker) return keys;
      marker = page.NextMarker ?? last;
    }
  }

  private async text(key: string): Promise<string> {
    const object = await this.options.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: key }));
    return (await object.Body?.transformToString('utf-8')) ?? '';
  }
}

/** The object's name within its partition (the part after the last `/`). */
function objectName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** The UTC dates (`yyyy-MM-dd`) from `from`'s to `to`'s, oldest first. */
export function datesBetween(from: string, to: string): string[] {
  const start = Date.parse(`${from.slice(0, 10)}T00:00:00.000Z`);
  const end = Date.parse(to);
  const dates: string[] = [];
  for (let day = start; day <= end && dates.length <= 3660; day += DAY_MS) dates.push(new Date(day).toISOString().slice(0, 10));
  return dates;
}
