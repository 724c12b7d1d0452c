/**
 * The lines of `npm start`'s banner about modelctl and the request log (`local/banner.ts`): the
 * `export MODELCTL_API=...` line only when modelctl's default would miss the server.
 */
import { DEFAULT_API_URL } from '../../bin/modelctl/http.js';
import { modelctlApiLines, requestLogLine } from '../../local/banner.js';

it("prints no MODELCTL_API line on modelctl's default port, 3000", () => {
  expect(DEFAULT_API_URL).toBe('http://127.0.0.1:3000');
  expect(modelctlApiLines('http://127.0.0.1:3000')).toEqual([]);
  expect(modelctlApiLines('http://127.0.0.1:3000/')).toEqual([]);
});

it('prints the export line to paste on any other port', () => {
  expect(modelctlApiLines('http://127.0.0.1:8080')).toEqual([
    'modelctl calls http://127.0.0.1:3000 unless told; for this server:',
    '  export MODELCTL_API=http://127.0.0.1:8080',
  ]);
  expect(modelctlApiLines('http://127.0.0.1:30000')[1]).toBe('  export MODELCTL_API=http://127.0.0.1:30000');
});

it('says whether a line per request follows the banner', () => {
  expect(requestLogLine(true)).toBe('Requests, one line each as they are answered (ACCESS_LOG=off turns this off):');
  expect(requestLogLine(false)).toBe('Requests are not logged (ACCESS_LOG=off).');
});
