import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manifestFromConfig, parseImageConfig, portsFrom, mountPointsFrom, userAndGroup, configPlatform } from '../../../src/fetch/docker/image-config.ts';

const config = (c: Record<string, unknown>, top: Record<string, unknown> = {}) =>
  parseImageConfig(Buffer.from(JSON.stringify({ architecture: 'arm', variant: 'v6', os: 'linux', created: '2024-05-01T10:00:00.123456789Z', config: c, rootfs: { type: 'layers', diff_ids: [] }, ...top })), 'config');
const naming = { name: '127.0.0.1-5000/app', version: '1.0', provenance: { 'appc.io/docker/repository': 'app' } };
const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:44:www:/var/www:/bin/false\n';

test('the config becomes the app: exec, env, dir, user, ports, volumes, labels', () => {
  const c = config({
    Entrypoint: ['/bin/busybox'],
    Cmd: ['echo', 'hi'],
    Env: ['PATH=/usr/bin:/bin', 'A=1=2', 'bad name=x', 'A=3'],
    WorkingDir: '/srv',
    User: 'www',
    ExposedPorts: { '80/tcp': {}, '53/udp': {}, '8080': {}, '9000-9002/tcp': {}, '5000/sctp': {} },
    Volumes: { '/var/lib/data': {}, '/data/': {} },
    Labels: { 'org.opencontainers.image.source': 'https://example.com/src', 'com.Example.Build': 'x', homepage: 'not a url', maintainer: 'me' },
  });
  const m = manifestFromConfig(c, naming, configPlatform(c, 'x'), { passwd: PASSWD });
  assert.equal(m.name, '127.0.0.1-5000/app');
  assert.deepEqual(m.labels, [
    { name: 'version', value: '1.0' },
    { name: 'os', value: 'linux' },
    { name: 'arch', value: 'armv6l' },
  ]);
  const app = m.app!;
  assert.deepEqual(app.exec, ['/bin/busybox', 'echo', 'hi']);
  assert.deepEqual(app.environment, [
    { name: 'PATH', value: '/usr/bin:/bin' },
    { name: 'A', value: '3' },
  ]);
  assert.equal(app.workingDirectory, '/srv');
  assert.equal(app.user, 'www');
  assert.equal(app.group, '44');
  assert.deepEqual(
    app.ports.map((p) => [p.name, p.protocol, p.port, p.count]),
    [
      ['53-udp', 'udp', 53, 1],
      ['80-tcp', 'tcp', 80, 1],
      ['8080-tcp', 'tcp', 8080, 1],
      ['9000-tcp', 'tcp', 9000, 3],
    ],
  );
  assert.deepEqual(app.mountPoints, [
    { name: 'volume-data', path: '/data', readOnly: false },
    { name: 'volume-var-lib-data', path: '/var/lib/data', readOnly: false },
  ]);
  const ann = Object.fromEntries(m.annotations.map((a) => [a.name, a.value]));
  assert.equal(ann['created'], '2024-05-01T10:00:00.123456789Z');
  assert.equal(ann['appc.io/docker/repository'], 'app');
  assert.equal(ann['appc.io/docker/entrypoint'], '["/bin/busybox"]');
  assert.equal(ann['appc.io/docker/cmd'], '["echo","hi"]');
  assert.equal(ann['org.opencontainers.image.source'], 'https://example.com/src');
  assert.equal(ann['com.example.build'], 'x');
  assert.equal(ann['maintainer'], 'me');
  assert.equal(ann['homepage'], undefined, 'a homepage annotation must be a URL');
});

test('users: none is root, uid:gid and name:group as given, a lone user gets its primary group', () => {
  assert.deepEqual(userAndGroup('', {}), { user: '0', group: '0' });
  assert.deepEqual(userAndGroup('1000:50', {}), { user: '1000', group: '50' });
  assert.deepEqual(userAndGroup('www:staff', { passwd: PASSWD }), { user: 'www', group: 'staff' });
  assert.deepEqual(userAndGroup('www', { passwd: PASSWD }), { user: 'www', group: '44' });
  assert.deepEqual(userAndGroup('33', { passwd: PASSWD }), { user: '33', group: '44' });
  assert.deepEqual(userAndGroup('1234', { passwd: PASSWD }), { user: '1234', group: '0' });
  assert.deepEqual(userAndGroup('nobody', {}), { user: 'nobody', group: '0' });
});

test('no version without a tag; an empty config is a root app with no exec', () => {
  const c = config({}, { architecture: 'amd64', variant: undefined, created: undefined });
  const m = manifestFromConfig(c, { name: 'x/y', provenance: {} }, configPlatform(c, 'x'));
  assert.deepEqual(m.labels, [
    { name: 'os', value: 'linux' },
    { name: 'arch', value: 'amd64' },
  ]);
  assert.deepEqual(m.app!.exec, []);
  assert.equal(m.app!.user, '0');
});

test('platforms appc has no arch for, and wrong field types, are refused', () => {
  assert.throws(() => configPlatform(config({}, { architecture: 'riscv64', variant: undefined }), 'docker://x'), /docker:\/\/x is for linux\/riscv64, which has no appc arch/);
  assert.throws(() => config({ Cmd: 'echo hi' }), /config: config.Cmd is not a list of strings/);
  assert.throws(() => parseImageConfig(Buffer.from('[1]'), 'config'), /not a JSON object/);
});

test('ports and volumes helpers', () => {
  assert.deepEqual(portsFrom({ '70000/tcp': {}, 'x/tcp': {}, '0/tcp': {} }), []);
  assert.deepEqual(mountPointsFrom({ '/': {}, '/a/../b': {} }).map((m) => m.name), ['volume-root']);
  assert.deepEqual(mountPointsFrom({ '/a-b': {}, '/a_b': {} }).map((m) => m.name), ['volume-a-b', 'volume-a-b-2']);
});
