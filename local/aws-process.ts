/**
 * Child process entry: the embedded DynamoDB- and S3-compatible servers (`startLocalAws`), in a
 * process of their own so that storing items and objects never runs on the local API's event
 * loop (on AWS, DynamoDB and S3 are not in the function's process either). Started by
 * `startLocalAwsProcess`; reports its endpoints over IPC, stops when told to or when the parent
 * goes away.
 *
 * It ignores SIGINT and SIGTERM: Ctrl+C in a terminal reaches every process of the group, and the
 * parent must first write its queued prediction-log records here before the servers stop.
 */
import { startLocalAws, type LocalAwsOptions } from './aws-servers.js';

/** What the parent sends: the options, then `stop`. */
export type ToAwsProcess = { readonly type: 'start'; readonly options: LocalAwsOptions } | { readonly type: 'stop' };
/** What the child answers. */
export type FromAwsProcess =
  | { readonly type: 'ready'; readonly dynamoEndpoint: string; readonly s3Endpoint: string }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'stopped' };

process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);

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
