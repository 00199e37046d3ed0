import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// xz-decompress's own JS (a UMD file with its WebAssembly inside, ~26 KB), as text for
// the xz decoders to evaluate, on the main thread and in worker threads (src/appc/xz-pool.ts):
// the same text everywhere, bundled or not. Unbundled (tsx, tests) it is read from
// node_modules; scripts/bundle.mjs replaces this module with one returning the file's
// text, since a device has no node_modules.

let source: string | undefined;

export function xzLibrarySource(): string {
  source ??= readFileSync(createRequire(import.meta.url).resolve('xz-decompress'), 'utf8');
  return source;
}
