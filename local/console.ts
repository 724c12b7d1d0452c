/**
 * The web console: the static files of `local/console/` (HTML, CSS, ES modules; no framework and
 * no build step), served by the local API at `/console`. The console calls the API from the
 * browser with the token the user pastes, so it holds no data and needs no authorization of its
 * own; the API's authorizer decides what each panel may show.
 *
 * What is served, and how:
 * - `GET /console` and `GET /console/`: `index.html`; `GET /console/<name>`: the file `<name>` of
 *   the folder (top level only), and `GET /console/config.json`, generated here: the scope each
 *   route needs (`ROUTE_SCOPES`, `ALSO_OPENED_BY`), so the console names the scope a token lacks
 *   without a second copy of the table. `HEAD` too; any other method is a 405.
 * - No directory traversal by construction: the request's path is looked up in a map of the
 *   folder's file names read at the first request, never joined to a file system path.
 * - Content types by extension; `Cache-Control: no-cache` with a strong `ETag` (sha256 of the
 *   bytes), so a browser revalidates on every load (a 304 when unchanged) and never runs stale
 *   code after an update; a Content-Security-Policy that allows only the console's own scripts,
 *   styles and API calls (`connect-src 'self'`), `nosniff`, no referrer, no framing.
 * - Anything else under `/console/` is a JSON 404 `ROUTE_NOT_FOUND`, like every unknown path.
 *
 * @example
 * // in the local server's request handler, before the route table is consulted
 * if (isConsolePath(url.pathname)) return serveConsole(request, response, url, requestId);
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ALSO_OPENED_BY, ROUTE_SCOPES, SCOPES } from '../functions/auth/permissions.js';
import { clip } from '../functions/core/errors.js';
import { sendError } from './http/responses.js';

/** Where the console is served. */
export const CONSOLE_PATH = '/console';

/** The folder of the console's files. */
export const CONSOLE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'console');

/** The generated file that tells the console which scope each route needs. */
export const CONSOLE_CONFIG_FILE = 'config.json';

/** The content type of each file extension the console may hold; files of other types are not served. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * Only the console's own files: scripts, styles, images and API calls from this origin, no inline
 * script or style attribute, no plugins, no framing. Styles set through the CSSOM (a bar's width)
 * are not style attributes and stay allowed.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** One file as served: its bytes, content type and entity tag. */
export interface ConsoleAsset {
  readonly body: Buffer;
  readonly contentType: string;
  /** A strong ETag: `"<first 22 characters of the sha256 in base64url>"`. */
  readonly etag: string;
}

/** The console's files by the name they are requested by (`app.js`); `''` is `index.html`. */
export type ConsoleAssets = ReadonlyMap<string, ConsoleAsset>;

function asset(body: Buffer, contentType: string): ConsoleAsset {
  return { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/**
 * Reads the console's files (the top level of `dir`, the types of {@link CONTENT_TYPES} only)
 * and adds the generated {@link CONSOLE_CONFIG_FILE}. Throws when `dir` has no `index.html`.
 */
export async function loadConsoleAssets(dir: string = CONSOLE_DIR): Promise<ConsoleAssets> {
  const assets = new Map<string, ConsoleAsset>();
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const type = CONTENT_TYPES[path.extname(entry.name).toLowerCase()];
    if (!entry.isFile() || type === undefined || entry.name.startsWith('.')) continue;
    assets.set(entry.name, asset(await readFile(path.join(dir, entry.name)), type));
  }
  const index = assets.get('index.html');
  if (!index) throw new Error(`The console's folder ${dir} has no index.html.`);
  assets.set('', index);
  const config = { scopes: SCOPES, routeScopes: ROUTE_SCOPES, alsoOpenedBy: ALSO_OPENED_BY };
  assets.set(CONSOLE_CONFIG_FILE, asset(Buffer.from(JSON.stringify(config)), CONTENT_TYPES['.json'] as string));
  return assets;
}

let loaded: Promise<ConsoleAssets> | undefined;

/** The console's files, read once per process (a failed read is tried again at the next request). */
function defaultAssets(): Promise<ConsoleAssets> {
  loaded ??= loadConsoleAssets().catch((error: unknown) => {
    loaded = undefined;
    throw error;
  });
  return loaded;
}

/** Whether `pathname` (as requested, still percent-encoded) is the console's: `/console` or under `/console/`. */
export function isConsolePath(pathname: string): boolean {
  return pathname === CONSOLE_PATH || pathname.startsWith(`${CONSOLE_PATH}/`);
}

/**
 * Answers a request for a console path ({@link isConsolePath}): the file, a 304 when the
 * browser's copy is current, a 405 `METHOD_NOT_ALLOWED` for a method other than GET and HEAD, a
 * 404 `ROUTE_NOT_FOUND` for a name the console does not have. The request's body is not read.
 */
export async function serveConsole(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  url: URL,
  requestId: string,
  assets: Promise<ConsoleAssets> = defaultAssets(),
): Promise<void> {
  const method = request.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') {
    sendError(
      response,
      405,
      'METHOD_NOT_ALLOWED',
      `${clip(method, 16)} is not allowed here; the console's files take GET.`,
      'method',
      requestId,
      {
        allow: 'GET, HEAD',
      },
    );
    return;
  }
  const name = url.pathname === CONSOLE_PATH ? '' : url.pathname.slice(CONSOLE_PATH.length + 1);
  const file = (await assets).get(name);
  if (!file) {
    sendError(
      response,
      404,
      'ROUTE_NOT_FOUND',
      `The console has no file ${JSON.stringify(clip(name, 80))}; open ${CONSOLE_PATH}/ in a browser.`,
      'path',
      requestId,
    );
    return;
  }
  const headers = {
    'content-type': file.contentType,
    etag: file.etag,
    'cache-control': 'no-cache',
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  };
  if (matchesEtag(request.headers['if-none-match'], file.etag)) {
    response.writeHead(304, headers);
    response.end();
    return;
  }
  response.writeHead(200, { ...headers, 'content-length': file.body.length });
  response.end(method === 'HEAD' ? undefined : file.body);
}

/** `If-None-Match` (a list of tags, `W/` prefixes compared weakly, or `*`) names `etag`. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const value = tag.trim();
    return value === '*' || value === etag || value === `W/${etag}`;
  });
}
