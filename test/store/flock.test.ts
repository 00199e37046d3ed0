import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { LockBusyError, lockFile, tryLockFile } from '../../src/sys/flock.ts';
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
