/**
 * The inference protocol's server metadata names the product as package.json does.
 */
import { readFileSync } from 'node:fs';
import { SERVER_METADATA } from '../../functions/core/server-metadata.js';

it('gives the name and version of package.json, and the extensions as a list of names', () => {
  // Prepare
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };

  // Assess
  expect({ name: SERVER_METADATA.name, version: SERVER_METADATA.version }).toEqual({ name: pkg.name, version: pkg.version });
  expect(SERVER_METADATA.extensions).toEqual(['binary_tensor_data']);
});
