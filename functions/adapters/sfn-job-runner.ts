/**
 * The `JobRunner` port on AWS Step Functions: a job is one execution of the batch state machine
 * (`lib/batch-jobs.ts`), named by its job id so that a second start of the same job (a retried
 * submission) starts nothing new: StartExecution with the same name and input is idempotent for
 * STANDARD workflows, and answers ExecutionAlreadyExists otherwise, which is read here as "it runs".
 */
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  StartExecutionCommand,
  StopExecutionCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import type { JobRunner, WorkflowInput } from '../core/batch-contract.js';

export interface StepFunctionsJobRunnerOptions {
  readonly client: SFNClient;
  readonly stateMachineArn: string;
}

export class StepFunctionsJobRunner implements JobRunner {
  constructor(private readonly options: StepFunctionsJobRunnerOptions) {}

  async start(input: WorkflowInput): Promise<{ executionId: string }> {
    const { client, stateMachineArn } = this.options;
    try {
      const { executionArn } = await client.send(
        new StartExecutionCommand({ stateMachineArn, name: input.jobId, input: JSON.stringify(input) }),
      );
      return { executionId: executionArn ?? executionArnOf(stateMachineArn, input.jobId) };
    } catch (error) {
      if (error instanceof ExecutionAlreadyExists) return { executionId: executionArnOf(stateMachineArn, input.jobId) };
      throw error;
    }
  }

  async stop(executionId: string, reason: string): Promise<void> {
    const { status } = await this.status(executionId);
    if (status !== 'RUNNING') return;
    // Step Functions bounds `cause` at 32,768 characters.
    await this.options.client.send(
      new StopExecutionCommand({ executionArn: executionId, error: 'BatchJobCancelled', cause: reason.slice(0, 1_000) }),
    );
  }

  async status(executionId: string): ReturnType<JobRunner['status']> {
    const { status, error, cause } = await this.options.client.send(new DescribeExecutionCommand({ executionArn: executionId }));
    const known = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] as const;
    const state = (known as readonly string[]).includes(status ?? '') ? (status as (typeof known)[number]) : 'UNKNOWN';
    return { status: state, ...(error ? { error } : {}), ...(cause ? { cause } : {}) };
  }
}

/** `arn:aws:states:<region>:<account>:stateMachine:<name>` → that machine's execution `<name>`. */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}
