import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { appcArchFrom, detectHostArch } from '../../src/appc/arch.ts';
import { UserError } from '../../src/util/errors.ts';

const cpuinfo = (name: string): string =>
  readFileSync(new URL(`./fixtures/cpuinfo/${name}.txt`, import.meta.url), 'utf8');

test('Pi Zero W (ARMv6 reporting "CPU architecture: 7") is armv6l', () => {
  assert.equal(appcArchFrom('armv6l', cpuinfo('pi-zero-w'), 'arm'), 'armv6l');
});

test('Pi 2 and Pi 3 with a 32-bit kernel are armv7l', () => {
  assert.equal(appcArchFrom('armv7l', cpuinfo('pi-2b'), 'arm'), 'armv7l');
  assert.equal(appcArchFrom('armv7l', cpuinfo('pi-3b-32bit'), 'arm'), 'armv7l');
});

test('Pi 4 with a 64-bit userland is aarch64', () => {
  assert.equal(appcArchFrom('aarch64', cpuinfo('pi-4b-64bit'), 'arm64'), 'aarch64');
});

test('a 64-bit kernel under a 32-bit userland is armv7l, never aarch64', () => {
  assert.equal(appcArchFrom('aarch64', cpuinfo('pi-4b-64bit-kernel-32bit-task'), 'arm'), 'armv7l');
  assert.equal(appcArchFrom('aarch64', undefined, 'arm'), 'armv7l');
});

test('a 64-bit kernel under a 32-bit userland on an ARMv6 cpuinfo is armv6l', () => {
  assert.equal(appcArchFrom('aarch64', cpuinfo('pi-zero-w'), 'arm'), 'armv6l');
  // Older kernels name the field "Processor" instead of "model name".
  assert.equal(appcArchFrom('aarch64', cpuinfo('pi-1b-old-kernel'), 'arm'), 'armv6l');
});

test('an ARMv8 core under a 32-bit kernel (armv8l) is armv7l', () => {
  assert.equal(appcArchFrom('armv8l', cpuinfo('pi-3b-32bit'), 'arm'), 'armv7l');
});

test('x86 machines map to amd64 and i386', () => {
  assert.equal(appcArchFrom('x86_64', undefined, 'x64'), 'amd64');
  assert.equal(appcArchFrom('x86_64', undefined, 'ia32'), 'i386');
  assert.equal(appcArchFrom('i686', undefined, 'ia32'), 'i386');
});

test('macOS on Apple silicon (uname arm64) is aarch64', () => {
  assert.equal(appcArchFrom('arm64', undefined, 'arm64'), 'aarch64');
});

test('an unknown machine is a one-line error, never a guess such as "arm"', () => {
  assert.throws(
    () => appcArchFrom('armv5tel', undefined, 'arm'),
    (err: unknown) => err instanceof UserError && err.message === 'arch: no appc arch for machine "armv5tel"',
  );
});

test('detectHostArch reads this host', () => {
  const host = detectHostArch();
  assert.equal(host.os, process.platform);
  if (process.arch === 'x64' && process.platform === 'linux') assert.equal(host.arch, 'amd64');
  if (process.arch === 'arm64' && process.platform === 'linux') assert.equal(host.arch, 'aarch64');
  assert.notEqual(host.arch, 'arm');
});
