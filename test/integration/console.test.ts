/**
 * The web console (`/console`, local/console.ts and local/console/) in a real headless Chromium
 * (`@sparticuz/chromium` driven by `puppeteer-core`), against the whole local stack with
 * authorization on: real tokens signed by the stack's key, the real authorizer, real ONNX Runtime.
 *
 * Screenshots are compared by what they show, not by pixels: each one is taken at a moment the
 * page is settled, and at that moment the test asserts on the DOM and the accessibility tree
 * (texts, roles, visible elements whose boxes are non-empty and inside the viewport).
 * `WRITE_CONSOLE_SCREENSHOT=1` also saves the screenshot of a prediction as docs/console.png,
 * the README's picture.
 *
 * Every shell command the pages show (`/`, the API document behind `/docs`, the console) is run
 * as shown, in the project folder, against this stack's data folder (`DATA_DIR`, as a reader's
 * `.data`), and the tokens they mint are sent to the API.
 */
import chromium from '@sparticuz/chromium';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import puppeteer, { type HTTPRequest, type Browser, type Page, type SerializedAXNode } from 'puppeteer-core';
import type { TensorSpec } from '../../functions/core/model.js';
import { SAMPLE_MODEL, type LocalStack } from '../../local/stack.js';
import { startTestStack } from '../fixtures/stack-log.js';
import { int64Model, mixedInputModel } from '../fixtures/models.js';
import { buildModel } from '../support/onnx/builder.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const VIEWPORT = { width: 1280, height: 1080 } as const;
/** Jest's limit for one browser test: generous, as the suite may share a busy machine (each takes about a second). */
const BROWSER_TEST_MS = 60_000;
/** Written into the stage history by a "user": it must be shown as text, never run or parsed. */
const HOSTILE_REASON = '<img src=x onerror="window.__consolePwned=1"> looks <b>good</b>';
/** A token subject with markup, shown in the identity bar and as a prediction's caller. */
const HOSTILE_SUBJECT = '<svg onload="window.__consolePwned=2">eve';

/*
 * The page functions below run in the browser. The project's tsconfig has no DOM library (its
 * code runs in Node), so the few browser globals they use are declared here, for this file only.
 */
interface ShownElement {
  readonly textContent: string | null;
  readonly innerText: string;
  /** An input's text, a meter's number. */
  readonly value: string | number;
  querySelector(selector: string): ShownElement | null;
  querySelectorAll(selector: string): Iterable<ShownElement>;
  getAttribute(name: string): string | null;
}
declare const document: Pick<ShownElement, 'querySelector' | 'querySelectorAll'>;
declare const sessionStorage: { readonly length: number; setItem(key: string, value: string): void };
declare const window: { readonly __consolePwned?: number };
declare const location: { hash: string };

let stack: LocalStack;
let browser: Browser;
/** The stack's data folder: its signing key is the one `modelctl token` signs with. */
let dataDir: string;
/** Tokens: models:read and predict; predict only; models:read and predict for a subject with markup. */
let reader: string;
let predictOnly: string;
let hostile: string;

