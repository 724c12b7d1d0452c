/**
 * The error table of docs/protocol.md ("## Errors") lists exactly the error codes the product can emit: every code the
 * source constructs (the functions, the local stack, and the API's own gateway responses) has a
 * row, and every code in the table is still constructed somewhere. A new code without a row, or
 * a row for a code that is gone, fails here.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GATES, GateError } from '../../functions/core/gates.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Where codes are constructed: the functions, the local stack, the API's gateway responses. */
const SOURCES = ['functions', 'local', 'lib/serving-api.ts'];

const CODE = '([A-Z][A-Z0-9_]*[A-Z0-9])';

/**
 * The forms a code takes in the source:
 * - an error's constructor or `super` call: `new ValidationError('X', …)`, `new AppError(415, 'X', …)`, `super(501, 'X', …)`;
 * - a `code: 'X'` property of an error body (the local server's own answers, the gateway responses);
 * - an assignment `code = … 'X'` (the generic 500's `INTERNAL`).
 */
const CONSTRUCTED = '\\b(?:new\\s+[A-Z]\\w*Error|super)\\(\\s*(?:\\d{3}\\s*,\\s*)?';
const PATTERNS = [
  new RegExp(`${CONSTRUCTED}'${CODE}'`, 'g'),
  new RegExp(`\\bcode\\s*:\\s*'${CODE}'`, 'g'),
  new RegExp(`\\bcode\\s*=(?!=)[^;\\n]*?'${CODE}'`, 'g'),
];

function sourceFiles(entry: string): string[] {
  const full = path.join(ROOT, entry);
  if (statSync(full).isFile()) return [full];
  return readdirSync(full, { withFileTypes: true }).flatMap((dirent) =>
    dirent.isDirectory() ? sourceFiles(path.join(entry, dirent.name)) : dirent.name.endsWith('.ts') ? [path.join(full, dirent.name)] : [],
  );
}

/** The source without comments (a code named in a doc comment is not an emitted one). */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/** A code built from a template literal, `MISSING_${kind}`: its fixed prefix (`MISSING_`). */
const CONSTRUCTED_PREFIX = new RegExp(`${CONSTRUCTED}\`([A-Z][A-Z0-9_]*_)\\$\\{`, 'g');

interface SourceCodes {
  /** Every literal code, with a file that constructs it. */
  readonly codes: Map<string, string>;
  /** Prefixes of codes built at run time, with a file that builds them. */
  readonly prefixes: Map<string, string>;
}

/** Every code the source constructs. */
function codesInSource(): SourceCodes {
  const codes = new Map<string, string>();
  const prefixes = new Map<string, string>();
  for (const file of SOURCES.flatMap(sourceFiles)) {
    const text = withoutComments(readFileSync(file, 'utf8'));
    const where = path.relative(ROOT, file);
    for (const pattern of PATTERNS) {
      for (const match of text.matchAll(pattern)) if (!codes.has(match[1] as string)) codes.set(match[1] as string, where);
    }
    for (const match of text.matchAll(CONSTRUCTED_PREFIX)) prefixes.set(match[1] as string, where);
  }
  // Gate codes are built from the gate's name (`GATE_<NAME>`): each one by name.
  for (const gate of GATES) codes.set(new GateError(gate, '').code, 'functions/core/gates.ts');
  prefixes.delete('GATE_');
  return { codes, prefixes };
}

/** Every code in the rows of the "## Errors" table of docs/protocol.md. */
function codesInErrorTable(): Set<string> {
  const doc = readFileSync(path.join(ROOT, 'docs/protocol.md'), 'utf8');
  const start = doc.indexOf('\n## Errors\n');
  if (start < 0) throw new Error('docs/protocol.md has no "## Errors" section');
  const rest = doc.slice(start + 1);
  const next = rest.slice(1).search(/\n#{1,2} /);
  const section = next < 0 ? rest : rest.slice(0, next + 1);
  const rows = section.split('\n').filter((line) => line.startsWith('|') && !/^\|[-\s|]+\|$/.test(line) && !/^\|\s*status\s*\|/.test(line));
  const codes = new Set<string>();
  for (const row of rows) for (const match of row.matchAll(new RegExp(`\`${CODE}\``, 'g'))) codes.add(match[1] as string);
  return codes;
}

describe('the error table (docs/protocol.md)', () => {
  const { codes, prefixes } = codesInSource();
  const listed = codesInErrorTable();

  it('finds the codes it is about (the scan itself works)', () => {
    for (const code of [
      'MALFORMED_JSON',
      'INVALID_MODEL_NAME',
      'ROUTE_NOT_FOUND',
      'INTERNAL',
      'GATE_METRICS',
      'UNAUTHORIZED',
      'BAD_GATEWAY',
      'STATS_NOT_CONFIGURED',
    ]) {
      expect(codes.has(code)).toBe(true);
    }
    expect(listed.size).toBeGreaterThan(40);
  });

  it('lists every code the product can emit', () => {
    const missing = [...codes].filter(([code]) => !listed.has(code)).map(([code, file]) => `${code} (${file})`);
    // A code built at run time (`MISSING_${kind}`) needs at least one row of its form.
    const unlisted = [...prefixes]
      .filter(([prefix]) => ![...listed].some((code) => code.startsWith(prefix)))
      .map(([prefix, file]) => `${prefix}* (${file})`);
    expect([...missing, ...unlisted]).toEqual([]);
  });

  it('lists no code the product no longer emits', () => {
    const stale = [...listed].filter((code) => !codes.has(code) && ![...prefixes.keys()].some((prefix) => code.startsWith(prefix)));
    expect(stale).toEqual([]);
  });
});
