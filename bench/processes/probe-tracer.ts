/**
 * Cold-start probe, bundled as the function is and run by plain Node in a fresh process with the
 * environment of a traced Lambda function: loads Powertools Tracer and the X-Ray SDK the way the
 * predict function does when TRACING is on (functions/adapters/xray-tracing.ts), then prints when
 * it ended, in ms since the process started. Against probe-empty.ts, that is what loading the
 * tracing adds to a cold start (its requests' subsegments are measured apart).
 */
import { xrayTracing } from '../../functions/adapters/xray-tracing.js';

const tracing = await xrayTracing();
process.stdout.write(`${JSON.stringify({ total: performance.now(), enabled: tracing.tracer.isTracingEnabled() })}\n`);
