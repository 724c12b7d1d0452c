import { formatPath } from '../../functions/core/errors.js';
import * as z from 'zod';

describe('formatPath', () => {
  it('renders indexes in brackets and keys with dots', () => {
    expect(formatPath(['instances', 3, 'sepal_length'])).toBe('instances[3].sepal_length');
    expect(z.string().safeParse(1).success).toBe(false);
  });
});
