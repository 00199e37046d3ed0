import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { validateLayout } from '../../src/appc/layout.ts';
import { UserError } from '../../src/util/errors.ts';
import { makeLayout, tempDir } from './fixtures/aci-layout.ts';

async function invalid(dir: string, message: RegExp): Promise<void> {
  await assert.rejects(validateLayout(dir), (err: Error) => {
    assert.ok(err instanceof UserError, `${err.stack}`);
    assert.match(err.message, message);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
}

test('a layout with a valid manifest and a rootfs directory gives its manifest', async () => {
  const dir = await makeLayout(await tempDir('layout-ok'), { 'bin/x': 'x' });
  assert.equal((await validateLayout(dir)).name, 'example.com/test');
});

test('an invalid manifest is refused with the manifest parser\'s message', async () => {
  const dir = await makeLayout(await tempDir('layout-badmanifest'));
  await writeFile(join(dir, 'manifest'), '{"acKind":"PodManifest","acVersion":"0.8.11"}');
  await invalid(dir, /^manifest: /);
});

test('a manifest that is a directory, or missing, is refused', async () => {
  const dir = await makeLayout(await tempDir('layout-manifest-dir'));
  await rm(join(dir, 'manifest'));
  await invalid(dir, /^layout: .* has no manifest$/);
  await mkdir(join(dir, 'manifest'));
  await invalid(dir, /^layout: .*\/manifest is not a regular file$/);
});

test('a rootfs that is a file, and an extra top-level entry, are refused', async () => {
  const dir = await makeLayout(await tempDir('layout-rootfs-file'));
  await rm(join(dir, 'rootfs'), { recursive: true });
  await writeFile(join(dir, 'rootfs'), '');
  await invalid(dir, /^layout: .* has no rootfs directory$/);
  const extra = await makeLayout(await tempDir('layout-extra'));
  await mkdir(join(extra, 'etc'));
  await invalid(extra, /^layout: unexpected "etc" in /);
});

test('a path that is not a directory is refused', async () => {
  const dir = await tempDir('layout-notdir');
  await writeFile(join(dir, 'file'), '');
  await invalid(join(dir, 'file'), /^layout: .*\/file is not a directory$/);
  await invalid(join(dir, 'absent'), /^layout: .*\/absent is not a directory$/);
});
