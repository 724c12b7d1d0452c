/**
 * S3 implementation of the `CaptureReader` port: reads captured records back from the capture
 * bucket (`CAPTURE_BUCKET`), under `capture/model=<m>/version=<v>/date=<yyyy-MM-dd>/` as Firehose
 * (on AWS) or `S3CaptureDelivery` (locally) wrote them.
 *
 * Only the date partitions that overlap the window are listed; within them, objects are read
 * newest first (both writers name objects by the time they were written, so key order is time
 * order within a partition), and reading stops once `maxRecords` records in the window are held:
 * the newest records are the ones kept. Listing and reading are the batch jobs' `S3DataObjects`
 * (ListObjects v1 pages, which S3 and the embedded S3-compatible server page the same way); an
 * object the lifecycle rule removed between the two reads as empty.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { capturePrefix, parseCaptureLines, utcDays, type CaptureRecord } from '../core/capture.js';
import type { CaptureQuery, CaptureReadResult, CaptureReader } from '../core/ports.js';
import { S3DataObjects } from './s3-data.js';

export interface S3CaptureReaderOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Keys per ListObjects page. @default 1000 */
  readonly pageSize?: number;
}

export class S3CaptureReader implements CaptureReader {
  private readonly objects: S3DataObjects;

  constructor(private readonly options: S3CaptureReaderOptions) {
    this.objects = new S3DataObjects({ client: options.client, ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }) });
  }

  async read(query: CaptureQuery): Promise<CaptureReadResult> {
    const versions = [...new Set(query.versions)];
    const dates = utcDays(query.from, query.to).reverse();
    const kept: CaptureRecord[] = [];
    let invalid = 0;
    let capped = false;
    // Newest date first; within a date every version's objects, newest first. The versions come
    // from the caller (the registry knows them): listing them with a delimiter two levels up is
    // not paged the same way by every S3-compatible server.
    for (const date of dates) {
      const keys: string[] = [];
      for (const version of versions)
        keys.push(...(await this.objects.keys(this.options.bucket, capturePrefix(query.model, version, date))));
      keys.sort((a, b) => objectName(b).localeCompare(objectName(a)));
      for (const key of keys) {
        if (kept.length >= query.maxRecords) {
          capped = true;
          break;
        }
        const parsed = parseCaptureLines((await this.objects.text({ bucket: this.options.bucket, key })) ?? '');
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
}

/** The object's name within its partition (the part after the last `/`). */
function objectName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}
