/**
 * `<dataDir>/local-aws.json`: where a running `npm start`'s embedded DynamoDB- and S3-compatible
 * servers listen, for tools outside its process (`modelctl features load --local`). Their ports
 * are ephemeral, so nothing else could know them.
 *
 * `npm start` writes it once the stack is ready (before its banner) and removes it when it stops
 * cleanly. A kill (SIGKILL, a crash) leaves it behind, so it names the process that wrote it:
 * a reader checks that the process still runs before it trusts the endpoints.
 *
 * @example
 * {"dynamodbEndpoint":"http://127.0.0.1:41823","s3Endpoint":"http://127.0.0.1:38211","region":"us-east-1","pid":4242}
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';

/** The file's name in the data folder. */
export const LOCAL_AWS_FILE = 'local-aws.json';

const HTTP_URL = z.string().regex(/^https?:\/\/[^\s/]+$/, { error: 'must be an http(s) URL of a host and port' });

/** What the file holds. */
export const LocalAwsFile = z.object({
  /** The DynamoDB endpoint (`http://127.0.0.1:PORT`). */
  dynamodbEndpoint: HTTP_URL,
  /** The S3 endpoint (path-style). */
  s3Endpoint: HTTP_URL,
  /** The region the stack's own SDK clients sign for. */
  region: z.string().min(1),
  /** The `npm start` process that wrote the file. */
  pid: z.number().int().positive(),
});
export type LocalAwsFile = z.infer<typeof LocalAwsFile>;

/** `<dataDir>/local-aws.json`. */
export function localAwsFilePath(dataDir: string): string {
  return path.join(dataDir, LOCAL_AWS_FILE);
}

/** Writes the file whole (a reader never sees half of it): to a temporary name, then renamed. */
export function writeLocalAwsFile(dataDir: string, contents: LocalAwsFile): void {
  const file = localAwsFilePath(dataDir);
  const part = `${file}.${process.pid}.part`;
  writeFileSync(part, `${JSON.stringify(contents)}\n`);
  renameSync(part, file);
}

/** Removes the file; nothing happens when it is not there. */
export function removeLocalAwsFile(dataDir: string): void {
  rmSync(localAwsFilePath(dataDir), { force: true });
}

/** The file's contents read from its text, or why they cannot be (one phrase). */
export function parseLocalAwsFile(text: string): { ok: true; value: LocalAwsFile } | { ok: false; problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'it is not JSON' };
  }
  const parsed = LocalAwsFile.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  return { ok: false, problem: `${issue?.path.join('.') || 'its contents'}: ${issue?.message ?? 'not as written by npm start'}` };
}
