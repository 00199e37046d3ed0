import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appcName, formatDockerReference, isLoopbackHost, manifestReference, parseDockerReference, registryHost } from '../../../src/fetch/docker/reference.ts';
import { dockerSource } from '../../../src/fetch/docker/transport.ts';
import { classifySource } from '../../../src/fetch/source.ts';

const D = 'sha256:' + 'ab'.repeat(32);

test('Docker Hub names get library/ and latest; registries are told by a dot, a colon or localhost', () => {
  assert.deepEqual(parseDockerReference('busybox'), { domain: 'docker.io', repository: 'library/busybox', tag: 'latest' });
  assert.deepEqual(parseDockerReference('docker://team/app:1.2'), { domain: 'docker.io', repository: 'team/app', tag: '1.2' });
  assert.deepEqual(parseDockerReference('127.0.0.1:5000/app:v1'), { domain: '127.0.0.1:5000', repository: 'app', tag: 'v1' });
  assert.deepEqual(parseDockerReference('localhost/a/b'), { domain: 'localhost', repository: 'a/b', tag: 'latest' });
  assert.deepEqual(parseDockerReference('quay.io/coreos/etcd'), { domain: 'quay.io', repository: 'coreos/etcd', tag: 'latest' });
  assert.deepEqual(parseDockerReference('localhost:5000/app'), { domain: 'localhost:5000', repository: 'app', tag: 'latest' });
  assert.deepEqual(parseDockerReference('index.docker.io/busybox'), { domain: 'docker.io', repository: 'library/busybox', tag: 'latest' });
});

test('digests pin, with or without a tag', () => {
  assert.deepEqual(parseDockerReference(`app@${D}`), { domain: 'docker.io', repository: 'library/app', digest: D });
  assert.deepEqual(parseDockerReference(`r.example/app:1@${D}`), { domain: 'r.example', repository: 'app', tag: '1', digest: D });
  assert.equal(manifestReference(parseDockerReference(`r.example/app:1@${D}`)), D);
  assert.equal(manifestReference(parseDockerReference('r.example/app:1')), '1');
});

test('bad references are refused with the reason', () => {
  assert.throws(() => parseDockerReference('Busybox'), /must be lowercase/);
  assert.throws(() => parseDockerReference('app@sha256:1234'), /is not a digest/);
  assert.throws(() => parseDockerReference('app:-x'), /not a valid tag/);
  assert.throws(() => parseDockerReference('a/-b'), /not a valid name component/);
  assert.throws(() => parseDockerReference(''), /no image name/);
});

test('registry host, stored form and appc name', () => {
  assert.equal(registryHost(parseDockerReference('busybox')), 'registry-1.docker.io');
  assert.equal(registryHost(parseDockerReference('127.0.0.1:5000/x')), '127.0.0.1:5000');
  assert.equal(formatDockerReference(parseDockerReference('busybox')), 'docker://docker.io/library/busybox:latest');
  assert.equal(appcName('docker.io', 'library/busybox'), 'docker.io/library/busybox');
  assert.equal(appcName('127.0.0.1:5000', 'app'), '127.0.0.1-5000/app');
  assert.equal(appcName('[::1]:5000', 'app'), '1-5000/app');
});

test('loopback registries', () => {
  for (const h of ['127.0.0.1:5000', 'localhost', 'localhost:80', '127.1.2.3', '[::1]:5000']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['10.0.0.1:5000', 'registry.example', '128.0.0.1', 'localhost.example']) assert.ok(!isLoopbackHost(h), h);
});

test('docker://, docker-archive: and oci: arguments', () => {
  assert.deepEqual(dockerSource('docker://busybox:1'), { kind: 'docker', transport: 'docker', ref: 'busybox:1' });
  assert.deepEqual(dockerSource('oci:/srv/layout:1.0', '/'), { kind: 'docker', transport: 'oci', path: '/srv/layout', ref: '1.0' });
  assert.deepEqual(dockerSource(`oci:/srv/layout@${D}`, '/'), { kind: 'docker', transport: 'oci', path: '/srv/layout', ref: D });
  assert.deepEqual(dockerSource('oci:layout', '/w'), { kind: 'docker', transport: 'oci', path: '/w/layout' });
  assert.deepEqual(dockerSource('docker-archive:/tmp/does-not-exist.tar', '/'), { kind: 'docker', transport: 'docker-archive', path: '/tmp/does-not-exist.tar' });
  assert.equal(dockerSource('example.com/app:1.0'), undefined);
  assert.deepEqual(classifySource('docker://busybox'), { kind: 'docker', transport: 'docker', ref: 'busybox' });
  assert.equal(classifySource('oci:/x').kind, 'docker');
});
