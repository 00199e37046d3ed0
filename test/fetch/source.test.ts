import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mismatch } from '../../src/fetch/match.ts';
import { classifySource } from '../../src/fetch/source.ts';

const cwd = mkdtempSync(join(tmpdir(), 'fetch-source-'));
after(() => rmSync(cwd, { recursive: true, force: true }));

test('image arguments are told apart as rkt does', () => {
  assert.deepEqual(classifySource('sha512-abcdef', cwd), { kind: 'id', id: 'sha512-abcdef' });
  assert.deepEqual(classifySource('https://example.com/a.aci', cwd), { kind: 'url', url: 'https://example.com/a.aci' });
  assert.deepEqual(classifySource('HTTP://example.com/a.aci', cwd), { kind: 'url', url: 'HTTP://example.com/a.aci' });
  assert.deepEqual(classifySource('file:///srv/a.aci', cwd), { kind: 'file', path: '/srv/a.aci' });
  assert.deepEqual(classifySource('/srv/a.aci', cwd), { kind: 'file', path: '/srv/a.aci' });
  assert.deepEqual(classifySource('./a', cwd), { kind: 'file', path: join(cwd, 'a') });
  assert.deepEqual(classifySource('hello.aci', cwd), { kind: 'file', path: join(cwd, 'hello.aci') });
  assert.deepEqual(classifySource('example.com/app:1.0', cwd), { kind: 'name', ref: 'example.com/app:1.0' });
  assert.deepEqual(classifySource('example.com/app', cwd), { kind: 'name', ref: 'example.com/app' });
});

test('a file that exists beats a name, so a side-loaded image needs no network', () => {
  mkdirSync(join(cwd, 'example.com'));
  writeFileSync(join(cwd, 'example.com/app'), 'x');
  assert.deepEqual(classifySource('example.com/app', cwd), { kind: 'file', path: join(cwd, 'example.com/app') });
});

test('docker://, docker-archive: and oci: are Docker sources; unknown schemes are refused with what to do', () => {
  assert.deepEqual(classifySource('docker://busybox', cwd), { kind: 'docker', transport: 'docker', ref: 'busybox' });
  assert.deepEqual(classifySource('oci:layout:1.0', cwd), { kind: 'docker', transport: 'oci', path: join(cwd, 'layout'), ref: '1.0' });
  assert.deepEqual(classifySource('docker-archive:/srv/saved.tar', cwd), { kind: 'docker', transport: 'docker-archive', path: '/srv/saved.tar' });
  assert.throws(() => classifySource('ftp://example.com/a.aci', cwd), /unsupported scheme "ftp:\/\/"; use https:\/\/, a file path or an image name/);
});

const pi2 = { os: 'linux', arch: 'armv7l' };
const image = (labels: Record<string, string>) => ({ name: 'example.com/app', labels: Object.entries(labels).map(([name, value]) => ({ name, value })) });

test('labels asked for must be on the image; latest matches any version; defaults only when present', () => {
  const req = { name: 'example.com/app', labels: { version: '1.0' }, defaults: { os: 'linux', arch: 'armv7l' } };
  assert.equal(mismatch(image({ version: '1.0', os: 'linux', arch: 'armv7l' }), req, pi2), undefined);
  assert.equal(mismatch(image({ version: '1.0' }), req, pi2), undefined, 'no os/arch: runs anywhere');
  assert.equal(mismatch(image({ os: 'linux' }), req, pi2), 'example.com/app has no version label, not version=1.0 as asked');
  assert.equal(mismatch(image({ version: '7' }), { ...req, labels: { version: 'latest' } }, pi2), undefined);
  assert.equal(mismatch(image({ version: '1.0', arch: 'armv6l' }), req, pi2), 'example.com/app has arch=armv6l, not arch=armv7l as asked');
  assert.match(mismatch(image({ version: '1.0', os: 'darwin' }), req, pi2)!, /is for darwin\/any arch, this board runs linux\/armv7l; fetch the linux image \(add ,os=linux\)/);
  assert.equal(mismatch({ ...image({}), name: 'example.com/x' }, req, pi2), 'the image found for example.com/app is example.com/x');
});
