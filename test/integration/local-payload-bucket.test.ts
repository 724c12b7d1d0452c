/**
 * The local stack's payload bucket (`local/stack.ts`): `onnx-payloads` exists in the embedded S3,
 * the predict side's configuration names it (`PAYLOAD_BUCKET`, read by `payloadBucketOf`), a
 * presigned PUT under `inputs/<model>/` reaches it, and `PAYLOAD_BUCKET: ''` turns by-reference
 * payloads off, as an endpoint function deployed without the variable.
 */
import { GetObjectCommand, HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { payloadInputKey } from '../../functions/core/payload-keys.js';
import { payloadBucketOf } from '../../functions/shared/composition.js';
import { LOCAL_PAYLOAD_BUCKET, startLocalStack, type LocalStack } from '../../local/stack.js';
import { expirePayloads } from '../../local/payload-expiry.js';

describe('with the default configuration', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startLocalStack({ seedSampleModel: false });
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it("expires payloads as the bucket's lifecycle rule does: kept within a day, deleted after", async () => {
    // Prepare: two objects written now
    const keys = [payloadInputKey('iris', '00000000-0000-4000-8000-000000000001'), 'outputs/iris/r-1/y'];
    for (const key of keys) await stack.clients.s3.send(new PutObjectCommand({ Bucket: LOCAL_PAYLOAD_BUCKET, Key: key, Body: 'x' }));
    const exists = async (key: string) =>
      stack.clients.s3.send(new GetObjectCommand({ Bucket: LOCAL_PAYLOAD_BUCKET, Key: key })).then(
        () => true,
        () => false,
      );

    // Act / Assess: an hour later both stay; a day and a minute later both go
    expect(await expirePayloads(stack.clients.s3, LOCAL_PAYLOAD_BUCKET, Date.now() + 3_600_000)).toBe(0);
    expect(await Promise.all(keys.map(exists))).toEqual([true, true]);
    expect(await expirePayloads(stack.clients.s3, LOCAL_PAYLOAD_BUCKET, Date.now() + 86_460_000)).toBe(2);
    expect(await Promise.all(keys.map(exists))).toEqual([false, false]);
  });

  it('creates onnx-payloads and names it in PAYLOAD_BUCKET', async () => {
    expect(LOCAL_PAYLOAD_BUCKET).toBe('onnx-payloads');
    expect(stack.config.PAYLOAD_BUCKET).toBe(LOCAL_PAYLOAD_BUCKET);
    expect(payloadBucketOf(stack.config, stack.clients)).toEqual({ client: stack.clients.s3, bucket: LOCAL_PAYLOAD_BUCKET });
    await expect(stack.clients.s3.send(new HeadBucketCommand({ Bucket: LOCAL_PAYLOAD_BUCKET }))).resolves.toBeDefined();
  });

  it('takes an upload through a presigned PUT under inputs/<model>/, bytes intact', async () => {
    // Prepare
    const key = payloadInputKey('iris', 'c0ffee00-0000-4000-8000-000000000001');
    const url = await getSignedUrl(stack.clients.s3, new PutObjectCommand({ Bucket: LOCAL_PAYLOAD_BUCKET, Key: key }), { expiresIn: 60 });
    const bytes = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));

    // Act
    const put = await fetch(url, { method: 'PUT', body: bytes });

    // Assess
    expect(put.status).toBe(200);
    const got = await stack.clients.s3.send(new GetObjectCommand({ Bucket: LOCAL_PAYLOAD_BUCKET, Key: key }));
    const stored = await got.Body?.transformToByteArray();
    expect(Buffer.from(stored ?? []).equals(bytes)).toBe(true);
    expect(key).toBe('inputs/iris/c0ffee00-0000-4000-8000-000000000001');
  });
});

describe("with PAYLOAD_BUCKET ''", () => {
  it('has no payload bucket: by-reference payloads are off', async () => {
    const stack = await startLocalStack({ seedSampleModel: false, env: { PAYLOAD_BUCKET: '' } });
    try {
      expect(stack.config.PAYLOAD_BUCKET).toBeUndefined();
      expect(payloadBucketOf(stack.config, stack.clients)).toBeUndefined();
    } finally {
      await stack.stop();
    }
  }, 60_000);
});
