import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appcArchFor, debianArchFor } from '../../src/debian/arch-map.ts';

test('appc arch to Debian arch and back', () => {
  const table: [string, string][] = [
    ['armv6l', 'armel'],
    ['armv7l', 'armhf'],
    ['aarch64', 'arm64'],
    ['amd64', 'amd64'],
  ];
  for (const [appc, debian] of table) {
    assert.equal(debianArchFor(appc), debian);
    assert.equal(appcArchFor(debian), appc);
  }
});

test("Raspberry Pi OS's armhf is ARMv6 code: it is what armv6l takes, and is labelled armv6l", () => {
  assert.equal(debianArchFor('armv6l', { raspbian: true }), 'armhf');
  assert.equal(debianArchFor('armv7l', { raspbian: true }), 'armhf');
  assert.equal(debianArchFor('aarch64', { raspbian: true }), 'arm64');
  assert.equal(appcArchFor('armhf', { raspbian: true }), 'armv6l');
  assert.equal(appcArchFor('arm64', { raspbian: true }), 'aarch64');
});

test('unknown archs are refused with one line listing the supported ones', () => {
  assert.throws(() => debianArchFor('armv7b'), {
    message: 'arch: no Debian arch for appc arch "armv7b" (supported: armv6l, armv7l, aarch64, amd64)',
  });
  assert.throws(() => debianArchFor('toString'), { message: /no Debian arch for appc arch "toString"/ });
  assert.throws(() => appcArchFor('mips64el'), {
    message: 'arch: no appc arch for Debian arch "mips64el" (supported: armel, armhf, arm64, amd64)',
  });
});
