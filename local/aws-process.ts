/**
 * Child process entry: the embedded DynamoDB- and S3-compatible servers (`startLocalAws`), in a
 * process of their own so that storing items and objects never runs on the local API's event
 * loop (on AWS, DynamoDB and S3 are not in the function's process either). Started by
 * `startLocalAwsProcess`; reports its endpoints over IPC, stops when told to or when the parent
 * goes away.
 *
 * It ignores every signal the parent stops on (`STOP_SIGNALS`: SIGINT, SIGTERM, SIGHUP, SIGQUIT,
 * ...): Ctrl+C or Ctrl+\ in a terminal, a closed terminal, or a supervisor that signals the whole
 * group reaches every process of the group, and the parent must first write its queued
 * prediction-log records here before the servers stop. It never outlives the parent: when the
 * parent dies, even by SIGKILL, the IPC channel closes and this process stops its servers and
 * exits (`test/integration/npm-start.test.ts` kills the parent to prove it).
 */
import { startLocalAws, type LocalAwsOptions } from './aws-servers.js';
import { STOP_SIGNALS } from './signals.js';

/** What the parent sends: the options, then `stop`. */
export type ToAwsProcess = { readonly type: 'start'; readonly options: LocalAwsOptions } | { readonly type: 'stop' };
/** What the child answers. */
export type FromAwsProcess =
  | { readonly type: 'ready'; readonly dynamoEndpoint: string; readonly s3Endpoint: string }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'stopped' };

// The parent stops on these and then tells this process to stop; SIGHUP too, as a closed terminal
// sends it to the whole group.
for (const signal of STOP_SIGNALS) process.on(signal, () => undefined);

let stop: (() => Promise<void>) | undefined;
const send = (message: FromAwsProcess) => process.send?.(message);

process.on('message', (message: ToAwsProcess) => {
  if (message.type === 'start') {
    startLocalAws(message.options).then(
      (aws) => {
        stop = () => aws.stop();
        send({ type: 'ready', dynamoEndpoint: aws.dynamoEndpoint, s3Endpoint: aws.s3Endpoint });
      },
      (error: unknown) => {
        send({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
        process.exit(1);
      },
    );
    return;
  }
  void (stop?.() ?? Promise.resolve()).finally(() => {
    send({ type: 'stopped' });
    process.disconnect?.();
    process.exit(0);
  });
});

// The parent died without asking: stop the servers (their files stay consistent) and go.
process.on('disconnect', () => {
  void (stop?.() ?? Promise.resolve()).finally(() => process.exit(0));
});
