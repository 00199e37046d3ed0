import { createRequire } from 'node:module';
import type { pino } from 'pino';

// Unbundled (tsx, tests) pino is found in node_modules. scripts/bundle.mjs replaces this
// module with a plain `require('pino')`, which esbuild bundles and only evaluates when
// called: most commands never write a log line, and would pay for pino at start-up.
export function requirePino(): typeof pino {
  return createRequire(import.meta.url)('pino') as typeof pino;
}
