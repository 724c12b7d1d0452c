/**
 * DynamoDB implementation of the `PredictionLogReader` port: a model's prediction-log records,
 * oldest first (or newest first, `order: 'newest'`: the same Query read backwards) through the table's `byModel` index (partition `model`, sort `timestamp`, all
 * attributes projected), so one Query reads a page without touching other models' items.
 *
 * Pages are exact: it asks for one record more than the page holds, so `more` is true only when
 * a record really follows (DynamoDB's own `LastEvaluatedKey` is also set when a page merely ended
 * at the limit). A page DynamoDB cuts at 1 MB is continued until the page is full or the model's
 * records end. Records with the same timestamp come in an order DynamoDB chooses; the position a
 * page continues from carries the request id as well as the timestamp (the index's key plus the
 * table's), so none is skipped or repeated.
 */
import { GetCommand, QueryCommand, paginateQuery, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { OrderedPredictionLogQuery, OrderedPredictionLogReader } from '../core/stats.js';
import type { PredictionLogPage, PredictionLogReader, PredictionLogRecord, StudyReader, StudyRecord } from '../core/ports.js';
import { PREDICTION_LOG_TABLE } from './tables.js';

export interface DynamoDbPredictionLogReaderOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
}

/** The index this reader queries (`tables.ts`); its keys are `model` and `timestamp`, as records name them. */
export const BY_MODEL_INDEX = 'byModel';
const TABLE_KEY = PREDICTION_LOG_TABLE.partitionKey.name;

/**
 * @example
 * const reader = new DynamoDbPredictionLogReader({ client: documents, tableName: config.PREDICTION_LOG_TABLE });
 * const { records, more } = await reader.read('iris', { since: '2025-03-04T05:00:00.000Z', limit: 100 });
 * const newest = await reader.read('iris', { since: '2025-03-04T05:00:00.000Z', limit: 20, order: 'newest' });
 */
export class DynamoDbPredictionLogReader implements PredictionLogReader, OrderedPredictionLogReader {
  constructor(private readonly options: DynamoDbPredictionLogReaderOptions) {}

  /**
   * Up to `query.limit` records at or after `query.since`, in `query.order` (@default 'oldest'),
   * continuing after `query.after` when given (in a newest-first listing: the records older than it).
   */
  async read(model: string, query: OrderedPredictionLogQuery): Promise<PredictionLogPage> {
    const wanted = query.limit + 1;
    const records: PredictionLogRecord[] = [];
    // The index key (model, timestamp) plus the table key (requestId): where the next Query starts.
    // The model comes from the caller's path, never from a cursor.
    let start: Record<string, string> | undefined = query.after
      ? { model, timestamp: query.after.timestamp, [TABLE_KEY]: query.after.requestId }
      : undefined;
    do {
      const page = await this.options.client.send(
        new QueryCommand({
          TableName: this.options.tableName,
          IndexName: BY_MODEL_INDEX,
          KeyConditionExpression: '#model = :model AND #timestamp >= :since',
          ExpressionAttributeNames: { '#model': 'model', '#timestamp': 'timestamp' },
          ExpressionAttributeValues: { ':model': model, ':since': query.since },
          ScanIndexForward: query.order !== 'newest',
          Limit: wanted - records.length,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of page.Items ?? []) records.push(item as PredictionLogRecord);
      start = page.LastEvaluatedKey as Record<string, string> | undefined;
    } while (start && records.length < wanted);
    return { records: records.slice(0, query.limit), more: records.length > query.limit };
  }
}

/** The index of the items of experiments and shadow tests (`tables.ts`): keys `study` and `timestamp`. */
export const BY_STUDY_INDEX = 'byStudy';

/** What a study's analysis reads of each item: not the inputs' hash, the caller or the answer's outputs. */
const STUDY_ATTRIBUTES = ['requestId', 'modelVersion', 'latencyMs', 'rows', 'timestamp', 'experiment', 'shadow'] as const;
/** Those attributes as a ProjectionExpression, with its names. */
const STUDY_PROJECTION = STUDY_ATTRIBUTES.map((a) => `#${a}`).join(', ');
const STUDY_NAMES: Record<string, string> = Object.fromEntries(STUDY_ATTRIBUTES.map((a) => [`#${a}`, a]));

/**
 * DynamoDB implementation of the `StudyReader` port: an experiment's or a shadow test's
 * prediction-log items through the table's sparse `byStudy` index (only items that carry `study`
 * are in it), oldest first, reading only the attributes an analysis needs.
 *
 * @example
 * const studies = new DynamoDbStudyReader({ client: documents, tableName: config.PREDICTION_LOG_TABLE });
 * const { records, capped } = await studies.read(studyKey('experiment', 'iris', id), 1_000_000);
 */
export class DynamoDbStudyReader implements StudyReader {
  constructor(private readonly options: DynamoDbPredictionLogReaderOptions) {}

  async read(study: string, max: number): Promise<{ readonly records: readonly StudyRecord[]; readonly capped: boolean }> {
    const records: StudyRecord[] = [];
    const pages = paginateQuery(
      { client: this.options.client },
      {
        TableName: this.options.tableName,
        IndexName: BY_STUDY_INDEX,
        KeyConditionExpression: '#study = :study',
        ExpressionAttributeNames: { ...STUDY_NAMES, '#study': 'study' },
        ExpressionAttributeValues: { ':study': study },
        ProjectionExpression: STUDY_PROJECTION,
        ScanIndexForward: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        if (records.length >= max) return { records, capped: true };
        records.push(item as StudyRecord);
      }
    }
    return { records, capped: false };
  }

  async get(requestId: string): Promise<StudyRecord | undefined> {
    const { Item } = await this.options.client.send(
      new GetCommand({
        TableName: this.options.tableName,
        Key: { [TABLE_KEY]: requestId },
        ProjectionExpression: STUDY_PROJECTION,
        ExpressionAttributeNames: STUDY_NAMES,
      }),
    );
    return Item as StudyRecord | undefined;
  }
}
