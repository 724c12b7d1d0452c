/**
 * cdk-nag acknowledgments (cdk-nag 3 uses CDK's `Validations.of(...).acknowledge`). Every
 * acknowledgment names its rule (and, for per-finding rules like IAM5, the exact finding) and
 * the reason; nothing is acknowledged by rule prefix, so a new wildcard still fails the checks.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Acknowledges one cdk-nag rule or finding on `scope` and everything below it. */
export function acknowledgeNag(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/**
 * A value as cdk-nag prints it in a finding id: CloudFormation references flattened to
 * `<LogicalId>` (Ref) and `<LogicalId.Attribute>` (GetAtt), joins concatenated.
 *
 * @example nagValue(stack, bucket.arnForObjects('models/*')) // '<ArtifactsBucketABC123.Arn>/models/*'
 */
export function nagValue(scope: IConstruct, value: string): string {
  return flattenReference(Stack.of(scope).resolve(value));
}

/** A resolved CloudFormation value (as in a template) flattened the way cdk-nag prints it. */
export function flattenReference(node: unknown): string {
  const flatten = flattenReference;
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (node !== null && typeof node === 'object') {
    const record = node as Record<string, unknown>;
    const join = record['Fn::Join'];
    if (Array.isArray(join)) {
      const [delimiter, items] = join as [string, unknown[]];
      return items.map(flatten).join(delimiter);
    }
    if ('Fn::Sub' in record) return flatten(record['Fn::Sub']);
    const getAtt = record['Fn::GetAtt'];
    if (Array.isArray(getAtt)) return `<${flatten(getAtt[0])}.${flatten(getAtt[1])}>`;
    if ('Fn::ImportValue' in record) return flatten(record['Fn::ImportValue']);
    if ('Ref' in record) return `<${flatten(record['Ref'])}>`;
  }
  return JSON.stringify(node);
}
