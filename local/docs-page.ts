/**
 * The local API's pages for people: `GET /docs`, an interactive reference of the API (Swagger UI
 * from the `swagger-ui-dist` package, served from `node_modules`, no CDN) over the document at
 * `GET /openapi.json`, with the Authorize button taking a bearer token ({@link TOKEN_COMMAND}) that
 * every "Try it out" then sends; and `GET /`, a short index of what the server offers.
 *
 * What is served, and how:
 * - `GET /`: the index (HTML); `GET /docs` and `/docs/`: the reference page; `GET /docs/<name>`:
 *   one of the few files of swagger-ui-dist it loads, or its start script (generated here). `HEAD`
 *   too; any other method is a 405 `METHOD_NOT_ALLOWED`, any other name under `/docs/` a 404
 *   `ROUTE_NOT_FOUND`, both JSON like every error of the API.
 * - Files are looked up in a fixed list, never joined to a request's path; each is read once.
 * - A Content-Security-Policy that allows the page's own scripts and calls to this origin only
 *   (Swagger UI's validator badge, which would call an outside service, is off); inline styles
 *   are allowed, as Swagger UI sets some; `nosniff`, no referrer, no framing.
 *
 * @example
 * // in the local server's request handler, before the route table is consulted
 * if (isDocsPath(url.pathname)) return serveDocs(request, response, url, requestId);
 */
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { clip } from '../functions/core/errors.js';
import { sendError } from './http/responses.js';

/** Where the reference page is served. */
export const DOCS_PATH = '/docs';

/** Where the API's document is served (a public route of the route table). */
export const OPENAPI_PATH = '/openapi.json';

/** The files of swagger-ui-dist the page loads, with their content types. */
const DIST_FILES: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const HTML = 'text/html; charset=utf-8';

const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The reference page: Swagger UI's styles and bundle, and the start script. */
const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API reference · ONNX model serving</title>
<link rel="stylesheet" href="${DOCS_PATH}/swagger-ui.css">
<link rel="icon" type="image/png" href="${DOCS_PATH}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${DOCS_PATH}/swagger-ui-bundle.js"></script>
<script src="${DOCS_PATH}/start.js"></script>
</body>
</html>
`;

/**
 * Starts Swagger UI on the API's document. `persistAuthorization` is off: a pasted token lives
 * in this tab's memory only and is gone on reload, as the console promises (Swagger UI would
 * otherwise keep it in local storage); `tryItOutEnabled` opens every operation ready to send.
 */
const START_JS = `window.ui = SwaggerUIBundle({
  url: ${JSON.stringify(OPENAPI_PATH)},
  dom_id: '#swagger-ui',
  deepLinking: true,
  persistAuthorization: false,
  tryItOutEnabled: true,
  displayRequestDuration: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
`;

/**
 * The command the index shows for a token that may read the registry and try predictions; run
 * in the project folder as shown (`modelctl token` needs `--scope`). Other scopes: `modelctl
 * token --help`.
 */
export const TOKEN_COMMAND = 'npm run -s modelctl -- token --scope models:read,predict';

/** The index at `/`: where to go from here. */
const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ONNX model serving (local)</title>
</head>
<body>
<h1>ONNX model serving</h1>
<p>The same API as on AWS, on this machine.</p>
<ul>
<li><a href="${DOCS_PATH}">${DOCS_PATH}</a>: the API reference, to read and try (paste a token from <code>${TOKEN_COMMAND}</code> under Authorize)</li>
<li><a href="/console">/console</a>: the web console: models, releases, predictions</li>
<li><a href="${OPENAPI_PATH}">${OPENAPI_PATH}</a>: the API's OpenAPI 3.1 document; each model's own is at <code>/v1/models/{model}/openapi.json</code></li>
<li><a href="/v2/health/ready">/v2/health/ready</a>: readiness</li>
</ul>
</body>
</html>
`;

interface Page {
  readonly body: Buffer;
  readonly contentType: string;
}

/** Where swagger-ui-dist is installed. */
function distDir(): string {
  return path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
}

const distReads = new Map<string, Promise<Buffer>>();

/** A file of swagger-ui-dist, read once per process (a failed read is tried again next time). */
function distFile(name: string): Promise<Buffer> {
  let read = distReads.get(name);
  if (!read) {
    read = readFile(path.join(distDir(), name)).catch((error: unknown) => {
      distReads.delete(name);
      throw error;
    });
    distReads.set(name, read);
  }
  return read;
}

/** Whether `pathname` (as requested) is one of these pages': `/`, `/docs`, or under `/docs/`. */
export function isDocsPath(pathname: string): boolean {
  return pathname === '/' || pathname === DOCS_PATH || pathname.startsWith(`${DOCS_PATH}/`);
}

/** The page or file `pathname` names, or `undefined` when there is none. */
async function pageOf(pathname: string): Promise<Page | undefined> {
  if (pathname === '/') return { body: Buffer.from(INDEX_HTML), contentType: HTML };
  if (pathname === DOCS_PATH || pathname === `${DOCS_PATH}/`) return { body: Buffer.from(DOCS_HTML), contentType: HTML };
  const name = pathname.slice(DOCS_PATH.length + 1);
  if (name === 'start.js') return { body: Buffer.from(START_JS), contentType: 'text/javascript; charset=utf-8' };
  const type = Object.hasOwn(DIST_FILES, name) ? DIST_FILES[name] : undefined;
  return type ? { body: await distFile(name), contentType: type } : undefined;
}

/**
 * Answers a request for one of these paths ({@link isDocsPath}): the page or file, a 405 for a
 * method other than GET and HEAD, a 404 for a name under `/docs/` that is not served. The
 * request's body is not read.
 */
export async function serveDocs(request: http.IncomingMessage, response: http.ServerResponse, url: URL, requestId: string): Promise<void> {
  const method = request.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') {
    sendError(response, 405, 'METHOD_NOT_ALLOWED', `${clip(method, 16)} is not allowed here; use GET.`, 'method', requestId, {
      allow: 'GET, HEAD',
    });
    return;
  }
  const page = await pageOf(url.pathname);
  if (!page) {
    sendError(
      response,
      404,
      'ROUTE_NOT_FOUND',
      `No page ${JSON.stringify(clip(url.pathname, 80))}; the API reference is at ${DOCS_PATH}.`,
      'path',
      requestId,
    );
    return;
  }
  response.writeHead(200, {
    'content-type': page.contentType,
    'content-length': page.body.length,
    'cache-control': 'no-cache',
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  });
  response.end(method === 'HEAD' ? undefined : page.body);
}
