/**
 * Builds the CDK app: reads and validates the endpoint config from the app's context, creates the
 * stack, and applies cdk-nag's AwsSolutions checks. `bin/app.ts` runs it for the CDK CLI; the CDK
 * tests call it with their own context.
 */
import { App, Validations, type AppProps } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadAppConfig, type AppConfig } from './config.js';
import { OnnxServingStack, type OnnxServingStackProps } from './serving-stack.js';

export interface ServingAppOptions {
  /** Context for the app (the CLI passes cdk.json's through the environment). */
  readonly context?: AppProps['context'];
  /** Where to synthesize. @default the CLI's, or a temporary folder */
  readonly outdir?: string;
  /** Run cdk-nag's AwsSolutions pack on synth. @default true */
  readonly nag?: boolean;
  /** Passed to the stack (tests lower the unzipped size limit). */
  readonly stackProps?: Omit<OnnxServingStackProps, 'config'>;
}

export interface ServingApp {
  readonly app: App;
  readonly config: AppConfig;
  readonly stack: OnnxServingStack;
}

/**
 * @example
 * const { app } = createServingApp();
 * app.synth();
 */
export function createServingApp(options: ServingAppOptions = {}): ServingApp {
  const app = new App({
    ...(options.context ? { context: options.context } : {}),
    ...(options.outdir ? { outdir: options.outdir } : {}),
  });
  const config = loadAppConfig(app.node);
  const stack = new OnnxServingStack(app, config.stackName, {
    description:
      'Serverless ONNX model serving: API Gateway, Lambda endpoints with an ONNX Runtime layer, DynamoDB registry and logs, S3 artifacts',
    ...options.stackProps,
    config,
  });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, config, stack };
}
