/**
 * The request bodies we accept, validated with zod, and the safety checks every JSON body gets
 * before any of it is used: bounded depth and no `__proto__` keys.
 */
import * as z from 'zod';
import { ValidationError, formatPath, type FieldPath } from '../errors.js';

const record = z.record(z.string(), z.unknown());

/** `{"features": {...}}` (one row) or `{"instances": [...]}` (many; objects or arrays). */
export const RecordRequestSchema = z.union([
  z.strictObject({ features: record }),
  z.strictObject({ instances: z.array(z.union([record, z.array(z.unknown())])).min(1) }),
]);
export type RecordRequest = z.infer<typeof RecordRequestSchema>;

const parameters = record.optional();

/** Open Inference Protocol v2 inference request. */
export const V2RequestSchema = z.strictObject({
  id: z.string().max(256).optional(),
  parameters,
  inputs: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        shape: z.array(z.number().int().nonnegative()),
        datatype: z.string().min(1),
        data: z.array(z.unknown()),
        parameters,
      }),
    )
    .min(1),
  outputs: z.array(z.strictObject({ name: z.string().min(1), parameters })).optional(),
});
export type V2Request = z.infer<typeof V2RequestSchema>;

/** Parses with `schema`, turning the first zod issue into a ValidationError with its path. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, hint: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw toValidationError(result.error, value, hint);
}

function toValidationError(error: z.ZodError, value: unknown, hint: string): ValidationError {
  // A union reports each branch; pick the branch that got furthest (the longest path).
  const issues = flattenIssues(error.issues);
  const issue = issues.reduce((a, b) => (b.path.length > a.path.length ? b : a));
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    return new ValidationError('UNKNOWN_FIELD', `Unknown field "${key}". ${hint}`, [...path, key]);
  }
  if (issue.code === 'invalid_type' && valueAt(value, path) === undefined) {
    return new ValidationError('MISSING_FIELD', `Field "${formatPath(path) || 'body'}" is required. ${hint}`, path);
  }
  return new ValidationError('INVALID_REQUEST', `${issue.message}. ${hint}`, path);
}

type Issue = z.core.$ZodIssue;

function flattenIssues(issues: readonly Issue[]): Issue[] {
  const out: Issue[] = [];
  for (const issue of issues) {
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      for (const branch of issue.errors) {
        out.push(...flattenIssues(branch.map((i) => ({ ...i, path: [...issue.path, ...i.path] }) as Issue)));
      }
    } else {
      out.push(issue);
    }
  }
  return out.length > 0 ? out : [...issues];
}

function valueAt(value: unknown, path: readonly (string | number)[]): unknown {
  let node = value;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key as string];
  }
  return node;
}

/**
 * Walks a parsed JSON value once, without recursion, and refuses it when it nests deeper than
 * `maxDepth` or carries a `__proto__` key (which some consumers of the object would turn into a
 * prototype change).
 */
export function checkJsonSafety(value: unknown, maxDepth: number): void {
  interface Frame { node: unknown; key: string | number; parent: Frame | undefined; depth: number }
  const pathOf = (frame: Frame): FieldPath => {
    const path: (string | number)[] = [];
    for (let f: Frame | undefined = frame; f?.parent; f = f.parent) path.unshift(f.key);
    return path;
  };
  const stack: Frame[] = [{ node: value, key: '', parent: undefined, depth: 0 }];
  while (stack.length > 0) {
    const frame = stack.pop() as Frame;
    const { node, depth } = frame;
    if (node === null || typeof node !== 'object') continue;
    if (depth >= maxDepth) {
      throw new ValidationError('JSON_TOO_DEEP', `The body nests deeper than ${maxDepth} levels.`, pathOf(frame));
    }
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const child: unknown = node[i];
        if (child !== null && typeof child === 'object') stack.push({ node: child, key: i, parent: frame, depth: depth + 1 });
      }
      continue;
    }
    for (const key of Object.keys(node)) {
      if (key === '__proto__') {
        throw new ValidationError('FORBIDDEN_KEY', 'The key "__proto__" is not allowed anywhere in a request.', [...pathOf(frame), key]);
      }
      const child: unknown = (node as Record<string, unknown>)[key];
      if (child !== null && typeof child === 'object') stack.push({ node: child, key, parent: frame, depth: depth + 1 });
    }
  }
}
