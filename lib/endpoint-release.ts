/**
 * How an endpoint's alias `live` changes: a CodeDeploy application and deployment group on the
 * alias, with the endpoint's per-version alarms (and, with the distribution gate, the model's
 * `CanaryPredictionShift` alarm, which `DriftSchedule` adds: lib/drift-schedule.ts), automatic
 * rollback on a failed deployment and on an alarm, a pre-traffic hook that replays the model's golden inputs against the new version,
 * and a post-traffic hook that makes the new version's pinned model version the registry's
 * production version once it takes all the traffic.
 *
 * The deployment group also puts CloudFormation's own changes of the alias through CodeDeploy
 * (the alias gets an `UpdatePolicy: CodeDeployLambdaAliasUpdate`), so `cdk deploy` never
 * overwrites the alias directly: see README "Releases on AWS".
 */
import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import {
  LambdaApplication,
  LambdaDeploymentConfig,
  LambdaDeploymentGroup,
  TrafficRouting,
  type ILambdaDeploymentConfig,
} from 'aws-cdk-lib/aws-codedeploy';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { PREDEFINED_SHIFTS, type CustomShiftConfig, type LambdaEndpoint } from '../functions/adapters/lambda-traffic-router.js';
import { modelArtifactPrefix, type ArtifactBucket } from './artifact-bucket.js';
import type { ReleaseConfig } from './config.js';
import { ENDPOINT_ARTIFACT_ACTIONS, ENDPOINT_REGISTRY_ACTIONS, LIVE_ALIAS, type ModelEndpoint } from './model-endpoint.js';
import { acknowledgeNag, nagValue } from './nag.js';
import type { OnnxRuntimeLayer } from './onnxruntime-layer.js';
import { ServingFunction } from './serving-function.js';
import type { ServingTables } from './serving-tables.js';

/** What the pre-traffic hook may do to the endpoint function's versions. */
export const HOOK_LAMBDA_ACTIONS = ['lambda:GetFunctionConfiguration', 'lambda:InvokeFunction'] as const;
/** What the hook reads of its deployments (PutLifecycleEventHookExecutionStatus is granted by the group). */
export const HOOK_CODEDEPLOY_ACTIONS = ['codedeploy:GetDeployment', 'codedeploy:GetDeploymentGroup'] as const;
/** The hook points the group's alarms at each deployment's target version. */
export const HOOK_ALARM_ACTIONS = ['cloudwatch:DescribeAlarms', 'cloudwatch:PutMetricAlarm'] as const;

/** What the post-traffic hook reads of the target version: its pinned model version. */
export const POST_HOOK_LAMBDA_ACTIONS = ['lambda:GetFunctionConfiguration'] as const;
/** What the post-traffic hook reads of its deployments (PutLifecycleEventHookExecutionStatus is granted by the group). */
export const POST_HOOK_CODEDEPLOY_ACTIONS = ['codedeploy:GetDeployment'] as const;
/**
 * What the post-traffic hook does to the registry: read the model and version, and write the
 * promotion as `applyTransition` does, one TransactWriteItems of Put (history), Update (versions,
 * pointer) and ConditionCheck items. No Query (it lists nothing), no DeleteItem.
 */
export const POST_HOOK_REGISTRY_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:ConditionCheckItem',
] as const;

export interface ReleaseHookProps {
  readonly tables: ServingTables;
  readonly artifacts: ArtifactBucket;
  /**
   * The ONNX Runtime layer the post-traffic hook runs the gates with (any architecture in the
   * stack; the control plane's is the natural one, it runs the same gates).
   */
  readonly layer: OnnxRuntimeLayer;
  /** Memory of the post-traffic hook, which loads the model for the gates. @default 1024 */
  readonly postTrafficMemoryMb?: number;
  readonly logRetention: RetentionDays;
  /** Each model's metric baseline, the same the control plane gates with. @default none */
  readonly baselines?: Readonly<Record<string, Readonly<Record<string, { min?: number; max?: number }>>>>;
}

