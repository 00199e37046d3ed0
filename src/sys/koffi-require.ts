import { createRequire } from 'node:module';
import type koffi from 'koffi';

// Unbundled (tsx, tests) koffi finds its native part in node_modules. scripts/bundle.mjs
// replaces this module with a plain `require('koffi')`, which esbuild bundles and only
// evaluates when called: koffi's module body loads the native part at once.
export function requireKoffi(): typeof koffi {
  return (createRequire(import.meta.url)('koffi') as { default: typeof koffi }).default;
}
