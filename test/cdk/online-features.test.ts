/**
 * Online feature tables on AWS: an endpoint's `onlineFeatureTables` become its function's
 * `ONLINE_FEATURE_TABLES` and a grant of `dynamodb:BatchGetItem` on exactly those tables (no
 * other action, no wildcard, no other endpoint); an endpoint without the setting reads no
 * feature table at all. The batch function reads every endpoint's tables (jobs of versions that
 * read features by key). The config refuses names DynamoDB would. One synth without bundling.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { parseAppConfig, type AppConfigInput } from '../../lib/config.js';
import {
  endpointFunction,
  grantedPairs,
  onlyResource,
  roleOfResource,
  statementsOfRole,
  synthesize,
  TWO_ENDPOINTS,
  type Synthesized,
} from './helpers.js';

const CONFIG: AppConfigInput = {
  ...TWO_ENDPOINTS,
  endpoints: [
    {
      model: 'iris',
      onlineFeatureTables: ['shop.customer_stats', 'customer-features'],
      batch: { inputs: ['s3://acme-scoring/iris/in/'], outputs: ['s3://acme-scoring/iris/out/'] },
    },
    { model: 'churn', architecture: 'x86_64', onlineFeatureTables: ['customer-features', 'churn.usage'] },
    { model: 'wine' },
  ],
};

let synth: Synthesized;

beforeAll(() => {
  synth = synthesize(CONFIG, { bundle: false });
});

/** The `dynamodb:BatchGetItem` grants of an endpoint's role, as `action resource` pairs. */
function featureReads(model: string): string[] {
  const [, fn] = endpointFunction(synth.template, model);
  return grantedPairs(statementsOfRole(synth.template, roleOfResource(fn))).filter((pair) => pair.startsWith('dynamodb:BatchGetItem '));
}

it('an endpoint may BatchGetItem exactly the tables its config names, and is told their names', () => {
  const [, fn] = endpointFunction(synth.template, 'iris');
  expect((fn['Environment'] as { Variables: Record<string, unknown> }).Variables['ONLINE_FEATURE_TABLES']).toBe(
    'shop.customer_stats,customer-features',
  );
  expect(featureReads('iris')).toEqual(
    ['customer-features', 'shop.customer_stats']
      .map((table) => `dynamodb:BatchGetItem arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table/${table}`)
      .sort(),
  );
});

it("the batch function reads the endpoints' tables together (jobs by key), each once", () => {
  const [id, fn] = onlyResource(synth.template, 'AWS::Lambda::Function', {
    Description: Match.stringLikeRegexp('^Batch jobs: predicts one batch'),
  });
  expect(id).toBeTruthy();
  const properties = fn.Properties ?? {};
  expect((properties['Environment'] as { Variables: Record<string, unknown> }).Variables['ONLINE_FEATURE_TABLES']).toBe(
    'churn.usage,customer-features,shop.customer_stats',
  );
  const reads = grantedPairs(statementsOfRole(synth.template, roleOfResource(properties))).filter((pair) =>
    pair.startsWith('dynamodb:BatchGetItem '),
  );
  expect(reads).toEqual(
    ['churn.usage', 'customer-features', 'shop.customer_stats'].map(
      (table) => `dynamodb:BatchGetItem arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table/${table}`,
    ),
  );
});

it('the control function may only describe those tables (registration checks them) and is told their names', () => {
  const [, fn] = onlyResource(synth.template, 'AWS::Lambda::Function', {
    Description: 'Model registry and release control plane',
  });
  const properties = fn.Properties ?? {};
  expect((properties['Environment'] as { Variables: Record<string, unknown> }).Variables['ONLINE_FEATURE_TABLES']).toBe(
    'churn.usage,customer-features,shop.customer_stats',
  );
  const grants = grantedPairs(statementsOfRole(synth.template, roleOfResource(properties)));
  expect(
    grants.filter((pair) =>
      /^dynamodb:\w+ arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table\/(churn|customer|shop)/.test(pair),
    ),
  ).toEqual(
    ['churn.usage', 'customer-features', 'shop.customer_stats'].map(
      (table) => `dynamodb:DescribeTable arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table/${table}`,
    ),
  );
  expect(grants.filter((pair) => pair.startsWith('dynamodb:BatchGetItem '))).toEqual([]);
});

it('an endpoint without onlineFeatureTables reads no feature table, and its function knows it may read none', () => {
  const [, fn] = endpointFunction(synth.template, 'wine');
  expect((fn['Environment'] as { Variables: Record<string, unknown> }).Variables['ONLINE_FEATURE_TABLES']).toBe('');
  expect(featureReads('wine')).toEqual([]);
});

it.each([
  [['a b'], 'must be a DynamoDB table name'],
  [['ab'], 'must be a DynamoDB table name'],
  [['t1', 't1'], 'names a table twice'],
])('the config refuses onlineFeatureTables %j', (tables, message) => {
  expect(() => parseAppConfig({ ...TWO_ENDPOINTS, endpoints: [{ model: 'iris', onlineFeatureTables: tables }] })).toThrow(message);
});
