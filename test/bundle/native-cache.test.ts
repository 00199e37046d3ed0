import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { unsupportedReason } from '../../src/sys/ffi.ts';
import { cacheDir, checkDir, materialize } from '../../src/sys/native-cache.ts';
import { emptyDir, isRoot } from '../helpers/run.ts';

const bytes = Buffer.from('pretend this is koffi.node');
const sha256 = createHash('sha256').update(bytes).digest('hex');

function subdir(t: Parameters<typeof emptyDir>[0], mode: number): string {
  const dir = path.join(emptyDir(t), 'cache');
  fs.mkdirSync(dir);
  fs.chmodSync(dir, mode);
  return dir;
}

test('a cache dir writable by others is refused unless sticky', (t) => {
  assert.throws(() => checkDir(subdir(t, 0o777)), /is writable by others and not sticky/);
  assert.throws(() => checkDir(subdir(t, 0o775)), /is writable by others and not sticky/);
  checkDir(subdir(t, 0o1777));
  checkDir(subdir(t, 0o700));
});

test('a cache dir owned by another user is refused', { skip: !isRoot && 'needs root to chown' }, (t) => {
  const dir = subdir(t, 0o755);
  fs.chownSync(dir, 65534, 65534);
  assert.throws(() => checkDir(dir), /belongs to uid 65534, not to us/);
});

test('materialize writes once, then reuses the file while its hash matches', (t) => {
  const dir = subdir(t, 0o700);
  let produced = 0;
  const produce = () => (produced++, bytes);
  const file = materialize(dir, 'native.node', sha256, produce);
  assert.deepEqual(fs.readFileSync(file), bytes);
  assert.equal(fs.statSync(file).mode & 0o777, 0o644);
  materialize(dir, 'native.node', sha256, produce);
  assert.equal(produced, 1);
  assert.deepEqual(fs.readdirSync(dir), ['native.node'], 'no temp file is left behind');
});

test('a symlink planted at the cache file name is not followed', (t) => {
  const dir = subdir(t, 0o1777);
  const victim = path.join(path.dirname(dir), 'victim');
  fs.writeFileSync(victim, 'keep me');
  fs.symlinkSync(victim, path.join(dir, 'native.node'));
  assert.throws(() => materialize(dir, 'native.node', sha256, () => bytes), /too many levels of symbolic links/);
  assert.equal(fs.readFileSync(victim, 'utf8'), 'keep me');
});

test("another user's file at our name in a sticky dir is refused, not loaded", { skip: !isRoot && 'needs root to chown' }, (t) => {
  const dir = subdir(t, 0o1777);
  const planted = path.join(dir, 'native.node');
  fs.writeFileSync(planted, bytes);
  fs.chownSync(planted, 65534, 65534);
  assert.throws(() => materialize(dir, 'native.node', sha256, () => bytes), /is not a private file of ours/);
});

test('the cache dir is $RKT_FFI_CACHE, else $XDG_CACHE_HOME/rkt, else the temp dir', () => {
  assert.deepEqual(cacheDir({ RKT_FFI_CACHE: '/var/cache/rkt', XDG_CACHE_HOME: '/home/pi/.cache' }), {
    dir: '/var/cache/rkt',
    create: true,
  });
  assert.deepEqual(cacheDir({ XDG_CACHE_HOME: '/home/pi/.cache' }), { dir: '/home/pi/.cache/rkt', create: true });
  assert.deepEqual(cacheDir({ XDG_CACHE_HOME: 'relative/cache' }), { dir: os.tmpdir(), create: false });
  assert.deepEqual(cacheDir({}), { dir: os.tmpdir(), create: false });
});

test('koffi is not even tried on ARMv6, whose CPU cannot run its ARMv7 build', () => {
  assert.match(unsupportedReason('linux', 'arm', 'armv6l') ?? '', /ARMv6/);
  assert.equal(unsupportedReason('linux', 'arm', 'armv7l'), undefined);
  // A 32-bit userland on a 64-bit Pi kernel reports aarch64 and runs ARMv7 code.
  assert.equal(unsupportedReason('linux', 'arm', 'aarch64'), undefined);
  assert.equal(unsupportedReason('linux', 'arm64', 'aarch64'), undefined);
  assert.equal(unsupportedReason('linux', 'x64', 'x86_64'), undefined);
  assert.match(unsupportedReason('darwin', 'arm64', 'arm64') ?? '', /linux only/);
});