/** Inputs `n` int32 [N, 1] and `on` bool [N, 1], each answered as it is: one scalar field of each kind. */
function countsModel(): Uint8Array {
  const inputs: TensorSpec[] = [
    { name: 'n', type: 'int32', shape: ['N', 1] },
    { name: 'on', type: 'bool', shape: ['N', 1] },
  ];
  const outputs: TensorSpec[] = [
    { name: 'n_out', type: 'int32', shape: ['N', 1] },
    { name: 'on_out', type: 'bool', shape: ['N', 1] },
  ];
  return buildModel({
    inputs,
    outputs,
    nodes: [
      { op: 'Identity', inputs: ['n'], outputs: ['n_out'] },
      { op: 'Identity', inputs: ['on'], outputs: ['on_out'] },
    ],
  });
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'console-test-'));
  stack = await startTestStack({ driftIntervalMs: 0, dataDir });
  // A second iris version as a 25% canary; a model that takes named input tensors rather than
  // declared features, staged with a reason full of markup.
  const [bytes, metadata] = await Promise.all([
    readFile(SAMPLE_MODEL.file),
    readFile(SAMPLE_MODEL.metadata, 'utf8').then((t) => JSON.parse(t) as unknown),
  ]);
  const v2 = await stack.registry.register({ model: 'iris', bytes, metadata, actor: 'release-bot' });
  await stack.registry.transition({ model: 'iris', version: v2.version, to: 'staging', actor: 'release-bot', reason: 'passed review' });
  await stack.releases.promote({ model: 'iris', version: v2.version, canaryPercent: 25, actor: 'release-bot' });
  const pricing = await stack.registry.register({ model: 'pricing', bytes: mixedInputModel().bytes, metadata: {}, actor: 'test' });
  await stack.registry.transition({ model: 'pricing', version: pricing.version, to: 'staging', actor: 'test', reason: HOSTILE_REASON });
  await stack.registry.setProduction('pricing', pricing.version, 'test');
  // Scalar int32 and bool fields, and a 64-bit integer input typed as JSON.
  for (const [model, bytes] of [
    ['counts', countsModel()],
    ['ids', int64Model().bytes],
  ] as const) {
    const registered = await stack.registry.register({ model, bytes, metadata: {}, actor: 'test' });
    await stack.registry.transition({ model, version: registered.version, to: 'staging', actor: 'test' });
    await stack.registry.setProduction(model, registered.version, 'test');
  }
  const auth = stack.auth;
  if (!auth) throw new Error('the stack runs without authorization');
  reader = await auth.mint({ subject: 'console-user', scopes: ['models:read', 'predict'] });
  predictOnly = await auth.mint({ subject: 'predictor', scopes: ['predict'], models: ['iris'] });
  hostile = await auth.mint({ subject: HOSTILE_SUBJECT, scopes: ['models:read', 'predict'] });
  // Traffic for the statistics and the prediction log.
  const client = await auth.mint({ subject: 'checkout-service', scopes: ['predict'] });
  for (let i = 0; i < 6; i++) {
    const answer = await fetch(`${stack.url}/v1/models/iris/predict`, {
      method: 'POST',
      headers: { authorization: `Bearer ${client}`, 'content-type': 'application/json' },
      body: JSON.stringify({ features: { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 } }),
    });
    expect(answer.status).toBe(200);
  }
  await stack.flush();
  browser = await puppeteer.launch({
    executablePath: await chromium.executablePath(),
    args: [...chromium.args, '--disable-background-networking'],
    headless: 'shell',
    defaultViewport: VIEWPORT,
  });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** The pages a test opened, closed after it. */
const pages: Page[] = [];

afterEach(async () => {
  for (const page of pages.splice(0)) await page.close();
});

/**
 * The console in a new tab, so signed out: the token is kept in the tab's sessionStorage. (One
 * browser context for all: the bundled Chromium runs as a single process, and closing a second
 * context ends it.) The page's script errors are collected for the test to check.
 */
async function openConsole(hash = ''): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  pages.push(page);
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error instanceof Error ? error.message : String(error)));
  await page.goto(`${stack.url}/console${hash}`);
  return { page, errors };
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.waitForSelector('#token');
  await page.locator('#token').fill(token);
  await page.click('form.sign-in button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#identity button')?.textContent === 'Sign out');
}

/** Waits until nothing on the page says "Loading…" (the page itself, while it asks whether the model exists, and each panel). */
async function settled(page: Page): Promise<void> {
  await page.waitForFunction(() => !document.querySelector('main')?.textContent?.includes('Loading…'));
}

/** What the page shows of an element: its rendered text (`innerText`: hidden parts left out, line breaks as laid out). */
function text(page: Page, selector: string): Promise<string> {
  // biome-ignore lint/performance/useDomNodeTextContent: the test reads what is shown, not the DOM's text.
  return page.$eval(selector, (element) => (element as unknown as ShownElement).innerText);
}

/** The rows of a table (by its aria-label), each row's cells as the page shows them. */
function rows(page: Page, label: string): Promise<string[][]> {
  return page.$$eval(`table[aria-label="${label}"] tbody tr`, (trs) =>
    // biome-ignore lint/performance/useDomNodeTextContent: the test reads what is shown, not the DOM's text.
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => (td as unknown as ShownElement).innerText.trim())),
  );
}

/** The messages the form shows at its fields, by field name (the fields without one left out). */
function fieldMessages(page: Page): Promise<Record<string, string>> {
  return page.$$eval('form.predict-form .field', (divs) =>
    Object.fromEntries(
      divs
        .map((d) => [d.querySelector('label')?.textContent ?? '', d.querySelector('.field-error:not([hidden])')?.textContent ?? ''])
        .filter(([, message]) => message !== ''),
    ),
  );
}

/** The fields marked invalid (`aria-invalid="true"`), by name. */
function invalidFields(page: Page): Promise<string[]> {
  return page.$$eval('form.predict-form [aria-invalid="true"]', (found) => found.map((e) => e.getAttribute('name') ?? ''));
}

/** The bodies of the predict requests the page sends from now on (as sent, JSON text). */
function predictRequests(page: Page): string[] {
  const bodies: string[] = [];
  page.on('request', (request: HTTPRequest) => {
    if (request.method() === 'POST' && /\/v1\/models\/[^/]+\/predict$/.test(new URL(request.url()).pathname))
      bodies.push(request.postData() ?? '');
  });
  return bodies;
}

/** Types `value` into the form's field `name` (every other field as it is) and submits the form. */
async function submitWith(page: Page, name: string, value: string): Promise<void> {
  await page.locator(`form.predict-form [name="${name}"]`).fill(value);
  await page.click('form.predict-form button[type=submit]');
}

