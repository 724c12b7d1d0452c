/**
 * Lifecycle rules, for the embedded S3 server that has none, run when the local stack starts: the
 * payload bucket's objects older than `PAYLOAD_RETENTION_DAYS` (1 day; `lib/payload-bucket.ts`
 * sets the same rule on AWS), and captured records older than the capture retention
 * (`CAPTURE_RETENTION_DAYS`), so `npm start`'s data folder does not keep them for ever.
 */
import { DeleteObjectCommand, ListObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import { PAYLOAD_RETENTION_DAYS } from '../functions/core/payload-keys.js';

const DAY_MS = 86_400_000;

/**
 * Deletes the objects of `bucket` last modified more than `PAYLOAD_RETENTION_DAYS` before `now`
 * (epoch ms). Pages with ListObjects v1 markers (the embedded server's continuation tokens of v2
 * do not page). Returns how many were deleted.
 */
export function expirePayloads(s3: S3Client, bucket: string, now: number = Date.now()): Promise<number> {
  return expireObjects(s3, bucket, PAYLOAD_RETENTION_DAYS, now);
}

/**
 * Deletes the objects of `bucket` (under `prefix`) last modified more than `days` days before
 * `now` (epoch ms): an S3 lifecycle expiration rule, run once. Returns how many were deleted.
 */
export async function expireObjects(
  s3: S3Client,
  bucket: string,
  days: number,
  now: number = Date.now(),
  prefix?: string,
): Promise<number> {
  const cutoff = now - days * DAY_MS;
  let deleted = 0;
  let marker: string | undefined;
  for (;;) {
    const page = await s3.send(
      new ListObjectsCommand({ Bucket: bucket, ...(prefix ? { Prefix: prefix } : {}), ...(marker ? { Marker: marker } : {}) }),
    );
    const objects = page.Contents ?? [];
    for (const object of objects) {
      if (object.Key && object.LastModified && object.LastModified.getTime() < cutoff) {
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key }));
        deleted++;
      }
    }
    if (!page.IsTruncated || objects.length === 0) return deleted;
    marker = objects[objects.length - 1]?.Key;
  }
}
