/**
 * Reading the AWS SDK's errors without `instanceof` (an error from another copy of a package, or
 * from another realm under jest's VM modules, fails it): their `name` is the service's error code.
 */

/** The error's `name` (`NoSuchKey`, `PreconditionFailed`, ...), or `''`. */
export function errorName(error: unknown): string {
  const name = typeof error === 'object' && error !== null ? (error as { name?: unknown }).name : undefined;
  return typeof name === 'string' ? name : '';
}
