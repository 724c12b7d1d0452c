/**
 * The local DynamoDB: dynalite on loopback behind a front server, persisting under
 * `<dataDir>/dynamodb` or in memory. The front passes every request through to dynalite, holding
 * a shared lock, and runs TransactWriteItems and TransactGetItems itself (`transactions.ts`)
 * holding the exclusive one. dynalite has no UpdateTimeToLive: tables are created without TTL
 * and items never expire.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Dynalite, type DynamoResponse, dynalite, type Json } from './dynalite.js';
import { close, hostForUrl, listen, readBody, type RunningServer, SharedExclusiveLock } from './loopback.js';
import { TRANSACTION_JOURNAL_DIR, TransactionJournal, TransactionRunner } from './transactions.js';

/** dynalite checks that requests are signed, not by whom. */
export const DYNAMO_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * Starts dynalite on an ephemeral loopback port and the front server on `host:port`, after
 * undoing any transaction a kill cut short (with a data folder).
 */
export async function startDynamo(host: string, port: number, dataDir: string | undefined): Promise<RunningServer> {
  const storePath = dataDir ? path.join(dataDir, 'dynamodb') : undefined;
  if (storePath) await mkdir(storePath, { recursive: true });
  const backend = dynalite({
    ...(storePath ? { path: storePath } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await listen(backend, '127.0.0.1', 0);
  const backendPort = (backend.address() as AddressInfo).port;
  const agent = new http.Agent({ keepAlive: true });
  const store = new Dynalite(backendPort, agent);
  const journal = new TransactionJournal(dataDir ? path.join(dataDir, TRANSACTION_JOURNAL_DIR) : undefined);
  const front = http.createServer(frontHandler(store, journal));
  try {
    // A transaction a kill cut short is undone before anything is served.
    await journal.recover(store);
    await listen(front, host, port);
  } catch (error) {
    agent.destroy();
    await close(backend);
    throw error;
  }
  return {
    endpoint: `http://${hostForUrl(host)}:${(front.address() as AddressInfo).port}`,
    async stop() {
      await close(front);
      agent.destroy();
      await close(backend);
    },
  };
}

function frontHandler(dynalite: Dynalite, journal: TransactionJournal): http.RequestListener {
  const lock = new SharedExclusiveLock();
  const transactions = new TransactionRunner(dynalite, journal);
  return (request, response) => {
    const operation = String(request.headers['x-amz-target'] ?? '').split('.')[1];
    const handled =
      request.method === 'POST' && (operation === 'TransactWriteItems' || operation === 'TransactGetItems')
        ? runTransaction(operation, request, response, lock, transactions)
        : forward(request, response, dynalite, lock);
    handled.catch((error: unknown) => {
      if (!response.headersSent) {
        send(response, {
          status: 500,
          body: { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: String(error) },
        });
      } else {
        response.destroy();
      }
    });
  };
}

async function forward(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  dynalite: Dynalite,
  lock: SharedExclusiveLock,
): Promise<void> {
  // The client may hang up while we wait for the lock, and a 'close' listener added after the
  // event never runs: without this flag that request would hold the shared lock forever and every
  // later transaction (and, the lock being FIFO, every request behind it) would hang.
  let clientGone = false;
  const onEarlyClose = () => {
    clientGone = true;
  };
  response.once('close', onEarlyClose);
  const release = await lock.acquire(false);
  response.off('close', onEarlyClose);
  if (clientGone) {
    release();
    return;
  }
  response.once('close', release);
  const upstream = http.request(
    {
      host: '127.0.0.1',
      port: dynalite.port,
      agent: dynalite.agent,
      method: request.method,
      path: request.url,
      headers: request.headers,
    },
    (upstreamResponse) => {
      response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
      upstreamResponse.pipe(response);
    },
  );
  upstream.on('error', () => {
    release();
    response.destroy();
  });
  request.pipe(upstream);
}

async function runTransaction(
  operation: 'TransactWriteItems' | 'TransactGetItems',
  request: http.IncomingMessage,
  response: http.ServerResponse,
  lock: SharedExclusiveLock,
  transactions: TransactionRunner,
): Promise<void> {
  const text = await readBody(request);
  let input: Json;
  try {
    input = JSON.parse(text) as Json;
  } catch {
    send(response, { status: 400, body: { __type: 'com.amazon.coral.service#SerializationException' } });
    return;
  }
  const release = await lock.acquire(true);
  try {
    send(response, operation === 'TransactWriteItems' ? await transactions.write(input) : await transactions.get(input));
  } finally {
    release();
  }
}

function send(response: http.ServerResponse, result: DynamoResponse): void {
  const body = JSON.stringify(result.body);
  response.writeHead(result.status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': randomBytes(26).toString('hex').toUpperCase(),
  });
  response.end(body);
}
