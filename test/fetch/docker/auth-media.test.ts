import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { credentialsFromFile, loadCredentials, parseChallenges, registryKey, tokenUrl } from '../../../src/fetch/docker/auth.ts';
import { checkDigest, digestOf, MEDIA, parseManifestDocument, sniffLayer } from '../../../src/fetch/docker/media.ts';

const dir = mkdtempSync(join(tmpdir(), 'docker-auth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('WWW-Authenticate challenges', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  assert.deepEqual(parseChallenges(['Basic realm="a, b", charset=UTF-8', 'Bearer realm="x\\"y"']), [
    { scheme: 'basic', params: { realm: 'a, b', charset: 'UTF-8' } },
    { scheme: 'bearer', params: { realm: 'x"y' } },
  ]);
  assert.deepEqual(parseChallenges(undefined), []);
  const url = tokenUrl({ scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'reg' } }, 'repository:a/b:pull');
  assert.equal(url, 'https://auth.example/token?service=reg&scope=repository%3Aa%2Fb%3Apull');
});

test('credentials: rkt dockerAuth files and Docker config.json, local config over system', async () => {
  assert.equal(registryKey('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(registryKey('Registry.Example:5000'), 'registry.example:5000');
  const docker = credentialsFromFile({ auths: { 'https://index.docker.io/v1/': { auth: Buffer.from('me:p:w').toString('base64') }, 'r.example': { username: 'u', password: 'p' } } }, 'f');
  assert.deepEqual(docker.get('docker.io'), { user: 'me', password: 'p:w' });
  assert.deepEqual(docker.get('r.example'), { user: 'u', password: 'p' });
  assert.equal(credentialsFromFile({ rktKind: 'auth', domains: ['x'] }, 'f').size, 0);
  assert.throws(() => credentialsFromFile({ rktKind: 'dockerAuth', registries: ['x'] }, 'f.json'), /f.json: a dockerAuth file needs/);

  const system = join(dir, 'lib');
  const local = join(dir, 'etc');
  mkdirSync(join(system, 'auth.d'), { recursive: true });
  mkdirSync(join(local, 'auth.d'), { recursive: true });
  const file = (user: string) => JSON.stringify({ rktKind: 'dockerAuth', rktVersion: 'v1', registries: ['127.0.0.1:5000'], credentials: { user, password: 'pw' } });
  writeFileSync(join(system, 'auth.d', 'reg.json'), file('vendor'));
  const dirs = { systemConfig: system, localConfig: local };
  assert.deepEqual(await loadCredentials(dirs, '127.0.0.1:5000'), { user: 'vendor', password: 'pw' });
  writeFileSync(join(local, 'auth.d', 'reg.json'), file('admin'));
  assert.deepEqual(await loadCredentials(dirs, '127.0.0.1:5000'), { user: 'admin', password: 'pw' });
  assert.equal(await loadCredentials(dirs, 'other.example'), undefined);
  writeFileSync(join(local, 'auth.d', 'broken.json'), '{');
  await assert.rejects(loadCredentials(dirs, 'x'), /broken.json/);
});

const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;

test('manifests and indexes are read by media type or shape; schema 1 is refused', () => {
  const index = parseManifestDocument(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.dockerList, manifests: [{ mediaType: MEDIA.dockerManifest, digest: d(1), size: 10, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } }] })), 'm');
  assert.equal(index.kind, 'index');
  const ociIndex = parseManifestDocument(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] })), 'm');
  assert.equal(ociIndex.kind, 'index');
  const manifest = parseManifestDocument(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType: MEDIA.ociConfig, digest: d(2), size: 3 }, layers: [{ mediaType: 'x', digest: d(3), size: 4 }] })), 'm', MEDIA.ociManifest);
  assert.equal(manifest.kind, 'manifest');
  assert.throws(() => parseManifestDocument(Buffer.from('{"schemaVersion":1,"fsLayers":[]}'), 'm'), /schema 1 manifest, which is deprecated/);
  assert.throws(() => parseManifestDocument(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: 'sha256:x', size: 1 }, layers: [] })), 'm'), /m: config: digest "sha256:x" is not/);
  assert.throws(() => parseManifestDocument(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: d(1), size: -1 }, layers: [] })), 'm'), /size -1 is not a byte count/);
});

test('digests and layer compression', () => {
  assert.equal(digestOf(Buffer.from('')), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.throws(() => checkDigest(Buffer.from('x'), d(1), 'blob'), /blob: content has digest sha256:2d71.* not sha256:1111/);
  assert.equal(sniffLayer(Buffer.from([0x1f, 0x8b, 8])), 'gzip');
  assert.equal(sniffLayer(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd');
  assert.equal(sniffLayer(Buffer.from('etc/')), 'none');
});
