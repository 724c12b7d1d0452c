/**
 * DynamoDbPredictionLog's retry policy, with DynamoDB failures that a local server cannot
 * produce on demand (throttling, validation), mocked with aws-sdk-client-mock.
 */
import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import {
  DynamoDBClient,
  DynamoDBServiceException,
  ProvisionedThroughputExceededException,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DynamoDbPredictionLog,
  fallbackLogLine,
  type PredictionLogFallback,
} from '../../functions/adapters/dynamodb-prediction-log.js';
import type { PredictionLogRecord } from '../../functions/core/ports.js';

const documents = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(
  new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
);

const RECORD: PredictionLogRecord = {
  requestId: 'req-1',
  model: 'iris',
  modelVersion: '2',
  functionVersion: '$LATEST',
  caller: 'user:alice',
  latencyMs: 3.5,
  rows: 1,
  inputSha256: 'ab'.repeat(32),
  outputs: '[{"label":"setosa"}]',
  truncated: false,
  timestamp: '2025-03-04T05:06:07.000Z',
  expiresAt: 1_748_995_567,
};

function throttled(): ThrottlingException {
  return new ThrottlingException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });
}

function invalid(): DynamoDBServiceException {
  return new DynamoDBServiceException({
    name: 'ValidationException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message: 'One or more parameter values were invalid',
  });
}

let fallback: jest.Mock<PredictionLogFallback>;
let delays: number[];

function makeLog(options: { maxAttempts?: number } = {}): DynamoDbPredictionLog {
  return new DynamoDbPredictionLog({
    client,
    tableName: 'prediction-log',
    fallback,
    sleep: async (ms) => {
      delays.push(ms);
    },
    ...options,
  });
}

beforeEach(() => {
  documents.reset();
  fallback = jest.fn<PredictionLogFallback>();
  delays = [];
});

describe('DynamoDbPredictionLog retries', () => {
  it('retries throttling and succeeds on the third attempt without the fallback', async () => {
    // Prepare
    documents.on(PutCommand).rejectsOnce(throttled()).rejectsOnce(throttled()).resolves({});

    // Act
    await makeLog().write(RECORD);

    // Assess
    expect(documents.commandCalls(PutCommand)).toHaveLength(3);
    expect(fallback).not.toHaveBeenCalled();
    expect(documents.commandCalls(PutCommand)[2]?.args[0].input).toEqual({ TableName: 'prediction-log', Item: RECORD });
    expect(delays).toHaveLength(2);
    expect(delays[0]).toBeLessThan(20);
    expect(delays[1]).toBeLessThan(40);
  });

  it('gives up after maxAttempts when throttled every time, then uses the fallback', async () => {
    // Prepare
    documents.on(PutCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));

    // Act
    await makeLog({ maxAttempts: 4 }).write(RECORD);

    // Assess
    expect(documents.commandCalls(PutCommand)).toHaveLength(4);
    expect(fallback).toHaveBeenCalledTimes(1);
    expect(fallback).toHaveBeenCalledWith(RECORD, expect.objectContaining({ name: 'ProvisionedThroughputExceededException' }));
  });

  it('does not retry a validation error', async () => {
    // Prepare
    documents.on(PutCommand).rejects(invalid());

    // Act
    await makeLog().write(RECORD);

    // Assess
    expect(documents.commandCalls(PutCommand)).toHaveLength(1);
    expect(fallback).toHaveBeenCalledWith(RECORD, expect.objectContaining({ name: 'ValidationException' }));
  });

  it('retries a server error and a dropped connection', async () => {
    // Prepare
    const serverError = new DynamoDBServiceException({
      name: 'InternalServerError',
      $fault: 'server',
      $metadata: { httpStatusCode: 500 },
      message: 'Internal server error',
    });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    documents.on(PutCommand).rejectsOnce(serverError).rejectsOnce(reset).resolves({});

    // Act
    await makeLog().write(RECORD);

    // Assess
    expect(documents.commandCalls(PutCommand)).toHaveLength(3);
    expect(fallback).not.toHaveBeenCalled();
  });

  it('bounds every attempt with an abort signal', async () => {
    // Prepare
    documents.on(PutCommand).resolves({});

    // Act
    await makeLog().write(RECORD);

    // Assess
    const [, options] = documents.call(0).args as unknown as [unknown, { abortSignal?: AbortSignal } | undefined];
    expect(options?.abortSignal).toBeInstanceOf(AbortSignal);
    expect(options?.abortSignal?.aborted).toBe(false);
  });

  it('still resolves, and prints the default line, when a custom fallback throws', async () => {
    // Prepare
    documents.on(PutCommand).rejects(invalid());
    fallback.mockImplementation(() => {
      throw new Error('fallback broken');
    });
    const printed: string[] = [];
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    });

    // Act
    try {
      await makeLog().write(RECORD);
    } finally {
      stdout.mockRestore();
    }

    // Assess
    expect(printed).toHaveLength(1);
    expect(JSON.parse(printed[0] ?? '')).toMatchObject({ record: RECORD, PredictionLogFallback: 1 });
  });
});

describe('fallbackLogLine', () => {
  it('carries the record, the error name and message only, and an EMF block', () => {
    // Prepare
    const at = new Date('2025-03-04T05:06:07.000Z');
    const error = Object.assign(new Error('connect ECONNREFUSED'), { secret: 'do not log me' });

    // Act
    const line = JSON.parse(fallbackLogLine(RECORD, error, at)) as Record<string, unknown>;

    // Assess
    expect(line).toStrictEqual({
      level: 'ERROR',
      message: 'prediction log write failed',
      timestamp: '2025-03-04T05:06:07.000Z',
      record: RECORD,
      error: { name: 'Error', message: 'connect ECONNREFUSED' },
      _aws: {
        Timestamp: at.getTime(),
        CloudWatchMetrics: [
          {
            Namespace: 'OnnxServing',
            Dimensions: [['model']],
            Metrics: [{ Name: 'PredictionLogFallback', Unit: 'Count' }],
          },
        ],
      },
      model: 'iris',
      PredictionLogFallback: 1,
    });
  });
});
