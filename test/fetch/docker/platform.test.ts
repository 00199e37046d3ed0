import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appcPlatform, choosePlatform, type OciPlatform } from '../../../src/fetch/docker/platform.ts';

const p = (architecture: string, variant?: string, os = 'linux'): { platform: OciPlatform; name: string } => ({
  platform: { os, architecture, ...(variant ? { variant } : {}) },
  name: [architecture, variant].filter(Boolean).join('/'),
});
const host = (arch: string) => ({ os: 'linux', arch });
const pick = (entries: ReturnType<typeof p>[], arch: string) => {
  const r = choosePlatform('docker://x', entries, host(arch));
  return 'entry' in r ? r.entry.name : r.problem;
};

test('OCI platforms map to appc arches', () => {
  assert.deepEqual(appcPlatform({ os: 'linux', architecture: 'arm', variant: 'v6' }), { os: 'linux', arch: 'armv6l' });
  assert.deepEqual(appcPlatform({ os: 'linux', architecture: 'arm', variant: 'v7' }), { os: 'linux', arch: 'armv7l' });
  assert.deepEqual(appcPlatform({ os: 'linux', architecture: 'arm' }), { os: 'linux', arch: 'armv7l' });
  assert.deepEqual(appcPlatform({ os: 'linux', architecture: 'arm64' }), { os: 'linux', arch: 'aarch64' });
  assert.deepEqual(appcPlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' }), { os: 'linux', arch: 'aarch64' });
  assert.deepEqual(appcPlatform({ os: 'linux', architecture: 'amd64' }), { os: 'linux', arch: 'amd64' });
  assert.equal(appcPlatform({ os: 'linux', architecture: 'riscv64' }), undefined);
  assert.equal(appcPlatform({ os: 'linux', architecture: 'arm', variant: 'v8' }), undefined);
});

const all = [p('amd64'), p('arm', 'v6'), p('arm', 'v7'), p('arm64', 'v8'), p('unknown', undefined, 'unknown')];

test('each board takes its own arch first, then what it can run', () => {
  assert.equal(pick(all, 'armv6l'), 'arm/v6');
  assert.equal(pick(all, 'armv7l'), 'arm/v7');
  assert.equal(pick(all, 'aarch64'), 'arm64/v8');
  assert.equal(pick(all, 'amd64'), 'amd64');
  assert.equal(pick([p('arm', 'v6'), p('amd64')], 'aarch64'), 'arm/v6');
  assert.equal(pick([p('arm', 'v5'), p('arm', 'v6')], 'armv6l'), 'arm/v6');
  assert.equal(pick([p('arm', 'v5'), p('arm', 'v7')], 'armv6l'), 'arm/v5');
});

test('a Pi Zero never takes arm/v7 (or a bare arm, which means v7): it is told what there is', () => {
  const msg = pick([p('amd64'), p('arm', 'v7'), p('arm'), p('arm64', 'v8'), p('unknown', undefined, 'unknown')], 'armv6l');
  assert.equal(
    msg,
    'docker://x has no image this linux/armv6l board can run: it has linux/amd64, linux/arm/v7, linux/arm, linux/arm64/v8; this board runs linux/arm/v6, linux/arm/v5',
  );
  assert.match(pick([p('amd64', undefined, 'windows')], 'amd64'), /it has windows\/amd64; this board runs linux\/amd64$/);
});
