/**
 * Runs before each CDK test file: the folder the file's apps synthesize into is removed when the
 * file is done, so the suite leaves no `cdk.out` copies of the assets in the temporary directory.
 */
import { afterAll } from '@jest/globals';
import { removeCdkOutdir } from './helpers.js';

afterAll(removeCdkOutdir);
