import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Metafile } from 'esbuild';
import { buildBundle } from '../../scripts/bundle.mjs';

/** Copy a bundle alone into `dir`, as a device install would. */
export function installCopy(bundle: string, dir: string): string {
  const copy = path.join(dir, path.basename(bundle));
  fs.copyFileSync(bundle, copy);
  fs.chmodSync(copy, 0o755);
  return copy;
}

let probe: Promise<string> | undefined;

/** test/bundle/fixtures/ffi-probe.ts bundled with the project's options, built once per process. */
export function probeBundle(): Promise<string> {
  probe ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rkt-probe-'));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    const outfile = path.join(dir, 'probe');
    await buildBundle({ entry: 'test/bundle/fixtures/ffi-probe.ts', outfile });
    return outfile;
  })();
  return probe;
}

/** The bundle holds koffi's JS, with its native-part lookup swapped for the three embedded builds. */
export function assertEmbedsKoffi(bundle: string): void {
  const inputs = Object.keys((JSON.parse(fs.readFileSync(`${bundle}.meta.json`, 'utf8')) as Metafile).inputs);
  assert.ok(inputs.includes('rkt-koffi:embedded-static'), 'koffi would look for its native part in node_modules');
  assert.ok(inputs.includes('node_modules/koffi/src/koffi/index.cjs'));
  assert.deepEqual(inputs.filter((p) => p.includes('@koromix/') || p.endsWith('.node')), []);
  const text = fs.readFileSync(bundle, 'utf8');
  for (const triplet of ['linux_x64', 'linux_armhf', 'linux_arm64']) {
    assert.match(text, new RegExp(`\\b${triplet}:\\{sha256:"[0-9a-f]{64}",brotli:"`), `no embedded ${triplet}`);
  }
}
