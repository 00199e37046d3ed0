// stdin -> parallelGzip -> stdout, so the benchmark can time the compression side of
// `actool build` on its own. Bundled with esbuild before use, as the CLI is.
// Usage: node pgzip-filter.mjs [BLOCK_KIB [WORKERS]]
import { pipeline } from 'node:stream/promises';
import { parallelGzip } from '../src/appc/pgzip.ts';

const [block, workers] = process.argv.slice(2).map(Number);
await pipeline(
  process.stdin,
  parallelGzip({ ...(block ? { blockSize: block * 1024 } : {}), ...(workers ? { workers } : {}) }),
  process.stdout,
);
