// `npm run build`: dist/rkt and dist/actool, each one self-contained file (Node is the
// only other thing a device needs). dist/rkt carries koffi's native parts inside;
// dist/actool must carry no Linux-only code at all, since it runs on macOS too.

import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { koffiNatives, koffiVersion } from './koffi-natives.mjs';

const root = path.resolve(import.meta.dirname, '..');

// yargs 18 is ESM-only, so the bundles are ESM; CJS dependencies (koffi, pino,
// tar-stream) still expect CommonJS's globals. __filename and __dirname get private
// names (see `define`) because ESM modules in the bundle declare their own.
const BANNER = `#!/usr/bin/env node
import { createRequire as __rktCreateRequire } from 'node:module';
import { fileURLToPath as __rktFileURLToPath } from 'node:url';
import { dirname as __rktDirname } from 'node:path';
const require = __rktCreateRequire(import.meta.url);
const __rkt_filename = __rktFileURLToPath(import.meta.url);
const __rkt_dirname = __rktDirname(__rkt_filename);`;

let natives;

// Fetched only when a bundle imports koffi: building dist/actool needs none of it.
function embeddedNatives() {
  natives ??= koffiNatives();
  return natives;
}

/** The esbuild options every bundle of this project uses; tests build probes with them. */
export function bundleOptions({ entry, outfile }) {
  return {
    absWorkingDir: root,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    banner: { js: BANNER },
    define: { __filename: '__rkt_filename', __dirname: '__rkt_dirname' },
    // A smaller file to read from an SD card; names stay readable in stack traces.
    minifySyntax: true,
    minifyWhitespace: true,
    sourcemap: 'linked',
    // The embedded native parts would otherwise be copied into the map.
    sourcesContent: false,
    metafile: true,
    write: false,
    logLevel: 'warning',
    plugins: [lazyRequires(), lazyDefaultExports(), lazyBuiltins(), embedKoffi(), embedXzDecompress()],
  };
}

/** Build one bundle and write it, its map and its metafile (`<outfile>.meta.json`). */
export async function buildBundle({ entry, outfile }) {
  const result = await build(bundleOptions({ entry, outfile }));
  const out = path.resolve(root, outfile);
  for (const file of result.outputFiles) writeAtomically(file.path, file.contents, file.path === out ? 0o755 : 0o644);
  writeAtomically(`${out}.meta.json`, JSON.stringify(result.metafile), 0o644);
  return { metafile: result.metafile, bytes: fs.statSync(out).size };
}

/** The inputs (a metafile's, or one output's) that only work on Linux: koffi, its native parts, src/sys. */
export function linuxOnlyInputs(inputs) {
  return Object.keys(inputs).filter(
    (p) => /(^|\/)node_modules\/(koffi|@koromix)\//.test(p) || /(^|\/)src\/sys\//.test(p) || p.endsWith('.node') || p.startsWith('rkt-koffi:'),
  );
}

// CommonJS packages loaded on first use, not at start-up: each of these modules becomes a
// plain `require()`, which esbuild bundles and evaluates only when it is called.
const LAZY_REQUIRES = [
  { file: 'src/sys/koffi-require.ts', contents: `export function requireKoffi() { return require('koffi').default; }` },
  { file: 'src/util/pino-require.ts', contents: `export function requirePino() { return require('pino'); }` },
];

function lazyRequires() {
  return {
    name: 'lazy-requires',
    setup(b) {
      for (const { file, contents } of LAZY_REQUIRES) {
        const filter = new RegExp(`[\\\\/]${file.replaceAll('.', '\\.').replaceAll('/', '[\\\\/]')}$`);
        b.onLoad({ filter }, () => ({ contents, loader: 'js', resolveDir: path.join(root, path.dirname(file)) }));
      }
    },
  };
}

// Packages whose default export is a function yargs only calls to lay out --help, and
// which do costly work as they load: string-width builds Unicode property regexes and
// ICU's segmenter, 20 ms on x86. Importers get a stand-in that loads it on first call.
const LAZY_DEFAULT_EXPORTS = ['string-width'];

