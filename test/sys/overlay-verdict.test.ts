import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { MNT_DETACH, mount, umount2 } from '../../src/sys/linux.ts';
import { overlayVerdict } from '../../src/sys/overlay-verdict.ts';
import { emptyDir, isRoot } from '../helpers/run.ts';

// The overlay trial mount runs once per boot and filesystem: a success is kept in
// <dir>/cache/overlay.json, a failure is not. An overlay mount is a filesystem where the
// trial fails (overlay refuses an overlay as upper), so it shows which answer was used.

const cacheFile = (dir: string) => join(dir, 'cache', 'overlay.json');
const bootId = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const keyOf = (path: string, boot = bootId()) => JSON.stringify(`${boot} ${statSync(path).dev} ${statfsSync(path).type}`);

test('overlay verdict: a success is kept for the boot and the filesystem, a failure is not', { skip: !isRoot && 'needs root (mount)' }, (t) => {
  const dir = emptyDir(t);
  const data = join(dir, 'data');
  const pods = join(dir, 'pods');
  mkdirSync(pods);
  assert.deepEqual(overlayVerdict(data, pods), { ok: true });
  assert.equal(readFileSync(cacheFile(data), 'utf8'), keyOf(pods));

  for (const d of ['l', 'u', 'w', 'm']) mkdirSync(join(dir, d));
  mount('overlay', join(dir, 'm'), 'overlay', 0, `lowerdir=${dir}/l,upperdir=${dir}/u,workdir=${dir}/w`);
  try {
    const onOverlay = join(dir, 'm');
    assert.equal(overlayVerdict(data, onOverlay).ok, false, 'another filesystem is tried on its own');
    assert.equal(readFileSync(cacheFile(data), 'utf8'), keyOf(pods), 'a failure is not kept');

    writeFileSync(cacheFile(data), keyOf(onOverlay, 'another-boot'));
    assert.equal(overlayVerdict(data, onOverlay).ok, false, "another boot's verdict is not used");

    writeFileSync(cacheFile(data), keyOf(onOverlay));
    assert.deepEqual(overlayVerdict(data, onOverlay), { ok: true }, 'a kept verdict skips the trial');
  } finally {
    umount2(join(dir, 'm'), MNT_DETACH);
  }
});

test('overlay verdict: a missing pod directory is a reason, and nothing is kept', (t) => {
  const data = join(emptyDir(t), 'data');
  const result = overlayVerdict(data, join(data, 'missing'));
  assert.equal(result.ok, false);
  assert.ok(!existsSync(cacheFile(data)));
});
