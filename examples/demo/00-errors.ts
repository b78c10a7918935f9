import { ConfigError, isDbkitError } from '../../src/index.js';
import type { DemoContext } from './context.js';

export const order = 0;
export const title = 'Typed errors';

export async function run(_ctx: DemoContext): Promise<void> {
  const err = new ConfigError('example: namespace must not be empty');
  console.log(
    `   every dbkit error has a class and a code: ${err.name} ${err.code}; isDbkitError -> ${isDbkitError(err, 'E_CONFIG')}`,
  );
}
