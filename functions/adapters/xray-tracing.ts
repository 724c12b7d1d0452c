/**
 * Tracing with Powertools for AWS Lambda's Tracer (AWS X-Ray): each span is a subsegment of the
 * invocation's segment, with the error recorded when the work fails. The AWS SDK clients given to
 * `traceClient` get a subsegment per call too (DynamoDB GetItem, S3 GetObject, ...), nested under
 * the span that made the call.
 *
 * Off by default (`TRACING`, `observability.tracing` in cdk.json): the Tracer and the X-Ray SDK
 * are loaded with a dynamic import only when tracing is on, so a function without it pays
 * nothing at cold start; docs/BENCHMARKS.md measures what it costs when on. Spans assume one
 * invocation at a time per process, which is how Lambda runs the endpoint functions.
 */
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type { SpanName, Tracing } from '../core/observability.js';
import { SERVICE_NAME } from '../shared/logger.js';

/**
 * @example
 * const tracing = await xrayTracing();
 * new OnnxRuntime(artifacts, { tracing });
 */
export class XrayTracing implements Tracing {
  constructor(readonly tracer: Tracer) {}

  async span<T>(name: SpanName, work: () => Promise<T>): Promise<T> {
    const parent = this.tracer.getSegment();
    if (!parent || !this.tracer.isTracingEnabled()) return work();
    const subsegment = parent.addNewSubsegment(name);
    this.tracer.setSegment(subsegment);
    try {
      return await work();
    } catch (error) {
      subsegment.addError(error instanceof Error ? error : new Error(String(error)));
      throw error;
    } finally {
      subsegment.close();
      this.tracer.setSegment(parent);
    }
  }

  /** Adds a subsegment per call of an AWS SDK v3 client. */
  traceClient<C>(client: C): C {
    return this.tracer.captureAWSv3Client(client);
  }
}

/** Loads Powertools Tracer (and the X-Ray SDK) and returns the tracing over it. */
export async function xrayTracing(): Promise<XrayTracing> {
  const { Tracer } = await import('@aws-lambda-powertools/tracer');
  return new XrayTracing(new Tracer({ serviceName: SERVICE_NAME }));
}
