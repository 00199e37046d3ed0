import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { assertEmbedsKoffi, installCopy } from './helpers.ts';
import { emptyDir, root } from '../helpers/run.ts';

// "Copying dist/rkt and node to a device is a complete install": each bundle must run
// as a lone file, from a directory where no node_modules can be found.

for (const name of ['rkt', 'actool']) {
  const bundle = path.join(root, 'dist', name);

  test(`dist/${name} is an executable node script`, () => {
    assert.equal(fs.readFileSync(bundle, 'utf8').split('\n')[0], '#!/usr/bin/env node');
    assert.equal(fs.statSync(bundle).mode & 0o777, 0o755);
    const tail = fs.readFileSync(bundle, 'utf8').trimEnd().split('\n').at(-1);
    assert.equal(tail, `//# sourceMappingURL=${name}.map`, 'the source map is a separate file');
    assert.ok(fs.existsSync(`${bundle}.map`));
  });

  test(`a lone copy of dist/${name} runs with no node_modules reachable`, (t) => {
    const dir = emptyDir(t);
    const copy = installCopy(bundle, dir);
    // Run it as a user would, through the shebang.
    const r = spawnSync(copy, ['--help'], { cwd: dir, env: { PATH: process.env.PATH }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr.slice(0, 2000));
    assert.match(r.stdout, new RegExp(name));
  });
}

test('dist/rkt carries koffi with its native parts swapped for the embedded ones', () =>
  assertEmbedsKoffi(path.join(root, 'dist/rkt')));

test('a lone copy of dist/rkt loads its embedded koffi on this host', (t) => {
  const dir = emptyDir(t);
  const copy = installCopy(path.join(root, 'dist/rkt'), dir);
  const env = { PATH: process.env.PATH, RKT_FFI_CACHE: path.join(dir, 'cache') };
  fs.mkdirSync(env.RKT_FFI_CACHE, { mode: 0o700 });
  const r = spawnSync(copy, ['version', '--format', 'json'], { cwd: dir, env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).ffi, { available: true, version: koffiVersion() });
});

function koffiVersion(): string {
  return JSON.parse(fs.readFileSync(path.join(root, 'node_modules/koffi/package.json'), 'utf8')).version;
}
