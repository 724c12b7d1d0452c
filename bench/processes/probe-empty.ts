/**
 * Cold-start probe, bundled as the function is and run by plain Node in a fresh process: does
 * nothing, and prints when it ended, in ms since the process started. The floor the other probes
 * (probe-powertools.ts, probe-tracer.ts) are measured against.
 */
process.stdout.write(`${JSON.stringify({ total: performance.now() })}\n`);
