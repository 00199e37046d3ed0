import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

/** Generated inputs live here between runs; shown as $BENCH_TMP in the docs. */
export const benchTmp = process.env.BENCH_TMP ?? join(tmpdir(), 'rkt-arm-bench');

/** The bundles the benchmarks time, as `npm run build` writes them. */
export const actool = join(repoRoot, 'dist', 'actool');
export const rkt = join(repoRoot, 'dist', 'rkt');
