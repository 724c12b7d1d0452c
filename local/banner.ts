/**
 * Lines of `npm start`'s banner that tell a person how to reach this server and what it prints
 * next: the `MODELCTL_API` to set when modelctl's default would miss it, and the request log.
 */
import { DEFAULT_API_URL } from '../bin/modelctl/http.js';

/**
 * When the server is not where `modelctl` calls by default (`PORT` is not 3000), the line to
 * paste so that it calls this one; nothing otherwise.
 *
 * @example
 * modelctlApiLines('http://127.0.0.1:3917');
 * // ['modelctl calls http://127.0.0.1:3000 unless told; for this server:', '  export MODELCTL_API=http://127.0.0.1:3917']
 */
export function modelctlApiLines(url: string): string[] {
  if (url.replace(/\/+$/, '') === DEFAULT_API_URL) return [];
  return [`modelctl calls ${DEFAULT_API_URL} unless told; for this server:`, `  export MODELCTL_API=${url}`];
}

/** The banner's last line: what follows it (one line per request), or that nothing will (`ACCESS_LOG=off`). */
export function requestLogLine(accessLog: boolean): string {
  return accessLog
    ? 'Requests, one line each as they are answered (ACCESS_LOG=off turns this off):'
    : 'Requests are not logged (ACCESS_LOG=off).';
}
