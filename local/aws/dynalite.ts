/**
 * dynalite (an in-process DynamoDB look-alike) as the local DynamoDB's back end: the package,
 * typed, and a minimal DynamoDB JSON client for it on loopback, which the front server's
 * transactions (`transactions.ts`) use for their single-item calls.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import { readBody } from './loopback.js';

// dynalite ships no type declarations: load it through require and type what we use.
const require = createRequire(import.meta.url);
interface DynaliteOptions {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}
export const dynalite = require('dynalite') as (options: DynaliteOptions) => http.Server;

/** A DynamoDB JSON request or response body. */
export type Json = Record<string, unknown>;

export interface DynamoResponse {
  readonly status: number;
  readonly body: Json;
}

/** Minimal DynamoDB JSON client for dynalite on loopback (dynalite checks a signature is present, not its value). */
export class Dynalite {
  constructor(
    readonly port: number,
    readonly agent: http.Agent,
  ) {}

  call(operation: string, input: Json): Promise<DynamoResponse> {
    const payload = JSON.stringify(input);
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          agent: this.agent,
          method: 'POST',
          path: '/',
          headers: {
            'content-type': 'application/x-amz-json-1.0',
            'content-length': Buffer.byteLength(payload),
            'x-amz-target': `DynamoDB_20120810.${operation}`,
            'x-amz-date': '20200101T000000Z',
            authorization: 'AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
          },
        },
        (response) => {
          readBody(response)
            .then((text) => resolve({ status: response.statusCode ?? 500, body: text ? (JSON.parse(text) as Json) : {} }))
            .catch(reject);
        },
      );
      request.on('error', reject);
      request.end(payload);
    });
  }
}

/** The short name of a DynamoDB error response's `__type` (`ConditionalCheckFailedException`, ...). */
export function errorType(response: DynamoResponse): string {
  const type = response.body.__type;
  return typeof type === 'string' ? (type.split('#').pop() ?? type) : 'UnknownError';
}
