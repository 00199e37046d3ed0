import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { actool, benchTmp, repoRoot } from './lib/paths.ts';
import { ensureImageLayout } from './lib/tree.ts';
import type { BenchCase, Runner } from './lib/types.ts';

const root = join(benchTmp, 'actool-build-v1');
const layout = join(root, 'layout');
const tarball = join(root, 'layout.tar');
const out = join(root, 'out');
const filter = join(root, 'pgzip-filter.mjs');

const tar = `tar -C ${layout} -cf - .`;
const missing = (tool: string) => () => (spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0 ? null : `${tool} not installed`);

function setup(): void {
  const { files, bytes } = ensureImageLayout(root);
  console.error(`actool-build: layout of ${files} files, ${(bytes / 1e6).toFixed(1)} MB in ${layout}`);
  if (!existsSync(tarball)) spawnSync('sh', ['-c', `${tar} > ${tarball}`], { stdio: 'inherit' });
  // Bundled like the CLI, so the workers start the way they will in dist/actool.
  buildSync({
    entryPoints: [join(repoRoot, 'bench', 'pgzip-filter.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: filter,
    logLevel: 'error',
  });
}

const pigz = (input: string, output: string): Runner => ({
  label: 'pigz -6',
  cmd: `${input} | pigz -6 > ${output}`,
  output,
  unavailable: missing('pigz'),
});

const pgzip = (input: string, output: string): Runner => ({
  label: 'parallelGzip (bundled filter)',
  cmd: `${input} | node ${filter} > ${output}`,
  output,
});

export const notes = `
What \`actool build\` costs against the shell way of making the same archive. The input
is a synthetic image layout made once from a seeded PRNG (bench/lib/tree.ts): a
manifest, 20,000 text-like files of 0.5-8 KiB and three large files of 12-18 MiB,
part text, part random; 103 MB, 118.6 MB as tar. "tar only" cases separate the
compression from walking the tree: the filter pipes stdin through parallelGzip
(src/appc/pgzip.ts) with its defaults (128 KiB blocks, min(cpus, 4) workers).
`;

export const cases: BenchCase[] = [
  {
    name: 'build an ACI from a 100 MB layout',
    setup,
    baseline: { label: 'tar | gzip -6', cmd: `${tar} | gzip -6 > ${out}.tar.gz`, output: `${out}.tar.gz` },
    candidates: [
      {
        label: 'actool build',
        cmd: `node ${actool} build --overwrite ${layout} ${out}.aci`,
        output: `${out}.aci`,
        unavailable: () => (existsSync(actool) ? null : 'dist/actool not built (npm run build)'),
      },
      // Peak RSS without the workers: what walking and packing the tree costs on its own.
      {
        label: 'actool build --no-compression',
        cmd: `node ${actool} build --no-compression --overwrite ${layout} ${out}.tar`,
        output: `${out}.tar`,
        unavailable: () => (existsSync(actool) ? null : 'dist/actool not built (npm run build)'),
      },
      pigz(tar, `${out}.pigz.tar.gz`),
      pgzip(tar, `${out}.pgzip.tar.gz`),
    ],
  },
  {
    name: 'compress a 118.6 MB tar only',
    setup,
    baseline: { label: 'gzip -6', cmd: `cat ${tarball} | gzip -6 > ${out}.gz`, output: `${out}.gz` },
    candidates: [
      pigz(`cat ${tarball}`, `${out}.pigz.gz`),
      pgzip(`cat ${tarball}`, `${out}.pgzip.gz`),
      {
        label: 'node zlib.createGzip (one thread)',
        cmd: `cat ${tarball} | node -e "require('stream').pipeline(process.stdin, require('zlib').createGzip(), process.stdout, (e) => { if (e) throw e })" > ${out}.zlib.gz`,
        output: `${out}.zlib.gz`,
      },
    ],
  },
];