/**
 * The release hook functions (`functions/release-hook/`), one of each for the stack: each
 * endpoint's deployment group names them, and each `EndpointRelease` grants them that endpoint's
 * versions, group, alarms and artifacts only. One function per hook rather than one per endpoint
 * keeps a function name such as `iris` meaning the endpoint's own function (`npm run invoke -- iris`).
 *
 * Two functions rather than one handling both lifecycle events: the pre-traffic hook invokes the
 * target and rewrites alarms, and needs no ONNX Runtime; the post-traffic hook runs the promotion
 * gates (ONNX Runtime, artifact reads) and writes the registry. Separate roles keep each one to
 * what its event needs, and the hook that invokes endpoints can never write the registry.
 */
export class ReleaseHook extends Construct {
  /** The pre-traffic hook (`BeforeAllowTraffic`). */
  readonly function: ServingFunction;
  /** The post-traffic hook (`AfterAllowTraffic`). */
  readonly postTraffic: ServingFunction;
  readonly artifacts: ArtifactBucket;

  constructor(scope: Construct, id: string, props: ReleaseHookProps) {
    super(scope, id);
    this.artifacts = props.artifacts;
    this.function = new ServingFunction(this, 'PreTrafficHook', {
      entry: 'functions/release-hook/handler.ts',
      architecture: Architecture.ARM_64,
      memoryMb: 256,
      // Each golden request is one synchronous invoke of the new version (cold start included).
      timeout: Duration.minutes(5),
      logRetention: props.logRetention,
      description: "CodeDeploy pre-traffic hook: replays the model version's golden inputs on the new version of an endpoint",
    });
    this.function.bindTable('REGISTRY_TABLE', props.tables.registry, { actions: ENDPOINT_REGISTRY_ACTIONS });

    this.postTraffic = new ServingFunction(this, 'PostTrafficHook', {
      entry: 'functions/release-hook/post-traffic-handler.ts',
      layer: props.layer,
      memoryMb: props.postTrafficMemoryMb ?? 1_024,
      // The gates load the model and run its golden inputs (cold start and download included).
      timeout: Duration.minutes(5),
      logRetention: props.logRetention,
      description:
        "CodeDeploy post-traffic hook: makes the model version an endpoint's new version serves the registry's production version",
    });
    this.postTraffic
      .bindTable('REGISTRY_TABLE', props.tables.registry, { actions: POST_HOOK_REGISTRY_ACTIONS })
      .setEnvironment('ARTIFACT_BUCKET', props.artifacts.bucket.bucketName)
      .setEnvironment('METRIC_BASELINES', JSON.stringify(props.baselines ?? {}));
  }
}

export interface EndpointReleaseProps {
  readonly endpoint: ModelEndpoint;
  readonly release: ReleaseConfig;
  readonly hook: ReleaseHook;
}

/**
 * @example
 * const hook = new ReleaseHook(this, 'ReleaseHook', { tables, artifacts, layer, logRetention });
 * const release = new EndpointRelease(this, 'ReleaseIris', { endpoint: iris, release: config.release, hook });
 * control.allowReleasesOf(iris, release);
 */
export class EndpointRelease extends Construct {
  readonly application: LambdaApplication;
  readonly deploymentGroup: LambdaDeploymentGroup;
  readonly deploymentConfig: ILambdaDeploymentConfig;
  readonly hook: ServingFunction;
  readonly postHook: ServingFunction;
  /** The custom configuration this endpoint's `release` needed, when no predefined one matches. */
  readonly customShift?: CustomShiftConfig;

