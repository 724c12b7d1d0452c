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
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: '127.0.0.1',
        user: null,
        userAgent: 'bench',
        userArn: null,
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

/**
 * The API Gateway REST proxy event for `POST /v2/models/{model}/infer` in the binary tensor
 * form: a JSON header, then the rows' float32 bytes, base64-encoded as API Gateway passes a
 * binary media type; the outputs asked for as binary too.
 */
export function binaryInferEvent(model: string, input: string, data: Float32Array, shape: readonly number[]): APIGatewayProxyEvent {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: input, shape, datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }],
      parameters: { binary_data_output: true },
    }),
    'utf8',
  );
  const body = Buffer.concat([header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
  const event = predictEvent(model, '');
  const headers = {
    'content-type': 'application/octet-stream',
    accept: 'application/octet-stream',
    'inference-header-content-length': String(header.byteLength),
  };
  return {
    ...event,
    resource: '/v2/models/{model}/infer',
    path: `/v2/models/${model}/infer`,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    body: body.toString('base64'),
    isBase64Encoded: true,
    requestContext: { ...event.requestContext, resourcePath: '/v2/models/{model}/infer', path: `/bench/v2/models/${model}/infer` },
  };
}
