import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canRunArch, runnableArchs } from '../../src/appc/compatible-arch.ts';

test('a 64-bit ARM board runs 32-bit ARM images; a Pi Zero runs only ARMv6', () => {
  assert.deepEqual(runnableArchs('aarch64'), ['aarch64', 'armv7l', 'armv6l']);
  assert.deepEqual(runnableArchs('armv7l'), ['armv7l', 'armv6l']);
  assert.deepEqual(runnableArchs('armv6l'), ['armv6l']);
  assert.equal(canRunArch('armv6l', 'armv7l'), false, 'ARMv7 code dies with SIGILL on a Pi Zero');
  assert.equal(canRunArch('armv7l', 'aarch64'), false);
});

test('x86 hosts run their own arch only; unknown archs run themselves', () => {
  assert.deepEqual(runnableArchs('amd64'), ['amd64']);
  assert.equal(canRunArch('amd64', 'i386'), false);
  assert.equal(canRunArch('amd64', 'armv7l'), false);
  assert.deepEqual(runnableArchs('ppc64le'), ['ppc64le']);
  assert.equal(canRunArch('armv7b', 'armv7l'), false, 'endianness differs');
});
