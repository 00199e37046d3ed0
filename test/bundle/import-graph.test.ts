import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { build, type Metafile } from 'esbuild';
import { bundleOptions, linuxOnlyInputs } from '../../scripts/bundle.mjs';
import { emptyDir, root } from '../helpers/run.ts';

// actool runs on macOS, so src/appc, src/build and src/debian must not reach Linux-only code (koffi,
// src/sys) through any chain of imports. esbuild resolves the chains exactly as the
// real bundles do, so these checks see what would ship.

/** For each entry, the Linux-only inputs its bundle would contain. */
async function linuxOnlyByEntry(entries: string[]): Promise<Map<string, string[]>> {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'rkt-graph-'));
  try {
    const options = bundleOptions({ entry: entries[0]!, outfile: path.join(outdir, 'unused') });
    const { outfile: _unused, ...rest } = options;
    const result = await build({ ...rest, entryPoints: entries, outdir, sourcemap: false, logLevel: 'silent' });
    const byEntry = new Map<string, string[]>();
    for (const output of Object.values(result.metafile?.outputs ?? {})) {
      if (output.entryPoint) byEntry.set(output.entryPoint, linuxOnlyInputs(output.inputs));
    }
    return byEntry;
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

function tsFiles(dir: string): string[] {
  return fs
    .readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => path.join(dir, f));
}

test('src/appc, src/build and src/debian import nothing Linux-only, directly or through others', async () => {
  const entries = [...tsFiles('src/appc'), ...tsFiles('src/build'), ...tsFiles('src/debian')];
  assert.ok(entries.length > 0, 'src/appc, src/build and src/debian hold no .ts files to check');
  const offenders = [...(await linuxOnlyByEntry(entries))].filter(([, inputs]) => inputs.length > 0);
  assert.deepEqual(offenders, [], 'these modules reach Linux-only code; actool must stay portable');
});

test('the import-graph check flags a module that reaches src/sys/ffi.ts', async (t) => {
  const entry = path.join(emptyDir(t), 'portable-looking.ts');
  fs.writeFileSync(entry, `import { loadFfi } from ${JSON.stringify(path.join(root, 'src/sys/ffi.ts'))};\nloadFfi();\n`);
  const [inputs] = [...(await linuxOnlyByEntry([entry])).values()];
  assert.ok(inputs?.includes('src/sys/ffi.ts'), `not flagged: ${inputs}`);
  assert.ok(inputs.some((p) => p.startsWith('node_modules/koffi/')), `koffi not flagged: ${inputs}`);
});

test('dist/actool bundles no koffi, no native part and nothing from src/sys', () => {
  const meta = JSON.parse(fs.readFileSync(path.join(root, 'dist/actool.meta.json'), 'utf8')) as Metafile;
  const inputs = Object.keys(meta.inputs);
  assert.ok(inputs.includes('src/cli/actool.ts'), 'dist/actool.meta.json is not the metafile of actool');
  assert.deepEqual(linuxOnlyInputs(meta.inputs), []);
  assert.deepEqual(inputs.filter((p) => /koffi|@koromix|\.node$/.test(p)), []);
});
