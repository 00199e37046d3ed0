import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { LockBusyError, lockFile, tryLockFile } from '../../src/sys/flock.ts';
import { utilFlock } from '../../src/sys/flock-util.ts';
import { killed, spawnChild, waitForLine } from './fixtures/child.ts';
import { tempDir } from './fixtures/images.ts';

test('shared locks coexist; an exclusive one waits for them, in another process', async () => {
  const path = join(await tempDir('flock'), 'lock');
  const holder = spawnChild(['hold', path, 'shared']);
  try {
    await waitForLine(holder, 'locked');
    const shared = await lockFile(path, 'shared', { wait: false });
    shared.release();
    assert.equal(tryLockFile(path, 'exclusive'), null);
    await assert.rejects(lockFile(path, 'exclusive', { wait: false }), LockBusyError);
    const waiting = lockFile(path, 'exclusive');
    holder.stdin!.end();
    const exclusive = await waiting;
    exclusive.release();
  } finally {
    await killed(holder);
  }
});

test('a lock held by a process killed with SIGKILL is free at once', async () => {
  const path = join(await tempDir('flock'), 'lock');
  const holder = spawnChild(['hold', path, 'exclusive']);
  await waitForLine(holder, 'locked');
  assert.equal(tryLockFile(path, 'exclusive'), null);
  await killed(holder);
  tryLockFile(path, 'exclusive')!.release();
});

test('waiting for a lock this process holds does not block the event loop', async () => {
  const path = join(await tempDir('flock'), 'lock');
  const first = await lockFile(path, 'exclusive');
  // A blocking flock here would hang the process; polling lets the timer release it.
  setTimeout(() => first.release(), 50);
  const second = await lockFile(path, 'exclusive');
  second.release();
});

test('a directory can be locked', async () => {
  const dir = await tempDir('flock');
  const lock = await lockFile(dir, 'exclusive');
  assert.equal(tryLockFile(dir, 'shared'), null);
  lock.release();
  lock.release();
});

test('flock(1) on our fd: the lock outlives the flock process, is held by our open file, and goes when we close it', async () => {
  const path = join(await tempDir('flock'), 'lock');
  await writeFile(path, '');
  const ours = openSync(path, 'r');
  const other = openSync(path, 'r');
  try {
    assert.equal(utilFlock(ours, 'exclusive', path), true);
    // flock(1) has exited: only our fd still refers to the open file description.
    assert.equal(utilFlock(other, 'shared', path), false);
    assert.equal(tryLockFile(path, 'shared'), null, 'nor through the lock implementation this process picked');
    closeSync(ours);
    assert.equal(utilFlock(other, 'exclusive', path), true);
  } finally {
    closeSync(other);
  }
});

test('a lock taken through flock(1) (RKT_FFI=off) excludes this process and dies with its holder', async () => {
  const path = join(await tempDir('flock'), 'lock');
  const holder = spawnChild(['hold', path, 'exclusive'], { RKT_FFI: 'off' });
  await waitForLine(holder, 'locked');
  await assert.rejects(lockFile(path, 'shared', { wait: false }), LockBusyError);
  await killed(holder);
  tryLockFile(path, 'exclusive')!.release();
});