/** Asserts the element is rendered, with a non-empty box inside the viewport. */
async function expectVisible(page: Page, selector: string): Promise<void> {
  const element = await page.$(selector);
  expect(element).not.toBeNull();
  const box = await element?.boundingBox();
  expect(box).not.toBeNull();
  if (!box) return;
  expect(box.width).toBeGreaterThan(0);
  expect(box.height).toBeGreaterThan(0);
  expect(box.x).toBeGreaterThanOrEqual(0);
  expect(box.y).toBeGreaterThanOrEqual(0);
  expect(box.x + box.width).toBeLessThanOrEqual(VIEWPORT.width);
  expect(box.y + box.height).toBeLessThanOrEqual(VIEWPORT.height);
}

/** A screenshot of the viewport; a PNG of the viewport's size. */
async function screenshot(page: Page): Promise<Uint8Array> {
  const png = await page.screenshot({ type: 'png' });
  expect(Buffer.from(png.subarray(1, 4)).toString('latin1')).toBe('PNG');
  const header = Buffer.from(png.subarray(16, 24));
  expect({ width: header.readUInt32BE(0), height: header.readUInt32BE(4) }).toEqual(VIEWPORT);
  return png;
}

/** Names of the accessibility tree's nodes of `role`. */
function named(node: SerializedAXNode | null, role: string): string[] {
  if (!node) return [];
  const own = node.role === role && node.name ? [node.name] : [];
  return [...own, ...(node.children ?? []).flatMap((child) => named(child, role))];
}

/** A request with a path sent exactly as given (no client-side normalization of `..`). */
function rawGet(
  pathText: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const url = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: url.hostname, port: url.port, path: pathText, method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    request.on('error', reject);
    request.end();
  });
}

describe('the console files', () => {
  it('are served with their content types, a content security policy and revalidation by ETag', async () => {
    // Act
    const index = await rawGet('/console');
    const slash = await rawGet('/console/');
    const script = await rawGet('/console/app.js');
    const style = await rawGet('/console/console.css');
    const config = await rawGet('/console/config.json');
    const again = await rawGet('/console/app.js', { 'if-none-match': String(script.headers.etag) });
    const head = await rawGet('/console/app.js', {}, 'HEAD');

    // Assess
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.body).toContain('<script type="module" src="/console/app.js"></script>');
    expect(slash.body).toBe(index.body);
    expect(index.headers['content-security-policy']).toContain("script-src 'self'");
    expect(index.headers['content-security-policy']).toContain("connect-src 'self'");
    expect(index.headers['x-content-type-options']).toBe('nosniff');
    expect(index.headers['cache-control']).toBe('no-cache');
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.headers.etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    expect(style.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(JSON.parse(config.body).routeScopes['GET /v1/models/{model}/stats']).toBe('models:read');
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(script.headers['content-length']);
    expect(head.body).toBe('');
  });

  it('serve nothing outside the folder, and refuse methods other than GET and HEAD', async () => {
    // Act
    const attempts = await Promise.all(
      [
        '/console/../local/console.ts',
        '/console/%2e%2e/console.ts',
        '/console/..%2fconsole.ts',
        '/console/%2E%2E%2F%2E%2E%2Fpackage.json',
        '/console//etc/passwd',
        '/console/console/index.html',
        '/console/index.html%00.js',
      ].map((p) => rawGet(p)),
    );
    const posted = await rawGet('/console/app.js', {}, 'POST');

    // Assess
    for (const attempt of attempts) {
      // `/console/../x` reaches the server as sent; it is a 404 of the route table or the console, never a file.
      expect(attempt.status).toBe(404);
      expect(JSON.parse(attempt.body).error.code).toBe('ROUTE_NOT_FOUND');
    }
    expect(posted.status).toBe(405);
    expect(posted.headers.allow).toBe('GET, HEAD');
    expect(JSON.parse(posted.body).error.code).toBe('METHOD_NOT_ALLOWED');
  });
});