function lazyDefaultExports() {
  return {
    name: 'lazy-default-exports',
    setup(b) {
      const filter = new RegExp(`^(${LAZY_DEFAULT_EXPORTS.join('|')})$`);
      // One stand-in per importing directory, as each may resolve its own copy of the package.
      b.onResolve({ filter }, ({ path: name, resolveDir, namespace }) =>
        namespace === 'file' ? { path: `${name}:${resolveDir}`, namespace: 'rkt-lazy', pluginData: { name, resolveDir } } : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: 'rkt-lazy' }, ({ pluginData: { name, resolveDir } }) => ({
        contents: `let f; export default function (...args) { f ??= require(${JSON.stringify(name)}).default; return f(...args); }`,
        loader: 'js',
        resolveDir,
      }));
    },
  };
}

// Node modules for the network, child processes, threads and compression: in an ESM
// bundle esbuild hoists every import of them to the top, so running a stored image would
// load http and tls. Through a CommonJS stub each is required when the first module using
// it is evaluated. (Modules every command uses stay plain imports: each stub costs its
// importers a copy of its exports.)
const LAZY_BUILTINS = ['child_process', 'dgram', 'http', 'https', 'net', 'readline', 'readline/promises', 'tls', 'worker_threads', 'zlib'];

function lazyBuiltins() {
  return {
    name: 'lazy-builtins',
    setup(b) {
      const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|').replaceAll('/', '\\/')})$`);
      b.onResolve({ filter }, (args) => (args.kind === 'import-statement' ? { path: args.path, namespace: 'rkt-builtin' } : undefined));
      b.onLoad({ filter: /.*/, namespace: 'rkt-builtin' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
    },
  };
}

// Swaps koffi's `loadStatic` (which requires the per-platform npm packages) for
// src/sys/koffi-embedded.ts fed with the native parts. The rest of koffi's JS stays.
function embedKoffi() {
  return {
    name: 'embed-koffi',
    setup(b) {
      let swapped = false;
      b.onResolve({ filter: /^\.\/src\/static\.cjs$/ }, (args) => {
        if (!/node_modules[\\/]koffi[\\/]src[\\/]koffi[\\/]index\.cjs$/.test(args.importer)) return undefined;
        swapped = true;
        return { path: 'embedded-static', namespace: 'rkt-koffi' };
      });
      b.onLoad({ filter: /.*/, namespace: 'rkt-koffi' }, async () => ({
        contents: [
          `import { loadEmbedded } from ${JSON.stringify(path.join(root, 'src/sys/koffi-embedded.ts'))};`,
          `const NATIVES = ${JSON.stringify(await embeddedNatives())};`,
          `export function loadStatic(pkg) { return loadEmbedded(pkg, NATIVES, ${JSON.stringify(koffiVersion())}); }`,
        ].join('\n'),
        loader: 'js',
        resolveDir: root,
      }));
      b.onEnd((result) => {
        const usesKoffi = Object.keys(result.metafile?.inputs ?? {}).some((p) => p.includes('node_modules/koffi/'));
        if (usesKoffi && !swapped) {
          result.errors.push({ text: "koffi no longer loads ./src/static.cjs: update scripts/bundle.mjs's embed-koffi plugin" });
        }
      });
    },
  };
}

// The xz decoders (src/appc/xz-pool.ts, on the main thread and in worker threads)
// evaluate xz-decompress's own JS as text, which a device has no node_modules to read
// from: the module that reads it (src/appc/xz-library.ts) becomes one returning the text.
function embedXzDecompress() {
  return {
    name: 'embed-xz-decompress',
    setup(b) {
      b.onLoad({ filter: /[\\/]src[\\/]appc[\\/]xz-library\.ts$/ }, () => {
        const dir = path.join(root, 'node_modules/xz-decompress');
        const file = path.join(dir, JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).main);
        const text = fs.readFileSync(file, 'utf8');
        return { contents: `export function xzLibrarySource() { return ${JSON.stringify(text)}; }`, loader: 'js', watchFiles: [file] };
      });
    },
  };
}

function writeAtomically(file, contents, mode) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, contents, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

async function main() {
  const [rkt, actool] = await Promise.all([
    buildBundle({ entry: 'src/cli/rkt.ts', outfile: 'dist/rkt' }),
    buildBundle({ entry: 'src/cli/actool.ts', outfile: 'dist/actool' }),
  ]);
  const leaked = linuxOnlyInputs(actool.metafile.inputs);
  if (leaked.length > 0) throw new Error(`dist/actool must run on macOS but bundles Linux-only ${leaked.join(', ')}`);
  console.log(`dist/rkt ${kb(rkt.bytes)}, dist/actool ${kb(actool.bytes)}`);
}

function kb(bytes) {
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  await main().catch((err) => {
    console.error(`build: ${err.message}`);
    process.exit(1);
  });
}
