/**
 * The Lambda side of a predict call: an API Gateway REST proxy event and a context, as API Gateway
 * and the Lambda runtime build them. Type imports only, so the cold-start harness can bundle this
 * file without loading anything.
 */
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';

/** The API Gateway REST proxy event for `POST /v1/models/{model}/predict`. */
export function predictEvent(model: string, body: string): APIGatewayProxyEvent {
  return {
    resource: '/v1/models/{model}/predict',
    path: `/v1/models/${model}/predict`,
    httpMethod: 'POST',
    headers: { 'content-type': 'application/json' },
    multiValueHeaders: { 'content-type': ['application/json'] },
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: { model },
    stageVariables: null,
    body,
    isBase64Encoded: false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'bench',
      authorizer: undefined,
      protocol: 'HTTP/1.1',
      httpMethod: 'POST',
      identity: {
        accessKey: null, accountId: null, apiKey: null, apiKeyId: null, caller: null, clientCert: null,
        cognitoAuthenticationProvider: null, cognitoAuthenticationType: null, cognitoIdentityId: null,
        cognitoIdentityPoolId: null, principalOrgId: null, sourceIp: '127.0.0.1', user: null, userAgent: 'bench', userArn: null,
      },
      path: `/bench/v1/models/${model}/predict`,
      stage: 'bench',
      // Empty: the handler then draws a fresh request id per call, as it does for every request.
      requestId: '',
      requestTimeEpoch: 0,
      resourceId: 'bench',
      resourcePath: '/v1/models/{model}/predict',
    },
  };
}

export function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'bench-predict',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:bench-predict',
    memoryLimitInMB: '1769',
    awsRequestId: 'bench',
    logGroupName: '/aws/lambda/bench-predict',
    logStreamName: 'bench',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