describe('the console in a browser', () => {
  it(
    'asks for a token, names the command that mints one, and refuses a token the API refuses',
    async () => {
      // Arrange
      const { page, errors } = await openConsole();
      await page.waitForSelector('#token');

      // Act
      await screenshot(page);
      const tree = await page.accessibility.snapshot({ interestingOnly: false });
      const intro = await text(page, 'main');
      await page.locator('#token').fill('not-a-token');
      await page.click('form.sign-in button[type=submit]');
      await page.waitForSelector('.sign-in-error .notice');

      // Assess
      expect(named(tree, 'heading')).toContain('Sign in');
      expect(intro).toContain('npm run -s modelctl -- token --scope models:read,predict');
      await expectVisible(page, '#token');
      await expectVisible(page, 'pre.command');
      expect(await text(page, '.sign-in-error')).toContain('The API refused the token: The bearer token is not a JWT');
      expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
      expect(errors).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  it(
    'signs in with a pasted token and shows the models, then a model with its versions, stages, release and history',
    async () => {
      // Arrange
      const { page, errors } = await openConsole();

      // Act
      await signIn(page, reader);
      await page.waitForSelector('table[aria-label="Registered models"] a');
      const models = await rows(page, 'Registered models');
      await page.click('table[aria-label="Registered models"] a[href="#/models/iris"]');
      await page.waitForSelector('h1');
      await settled(page);
      await screenshot(page);
      const tree = await page.accessibility.snapshot({ interestingOnly: false });

      // Assess
      expect(models.map((r) => r[0])).toEqual(expect.arrayContaining(['iris', 'pricing']));
      expect(models.find((r) => r[0] === 'iris')?.slice(1, 3)).toEqual(['1', '2']);
      expect(await text(page, 'h1')).toBe('iris');
      expect(named(tree, 'heading')).toEqual(
        expect.arrayContaining(['iris', 'Live release', 'Versions', 'Stage history', 'Recent predictions', 'Batch jobs', 'Experiments']),
      );
      expect(await text(page, '#identity')).toContain('console-user · models:read predict');
      const versions = await rows(page, 'Model versions');
      expect(versions.map((r) => r.slice(0, 2))).toEqual([
        ['2', 'staging'],
        ['1', 'production'],
      ]);
      expect(await page.$eval('.weights', (e) => e.getAttribute('aria-label'))).toBe(
        'stable model version 1: 75%, canary model version 2: 25%',
      );
      const stats = await rows(page, 'Per-version statistics');
      expect(stats.map((r) => [r[0], r[1], r[3]])).toEqual([
        ['stable', '1', '75%'],
        ['canary', '2', '25%'],
      ]);
      expect(stats.reduce((sum, r) => sum + Number(r[4]), 0)).toBe(6);
      const history = await rows(page, 'Stage history');
      expect(history.map((r) => r.slice(1, 4))).toEqual(
        expect.arrayContaining([
          ['1', 'development', 'staging'],
          ['1', 'staging', 'production'],
          ['2', 'development', 'staging'],
        ]),
      );
      expect((await rows(page, 'Recent predictions')).length).toBe(6);
      expect(await text(page, '#batch-jobs')).toContain('No batch jobs for this model.');
      expect(await text(page, '#experiments')).toContain('No experiments for this model.');
      for (const selector of [
        'h1',
        '.weights',
        'table[aria-label="Model versions"]',
        'table[aria-label="Stage history"]',
        'form.predict-form',
      ]) {
        await expectVisible(page, selector);
      }
      expect(errors).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  it(
    "runs a prediction from the form built from the model's features and shows the label and probabilities",
    async () => {
      // Arrange
      const { page, errors } = await openConsole('#/models/iris');
      await signIn(page, reader);
      await page.waitForSelector('form.predict-form');
      await settled(page);
      const fields = await page.$$eval('form.predict-form label', (labels) => labels.map((l) => l.textContent));
      const values = { sepal_length_cm: '6.3', sepal_width_cm: '3.3', petal_length_cm: '6.0', petal_width_cm: '2.5' };

      // Act
      for (const [name, value] of Object.entries(values)) await page.locator(`form.predict-form input[name="${name}"]`).fill(value);
      await page.click('form.predict-form button[type=submit]');
      await page.waitForSelector('.predicted-label');
      const png = await screenshot(page);
      const tree = await page.accessibility.snapshot({ interestingOnly: false });

      // Assess
      expect(fields).toEqual(['sepal_length_cm', 'sepal_width_cm', 'petal_length_cm', 'petal_width_cm']);
      expect(await text(page, '.predicted-label')).toBe('virginica');
      expect(await text(page, '.label-line')).toMatch(/^Predicted virginica with confidence 99\.\d\d%$/);
      const probabilities = await rows(page, 'Class probabilities');
      expect(probabilities.map((r) => r[0])).toEqual(['setosa', 'versicolor', 'virginica']);
      expect(probabilities.reduce((sum, r) => sum + Number(r[1]), 0)).toBeCloseTo(1, 4);
      const meters = await page.$$eval('table[aria-label="Class probabilities"] meter', (ms) =>
        ms.map((m) => Number((m as unknown as ShownElement).value)),
      );
      expect(meters[2]).toBeGreaterThan(0.99);
      expect(named(tree, 'meter')).toEqual(['Probability of setosa', 'Probability of versicolor', 'Probability of virginica']);
      expect(named(tree, 'table')).toContain('Class probabilities');
      expect(named(tree, 'status')).toContain('Prediction answer');
      expect(await text(page, '.served')).toMatch(/^Model version [12] \(function version \S+\) answered in [\d.]+ ms\.$/);
      await expectVisible(page, '.predicted-label');
      await expectVisible(page, 'table[aria-label="Class probabilities"]');
      expect(errors).toEqual([]);
      if (process.env['WRITE_CONSOLE_SCREENSHOT'] === '1') await writeFile(path.join(ROOT, 'docs/console.png'), png);
    },
    BROWSER_TEST_MS,
  );

  it(
    'builds the form from input tensors for a model without declared features, and shows its outputs and its errors',
    async () => {
      // Arrange
      const { page, errors } = await openConsole('#/models/pricing');
      await signIn(page, reader);
      await page.waitForSelector('form.predict-form');
      const fields = await page.$$eval('form.predict-form .field', (divs) =>
        divs.map((d) => [d.querySelector('label')?.textContent, d.querySelector('.type')?.textContent]),
      );

      // Act
      await page.locator('form.predict-form input[name="category"]').fill('large');
      await page.locator('form.predict-form input[name="amount"]').fill('2');
      await page.click('form.predict-form button[type=submit]');
      await page.waitForSelector('table[aria-label="Outputs"]');
      const outputs = await rows(page, 'Outputs');
      // Finite, but beyond float32: the API refuses it, naming the field.
      await page.locator('form.predict-form input[name="amount"]').fill('1e39');
      await page.click('form.predict-form button[type=submit]');
      await page.waitForSelector('.answer [role=alert]');
      await screenshot(page);

      // Assess
      expect(fields).toEqual([
        ['category', 'BYTES'],
        ['amount', 'FP32'],
      ]);
      expect(outputs).toEqual([['score', '[5]']]);
      const refusal = await text(page, '.answer [role=alert]');
      expect(refusal).toMatch(/^400 OUT_OF_RANGE\n/);
      expect(refusal).toContain('features.amount');
      expect(await fieldMessages(page)).toEqual({ amount: expect.stringMatching(/^OUT_OF_RANGE: 1e\+39 is outside the range of float32/) });
      await expectVisible(page, '.answer [role=alert]');
      await expectVisible(page, 'form.predict-form .field-error:not([hidden])');
      expect(errors).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  it(
    'tells a token without models:read which scope it lacks, and still lets it predict',
    async () => {
      // Arrange
      const { page, errors } = await openConsole();

      // Act
      await signIn(page, predictOnly);
      await page.waitForSelector('#models .notice');
      const listing = await text(page, '#models .notice');
      const limited = await text(page, 'main');
      await page.click('a[href="#/models/iris"]');
      await page.waitForSelector('form.predict-form');
      await settled(page);
      await screenshot(page);
      const versions = await text(page, '#versions');
      const start = await page.$$eval('form.predict-form input', (inputs) =>
        inputs.map((i) => String((i as unknown as ShownElement).value)),
      );
      const values = ['5.1', '3.5', '1.4', '0.2'];
      for (const [i, value] of values.entries()) await page.locator(`form.predict-form .field:nth-child(${i + 1}) input`).fill(value);
      await page.click('form.predict-form button[type=submit]');
      await page.waitForSelector('.predicted-label');

      // Assess
      expect(listing).toContain('403: this token lacks the scope "models:read".');
      // The command mints the scope lacking with the ones the token has.
      expect(listing).toContain('npm run -s modelctl -- token --scope predict,models:read');
      expect(limited).toContain('This token is limited to: iris');
      expect(versions).toContain('403: this token lacks the scope "models:read".');
      await expectVisible(page, '#versions .notice');
      // Without models:read the golden inputs cannot be read: the form starts empty.
      expect(start).toEqual(['', '', '', '']);
      expect(await text(page, '.predicted-label')).toBe('setosa');
      expect(errors).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  it(
    'refuses at the field a number it cannot send as typed, and sends the protocol strings for what JSON has no number for',
    async () => {
      // Arrange
      const { page, errors } = await openConsole('#/models/iris');
      await signIn(page, reader);
      await page.waitForSelector('form.predict-form');
      await settled(page);
      const sent = predictRequests(page);
      for (const [name, value] of Object.entries({ sepal_width_cm: '3.5', petal_length_cm: '1.4', petal_width_cm: '0.2' }))
        await page.locator(`form.predict-form input[name="${name}"]`).fill(value);

      // Act / Assess: each refused by the form, with its message at the field, nothing sent.
      const refused: [string, RegExp][] = [
        [
          '1e400',
          /^"1e400" is too large for a number \(the largest is about 1\.8e308\)\. Type Infinity or -Infinity for an infinite value\.$/,
        ],
        ['-1e400', /^"-1e400" is too large for a number/],
        ['', /^Fill in "sepal_length_cm": it takes a number \(FP32\)\.$/],
        ['abc', /^"sepal_length_cm" takes a number \(FP32\), or NaN, Infinity or -Infinity; "abc" is not one\.$/],
        ['inf', /is not one\.$/],
      ];
      for (const [value, message] of refused) {
        await submitWith(page, 'sepal_length_cm', value);
        await page.waitForSelector('form.predict-form .field-error:not([hidden])');
        expect({ value, messages: await fieldMessages(page) }).toEqual({
          value,
          messages: { sepal_length_cm: expect.stringMatching(message) },
        });
        expect(await invalidFields(page)).toEqual(['sepal_length_cm']);
        expect(await text(page, '.answer [role=alert]')).toMatch(/^Not sent: /);
        expect(await page.evaluate(() => document.querySelector(':focus')?.getAttribute('name'))).toBe('sepal_length_cm');
      }
      await expectVisible(page, 'form.predict-form .field-error:not([hidden])');
      await screenshot(page);
      expect(sent).toEqual([]);

      // Act: the protocol's spelling of infinity is sent as that string, and served.
      await submitWith(page, 'sepal_length_cm', 'Infinity');
      await page.waitForSelector('.served');

      // Assess
      expect(sent.map((body) => JSON.parse(body).features.sepal_length_cm)).toEqual(['Infinity']);
      expect(await fieldMessages(page)).toEqual({});
      expect(await invalidFields(page)).toEqual([]);
      expect(errors).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  it(
    'checks integer, bool, string and JSON fields before sending, and sends exactly what they show',
    async () => {
      // Arrange
      const { page, errors } = await openConsole('#/models/counts');
      await signIn(page, reader);
      await page.waitForSelector('form.predict-form');
      await settled(page);
      const sent = predictRequests(page);
      const types = await page.$$eval('form.predict-form .field', (divs) =>
        divs.map((d) => [d.querySelector('label')?.textContent, d.querySelector('.type')?.textContent]),
      );

      // Act / Assess: an int32 field refuses a fraction, an exponent beyond 2^53, and numbers outside int32.
      const refused: [string, RegExp][] = [
        ['2.5', /^"n" takes a whole number \(INT32\); "2\.5" is not whole\.$/],
        ['1e20', /^Write "1e20" digit by digit/],
        ['99999999999', /^"99999999999" is outside the range of INT32, -2147483648 to 2147483647\.$/],
        ['9007199254740993', /^"9007199254740993" is outside the range of INT32/],
        ['NaN', /^"n" takes a whole number \(INT32\); "NaN" is not one\.$/],
      ];
      for (const [value, message] of refused) {
        await submitWith(page, 'n', value);
        await page.waitForSelector('form.predict-form .field-error:not([hidden])');
        expect({ value, messages: await fieldMessages(page) }).toEqual({ value, messages: { n: expect.stringMatching(message) } });
      }
      expect(sent).toEqual([]);
      await page.select('form.predict-form select[name="on"]', 'true');
      await submitWith(page, 'n', '-7');
      await page.waitForSelector('table[aria-label="Outputs"]');
      const outputs = await rows(page, 'Outputs');

      // Act: a 64-bit integer input typed as JSON.
      await page.evaluate(() => {
        location.hash = '#/models/ids';
      });
      await page.waitForSelector('form.predict-form textarea[name="ids"]');
      await settled(page);
      const jsonRefused: [string, RegExp][] = [
        ['[1e400, 1]', /^"ids" holds a number too large for JSON/],
        ['[9007199254740993, 1]', /^"ids" holds a whole number beyond 2\^53 as a JSON number, which loses digits: write it in quotes/],
        ['[1, 2', /^"ids" takes JSON: an array of shape \[2\]/],
      ];
      for (const [value, message] of jsonRefused) {
        await submitWith(page, 'ids', value);
        await page.waitForSelector('form.predict-form .field-error:not([hidden])');
        expect({ value, messages: await fieldMessages(page) }).toEqual({ value, messages: { ids: expect.stringMatching(message) } });
      }
      await submitWith(page, 'ids', '["9007199254740993", 1]');
      await page.waitForSelector('table[aria-label="Outputs"]');
      const next = await rows(page, 'Outputs');

      // Act: a string input sends what it shows, even nothing.
      await page.evaluate(() => {
        location.hash = '#/models/pricing';
      });
      await page.waitForSelector('form.predict-form input[name="category"]');
      await settled(page);
      await page.locator('form.predict-form input[name="amount"]').fill('2');
      await submitWith(page, 'category', '');
      await page.waitForSelector('table[aria-label="Outputs"]');

      // Assess
      expect(types).toEqual([
        ['n', 'INT32'],
        ['on', 'BOOL'],
      ]);
      expect(outputs).toEqual([
        ['n_out', '[-7]'],
        ['on_out', '[true]'],
      ]);
      expect(next).toEqual([['next', '["9007199254740994",2]']]);
      expect(sent.map((body) => JSON.parse(body))).toEqual([
        { features: { n: -7, on: true } },
        { features: { ids: ['9007199254740993', 1] } },
        { features: { category: '', amount: 2 } },
      ]);
      expect(errors).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  it(
    'shows one page for a model that does not exist, and for a name no model can have, with the way back',
    async () => {
      // Arrange
      const { page, errors } = await openConsole('#/models/nosuch');
      const asked: string[] = [];
      page.on('request', (request: HTTPRequest) => {
        const url = new URL(request.url());
        if (url.pathname.includes('/nosuch')) asked.push(`${request.method()} ${url.pathname}`);
      });
      await signIn(page, reader);
      await page.waitForSelector('.no-model h1');
      await settled(page);
      const tree = await page.accessibility.snapshot({ interestingOnly: false });
      await screenshot(page);

      // Assess: one heading, one message, no panels; the registry was asked once, nothing else.
      expect(await text(page, 'h1')).toBe('No model named “nosuch”');
      expect(await page.$$eval('main .notice', (found) => found.map((e) => e.textContent))).toEqual([
        'No model named "nosuch" is registered.',
      ]);
      expect(await page.$$eval('main .panel', (found) => found.length)).toBe(0);
      expect(asked).toEqual(['GET /v1/models/nosuch']);
      expect(named(tree, 'heading')).toEqual(['No model named “nosuch”']);
      expect(named(tree, 'link')).toEqual(expect.arrayContaining(['Models', 'Back to the models list']));
      await expectVisible(page, 'a.back');

      // Act: a name no model can have (with markup), then back to the list.
      await page.evaluate(() => {
        location.hash = `#/models/${encodeURIComponent('<b>Bad Name</b>')}`;
      });
      await page.waitForFunction(() => document.querySelector('h1')?.textContent?.includes('Bad Name'));
      const malformed = await text(page, 'main');
      const panels = await page.$$eval('main .panel', (found) => found.length);
      await page.click('a.back');
      await page.waitForSelector('table[aria-label="Registered models"]');

      // Assess
      expect(malformed).toContain('No model named “<b>Bad Name</b>”');
      expect(malformed).toContain('A model name is 1 to 63 of a-z, 0-9, "-" and "_", starting with a letter or digit.');
      expect(panels).toBe(0);
      expect(await page.$$eval('main b', (found) => found.length)).toBe(0);
      expect(new URL(page.url()).hash).toBe('#/');
      expect(errors).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  it(
    'tells a token without models:read that a model does not exist, from the served metadata',
    async () => {
      // Arrange
      const predictor = await (stack.auth as NonNullable<LocalStack['auth']>).mint({ subject: 'predictor', scopes: ['predict'] });
      const { page, errors } = await openConsole('#/models/nosuch');

      // Act
      await signIn(page, predictor);
      await page.waitForSelector('.no-model h1');
      await settled(page);

      // Assess
      expect(await text(page, 'h1')).toBe('No model named “nosuch”');
      expect(await text(page, 'main .notice')).toBe('No model named "nosuch" is served here.');
      expect(await page.$$eval('main .panel', (found) => found.length)).toBe(0);
      expect(errors).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  it(
    'shows commands that run as shown: on /, in the API document behind /docs, and in the console',
    async () => {
      // Arrange: the commands as each page shows them.
      const index = await (await fetch(`${stack.url}/`)).text();
      const apiDocument = await (await fetch(`${stack.url}/openapi.json`)).text();
      const { page } = await openConsole();
      await page.waitForSelector('pre.command');
      const signInCommand = await text(page, 'pre.command');
      await signIn(page, predictOnly);
      await page.waitForSelector('#models pre.command');
      const forbiddenCommand = await text(page, '#models pre.command');
      const registerHelp = await page.evaluate(async () => {
        const commands = (await import('/console/commands.js' as string)) as { REGISTER_HELP_COMMAND: string };
        return commands.REGISTER_HELP_COMMAND;
      });
      const shown = [
        ...[...index.matchAll(/<code>([^<]*modelctl[^<]*)<\/code>/g)].map((m) => m[1] as string),
        ...[...apiDocument.matchAll(/`(npm run[^`]*)`/g)].map((m) => m[1] as string),
        signInCommand.trim(),
        forbiddenCommand.trim(),
        registerHelp,
      ];

      for (const command of shown) {
        // Act: in the project folder, as a reader runs it (DATA_DIR names this stack's data folder).
        const { stdout } = await run('sh', ['-c', command], { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir } });

        // Assess: a token is accepted by the API, for what its scopes say.
        if (!command.includes(' token ')) {
          expect({ command, help: stdout.includes('Usage: modelctl register') }).toEqual({ command, help: true });
          continue;
        }
        const headers = { authorization: `Bearer ${stdout.trim()}`, 'content-type': 'application/json' };
        const listed = await fetch(`${stack.url}/v1/models`, { headers });
        const predicted = await fetch(`${stack.url}/v1/models/iris/predict`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ features: { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 } }),
        });
        expect({ command, listed: listed.status, predicted: predicted.status }).toEqual({ command, listed: 200, predicted: 200 });
      }
      expect(shown).toEqual(
        expect.arrayContaining([
          'npm run -s modelctl -- token --scope models:read,predict',
          'npm run -s modelctl -- token --scope predict,models:read',
          'npm run -s modelctl -- register --help',
        ]),
      );
      expect(shown.length).toBe(5);
    },
    BROWSER_TEST_MS,
  );

  it(
    'renders what users wrote (reasons, token subjects) as text, never as markup',
    async () => {
      // Arrange
      const { page, errors } = await openConsole('#/models/pricing');
      await signIn(page, hostile);
      await page.waitForSelector('form.predict-form');
      await page.locator('form.predict-form input[name="category"]').fill('small');
      await page.locator('form.predict-form input[name="amount"]').fill('4');
      await page.click('form.predict-form button[type=submit]');
      await page.waitForSelector('table[aria-label="Outputs"]');
      await stack.flush();

      // Act
      await page.click('.page-head button');
      await settled(page);
      const history = await rows(page, 'Stage history');
      const callers = (await rows(page, 'Recent predictions')).map((r) => r[2]);
      const who = await text(page, '#identity');

      // Assess
      expect(history.map((r) => r[5])).toContain(HOSTILE_REASON);
      expect(callers).toContain(HOSTILE_SUBJECT);
      expect(who).toContain(HOSTILE_SUBJECT);
      expect(await page.$$eval('main img, main b, #identity svg', (found) => found.length)).toBe(0);
      expect(await page.evaluate(() => window.__consolePwned)).toBeUndefined();
      expect(errors).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  it(
    'links to the API reference at /docs, which loads and lists the routes',
    async () => {
      // Arrange
      const { page, errors } = await openConsole();
      await page.waitForSelector('#token');

      // Act
      await Promise.all([page.waitForNavigation(), page.click('nav a[href="/docs"]')]);
      await page.waitForSelector('.opblock-summary-path');
      await screenshot(page);
      const paths = await page.$$eval('.opblock-summary-path', (found) => found.map((e) => e.textContent?.trim()));
      const tree = await page.accessibility.snapshot({ interestingOnly: false });

      // Assess
      expect(new URL(page.url()).pathname).toBe('/docs');
      expect(paths).toEqual(expect.arrayContaining(['/v1/models/{model}/predict', '/v1/models', '/v1/models/{model}/deployment']));
      expect(named(tree, 'heading').length).toBeGreaterThan(0);
      await expectVisible(page, '.opblock-summary-path');
      expect(errors).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  it(
    'goes back to the sign-in page with the reason when the API stops accepting the token',
    async () => {
      // Arrange
      const { page } = await openConsole();
      await signIn(page, reader);
      await page.waitForSelector('table[aria-label="Registered models"]');

      // Act: the stored token replaced by one signed with another key, as after the data folder's key changed.
      const [header, payload] = reader.split('.');
      await page.evaluate(
        (forged) => sessionStorage.setItem('onnx-serving.console.token', forged),
        `${header}.${payload}.${'A'.repeat(86)}`,
      );
      await page.click('a[href="#/models/iris"]');
      await page.waitForSelector('#token');

      // Assess
      expect(await text(page, '.sign-in-error')).toMatch(/^The API refused the token: /);
      expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    },
    BROWSER_TEST_MS,
  );

  it(
    'shows the newest predictions in "Recent predictions": one made after 21 others is on top',
    async () => {
      // Arrange: 21 predictions by one caller, then one by another (iris already has 6 from the start).
      const auth = stack.auth;
      if (!auth) throw new Error('the stack runs without authorization');
      const predict = async (subject: string) => {
        const token = await auth.mint({ subject, scopes: ['predict'] });
        const answer = await fetch(`${stack.url}/v1/models/iris/predict`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ features: { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 } }),
        });
        expect(answer.status).toBe(200);
      };
      for (let i = 0; i < 21; i++) await predict('bulk-caller');
      await predict('latest-caller');
      await stack.flush();
      const { page, errors } = await openConsole('#/models/iris');
      await signIn(page, reader);

      // Act
      await page.waitForSelector('table[aria-label="Recent predictions"]');
      await settled(page);
      const shown = await rows(page, 'Recent predictions');

      // Assess
      expect(shown).toHaveLength(20);
      expect(shown[0]?.[2]).toBe('latest-caller');
      expect(shown.slice(1).map((r) => r[2])).toEqual(Array(19).fill('bulk-caller'));
      expect(errors).toEqual([]);
    },
    BROWSER_TEST_MS,
  );
});
