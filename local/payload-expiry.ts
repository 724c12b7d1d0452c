/**
 * The payload bucket's lifecycle rule, for the embedded S3 server that has none: objects older
 * than `PAYLOAD_RETENTION_DAYS` (1 day; `lib/payload-bucket.ts` sets the same rule on AWS) are
 * deleted when the local stack starts, so `npm start`'s data folder does not
 * keep every uploaded tensor and offloaded output for ever.
 */
import { DeleteObjectCommand, ListObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import { PAYLOAD_RETENTION_DAYS } from '../functions/core/payload-keys.js';

const DAY_MS = 86_400_000;

/**
 * Deletes the objects of `bucket` last modified more than `PAYLOAD_RETENTION_DAYS` before `now`
 * (epoch ms). Pages with ListObjects v1 markers (the embedded server's continuation tokens of v2
 * do not page). Returns how many were deleted.
 */
export async function expirePayloads(s3: S3Client, bucket: string, now: number = Date.now()): Promise<number> {
  const cutoff = now - PAYLOAD_RETENTION_DAYS * DAY_MS;
  let deleted = 0;
  let marker: string | undefined;
  for (;;) {
    const page = await s3.send(new ListObjectsCommand({ Bucket: bucket, ...(marker ? { Marker: marker } : {}) }));
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