  constructor(scope: Construct, id: string, props: EndpointReleaseProps) {
    super(scope, id);
    const { endpoint, release } = props;
    const fn = endpoint.function.function;
    const shift = { kind: release.managed, percent: release.percent, intervalMinutes: release.intervalMinutes };
    this.hook = props.hook.function;
    this.postHook = props.hook.postTraffic;

    const predefined = PREDEFINED_SHIFTS.find(
      (c) => c.kind === shift.kind && c.percent === shift.percent && c.intervalMinutes === shift.intervalMinutes,
    );
    if (predefined) {
      this.deploymentConfig = LambdaDeploymentConfig.fromLambdaDeploymentConfigName(this, 'Config', predefined.configName);
    } else {
      const interval = Duration.minutes(shift.intervalMinutes);
      this.deploymentConfig = new LambdaDeploymentConfig(this, 'Config', {
        trafficRouting:
          shift.kind === 'canary'
            ? TrafficRouting.timeBasedCanary({ interval, percentage: shift.percent })
            : TrafficRouting.timeBasedLinear({ interval, percentage: shift.percent }),
      });
      this.customShift = { ...shift, configName: this.deploymentConfig.deploymentConfigName };
    }

    this.application = new LambdaApplication(this, 'Application');
    this.deploymentGroup = new LambdaDeploymentGroup(this, 'DeploymentGroup', {
      application: this.application,
      alias: endpoint.alias,
      deploymentConfig: this.deploymentConfig,
      alarms: [endpoint.errorsAlarm, endpoint.latencyAlarm],
      preHook: this.hook.function,
      postHook: this.postHook.function,
      autoRollback: { failedDeployment: true, stoppedDeployment: true, deploymentInAlarm: true },
    });

    this.hook
      .allow(HOOK_LAMBDA_ACTIONS, [`${fn.functionArn}:*`], {
        wildcardReason: `The pre-traffic hook reads and invokes the version each deployment targets; version numbers of ${endpoint.model}'s function are known only at release time.`,
      })
      .allow(HOOK_CODEDEPLOY_ACTIONS, [this.deploymentGroup.deploymentGroupArn])
      .allow(HOOK_ALARM_ACTIONS, [endpoint.errorsAlarm.alarmArn, endpoint.latencyAlarm.alarmArn]);
    this.postHook
      .allow(POST_HOOK_LAMBDA_ACTIONS, [`${fn.functionArn}:*`], {
        wildcardReason: `The post-traffic hook reads the model version pinned in the version each deployment targets; version numbers of ${endpoint.model}'s function are known only at release time.`,
      })
      .allow(POST_HOOK_CODEDEPLOY_ACTIONS, [this.deploymentGroup.deploymentGroupArn])
      .allow(ENDPOINT_ARTIFACT_ACTIONS, [props.hook.artifacts.modelObjectsArn(endpoint.model)], {
        wildcardReason: `The promotion gates read ${endpoint.model}'s artifact; keys under ${modelArtifactPrefix(endpoint.model)} carry a sha256 known only at registration.`,
      })
      // Listing its own prefix turns a missing artifact into NoSuchKey instead of AccessDenied.
      .allow(['s3:ListBucket'], [props.hook.artifacts.bucket.bucketArn], {
        conditions: { StringLike: { 's3:prefix': [`${modelArtifactPrefix(endpoint.model)}*`] } },
      });

    // The group's service role: CDK attaches AWS's Lambda deployment policy, and lets it invoke the hook.
    const role = this.deploymentGroup.role;
    acknowledgeNag(
      role,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited]',
      'AWSCodeDeployRoleForLambdaLimited is the AWS-maintained role policy of CodeDeploy Lambda deployments (alias updates, alarm reads, hook invocation); CDK attaches it to every Lambda deployment group.',
    );
    acknowledgeNag(
      role,
      `AwsSolutions-IAM5[Resource::${nagValue(this, `${this.hook.function.functionArn}:*`)}]`,
      "CDK's grantInvoke lets CodeDeploy invoke the pre-traffic hook function and its versions; the wildcard covers only this hook's own qualifiers.",
    );
    acknowledgeNag(
      role,
      `AwsSolutions-IAM5[Resource::${nagValue(this, `${this.postHook.function.functionArn}:*`)}]`,
      "CDK's grantInvoke lets CodeDeploy invoke the post-traffic hook function and its versions; the wildcard covers only this hook's own qualifiers.",
    );
  }

  /** The control plane's `ENDPOINTS` entry of this endpoint. */
  endpointEntry(endpoint: ModelEndpoint): LambdaEndpoint {
    return {
      functionName: endpoint.function.function.functionName,
      alias: LIVE_ALIAS,
      application: this.application.applicationName,
      deploymentGroup: this.deploymentGroup.deploymentGroupName,
      preTrafficHook: this.hook.function.functionName,
      postTrafficHook: this.postHook.function.functionName,
      ...(this.customShift ? { customShifts: [this.customShift] } : {}),
    };
  }

  /** ARNs of the deployment configurations a managed release of this endpoint may name. */
  deploymentConfigArns(): string[] {
    const stack = Stack.of(this);
    const arn = (name: string) =>
      stack.formatArn({
        service: 'codedeploy',
        resource: 'deploymentconfig',
        resourceName: name,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
    return [...PREDEFINED_SHIFTS.map((c) => arn(c.configName)), ...(this.customShift ? [arn(this.customShift.configName)] : [])];
  }
}
