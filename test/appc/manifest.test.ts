import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseImageManifest, serializeImageManifest, validateImageManifest } from '../../src/appc/image-manifest.ts';
import { getAnnotation } from '../../src/appc/annotations.ts';
import { getLabel } from '../../src/appc/labels.ts';
import { ManifestError } from '../../src/appc/manifest-error.ts';
import { parsePodManifest, serializePodManifest, validatePodManifest } from '../../src/appc/pod-manifest.ts';
import { APPC_VERSION } from '../../src/appc/spec-version.ts';
import { UserError } from '../../src/util/errors.ts';

const example = (name: string): string => readFileSync(new URL(`../../../shared/appc-spec/examples/${name}`, import.meta.url), 'utf8');

// Every field of the image manifest, with values that differ from the defaults.
const FULL_IMAGE = {
  acKind: 'ImageManifest',
  acVersion: '0.8.11',
  name: 'example.com/full~user/app_v1',
  labels: [
    { name: 'version', value: '1.2.3' },
    { name: 'os', value: 'linux' },
    { name: 'arch', value: 'armv6l' },
  ],
  app: {
    exec: ['/bin/app', '--flag'],
    eventHandlers: [
      { name: 'pre-start', exec: ['/bin/pre'] },
      { name: 'post-stop', exec: ['/bin/post', 'x'] },
    ],
    user: 'nobody',
    group: '/etc/passwd',
    supplementaryGIDs: [0, 400],
    workingDirectory: '/srv',
    environment: [
      { name: 'A_B', value: '1' },
      { name: 'dotted.name-x', value: '' },
    ],
    mountPoints: [
      { name: 'data', path: '/data', readOnly: true },
      { name: 'tmp', path: '/tmp', readOnly: false },
    ],
    ports: [
      { name: 'http', protocol: 'tcp', port: 80, count: 1, socketActivated: false },
      { name: 'range', protocol: 'udp', port: 60000, count: 100, socketActivated: true },
    ],
    isolators: [
      { name: 'resource/cpu', value: { request: '250m', limit: '1' } },
      { name: 'resource/memory', value: { request: '64Mi', limit: '128Mi' } },
      { name: 'resource/block-bandwidth', value: { default: true, limit: '2M' } },
      { name: 'resource/block-iops', value: { default: true, limit: '1000' } },
      { name: 'resource/network-bandwidth', value: { default: true, limit: '1G' } },
      { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_BIND_SERVICE'] } },
      { name: 'os/linux/no-new-privileges', value: true },
      { name: 'os/linux/seccomp-retain-set', value: { set: ['read', 'write', '@appc.io/all'], errno: 'EPERM' } },
      { name: 'os/linux/oom-score-adj', value: -500 },
      { name: 'os/linux/cpu-shares', value: 512 },
      { name: 'os/linux/selinux-context', value: { user: 'system_u', role: 'system_r', type: 'dhcpc_t', level: 's0:c1' } },
      { name: 'os/linux/apparmor-profile', value: { profile: 'rkt-default' } },
      { name: 'example.com/unknown', value: { anything: [1, 'two', null] } },
    ],
    userAnnotations: { 'free key': 'x', ['__proto__']: 'kept as a key' },
    userLabels: { team: 'edge' },
  },
  annotations: [
    { name: 'created', value: '2024-02-29T23:59:59+05:30' },
    { name: 'homepage', value: 'http://example.com/app' },
    { name: 'documentation', value: 'https://example.com/docs' },
    { name: 'authors', value: 'someone' },
  ],
  dependencies: [
    { imageName: 'example.com/base', imageID: 'sha512-abcdef', labels: [{ name: 'os', value: 'freebsd' }, { name: 'arch', value: 'arm' }], size: 1234 },
    { imageName: 'example.com/other', labels: [] },
  ],
  pathWhitelist: ['/bin/app', '/etc/'],
};

const FULL_POD = {
  acVersion: '0.8.11',
  acKind: 'PodManifest',
  apps: [
    {
      name: 'web',
      image: { name: 'example.com/web', id: 'sha512-0123', labels: [{ name: 'version', value: '2' }] },
      app: FULL_IMAGE.app,
      readOnlyRootFS: true,
      mounts: [
        { volume: 'data', path: '/data' },
        { volume: 'scratch', path: '/scratch', appVolume: { name: 'scratch', kind: 'empty', mode: '1777', uid: 10, gid: 20, readOnly: false } },
      ],
      annotations: [{ name: 'foo', value: 'bar' }],
    },
    { name: 'sidecar', image: { id: 'sha512-4567' } },
  ],
  volumes: [
    { name: 'data', kind: 'host', source: '/srv/data', readOnly: true, recursive: false },
    { name: 'cache', kind: 'empty' },
  ],
  isolators: [
    { name: 'resource/memory', value: { limit: '512M' } },
    { name: 'os/unix/sysctl', value: { 'net.ipv4.tcp_fin_timeout': '6' } },
  ],
  annotations: [{ name: 'ip-address', value: '10.1.2.3' }],
  ports: [
    { name: 'http', hostPort: 8080, hostIP: '203.0.113.23' },
    { name: 'extra', hostPort: 9090, podPort: { name: 'extra', protocol: 'udp', port: 9000, count: 2, socketActivated: false } },
  ],
  userAnnotations: { note: 'hi' },
  userLabels: { env: 'prod' },
};

describe('the spec examples', () => {
  it('image.json validates, including the "sha512-..." placeholder ID', () => {
    const m = parseImageManifest(readFileSync(new URL('../../../shared/appc-spec/examples/image.json', import.meta.url)));
    assert.equal(m.name, 'example.com/reduce-worker');
    assert.equal(getLabel(m.labels, 'arch'), 'amd64');
    assert.equal(getLabel(m.labels, 'missing'), undefined);
    assert.equal(m.dependencies[0]?.imageID, 'sha512-...');
    assert.deepEqual(m.app?.isolators[4], {
      name: 'os/linux/seccomp-remove-set',
      value: { set: ['clock_settime', 'clock_adjtime', 'reboot'], errno: 'EACCESS' },
    });
    assert.deepEqual(m.app?.ports[0], { name: 'health', protocol: 'tcp', port: 4000, count: 1, socketActivated: true });
    assert.equal(getAnnotation(m.annotations, 'appc.io/executor/supports-systemd-notify'), 'false');
    assert.equal(getAnnotation(m.annotations, 'missing'), undefined);
  });

  it('pod_runtime.json validates, with defaults filled in for the empty volume', () => {
    const p = parsePodManifest(example('pod_runtime.json'));
    assert.deepEqual(p.apps.map((a) => a.name), ['reduce-worker', 'backup', 'register']);
    assert.deepEqual(p.volumes[1], { name: 'buildoutput', kind: 'empty', mode: '0777', uid: 0, gid: 0 });
    assert.deepEqual(p.isolators[1]?.value, { 'net.ipv4.tcp_fin_timeout': '6' });
  });

  it('pod_template.json validates though its images have no id yet', () => {
    const p = parsePodManifest(example('pod_template.json'));
    assert.equal(p.acVersion, '0.3.0');
    assert.equal(p.apps[1]?.image.id, undefined);
    assert.equal(getLabel(p.apps[2]?.image.labels ?? [], 'version'), '3.0.0');
  });
});

describe('round trips', () => {
  const imageCases: [string, string][] = [
    ['image.json', example('image.json')],
    ['a manifest with every field', JSON.stringify(FULL_IMAGE)],
  ];
  for (const [what, text] of imageCases) {
    it(`image manifest: ${what} keeps every field, compact and pretty`, () => {
      const once = parseImageManifest(text);
      assert.deepEqual(parseImageManifest(serializeImageManifest(once)), once);
      assert.deepEqual(parseImageManifest(serializeImageManifest(once, { pretty: true })), once);
    });
  }

  const podCases: [string, string][] = [
    ['pod_runtime.json', example('pod_runtime.json')],
    ['pod_template.json', example('pod_template.json')],
    ['a pod manifest with every field', JSON.stringify(FULL_POD)],
  ];
  for (const [what, text] of podCases) {
    it(`pod manifest: ${what} keeps every field`, () => {
      const once = parsePodManifest(text);
      assert.deepEqual(parsePodManifest(serializePodManifest(once)), once);
      assert.deepEqual(parsePodManifest(serializePodManifest(once, { pretty: true })), once);
    });
  }

  it('the full image manifest reads back as it was written, field for field', () => {
    const m = parseImageManifest(JSON.stringify(FULL_IMAGE));
    const input = JSON.parse(JSON.stringify(FULL_IMAGE)) as typeof FULL_IMAGE;
    assert.deepEqual(m.app?.isolators, input.app.isolators);
    assert.deepEqual(m.dependencies, [input.dependencies[0], { imageName: 'example.com/other', labels: [] }]);
    assert.deepEqual(Object.keys(m.app?.userAnnotations ?? {}), ['free key', '__proto__']);
    assert.equal(m.app?.workingDirectory, '/srv');
  });

  it('serializes with canonical key order and leaves out empty optional fields', () => {
    const m = parseImageManifest('{"name":"x","acVersion":"1.0.0","acKind":"ImageManifest","labels":[],"annotations":null,"app":{"group":"0","user":"0","exec":["/x"],"mountPoints":[{"readOnly":false,"path":"/m","name":"m"}],"ports":[{"protocol":"tcp","port":1,"count":0,"name":"p"}]}}');
    assert.equal(
      serializeImageManifest(m),
      '{"acKind":"ImageManifest","acVersion":"1.0.0","name":"x","app":{"exec":["/x"],"user":"0","group":"0","mountPoints":[{"name":"m","path":"/m"}],"ports":[{"name":"p","protocol":"tcp","port":1,"count":1,"socketActivated":false}]}}',
    );
    const p = parsePodManifest('{"acKind":"PodManifest","acVersion":"0.8.11"}');
    assert.equal(serializePodManifest(p), '{"acVersion":"0.8.11","acKind":"PodManifest","apps":[]}');
  });

  it('ends pretty output with a newline and compact output without one', () => {
    const m = parseImageManifest(example('image.json'));
    assert.match(serializeImageManifest(m, { pretty: true }), /^\{\n {2}"acKind": "ImageManifest",\n[\s\S]*\}\n$/);
    assert.doesNotMatch(serializeImageManifest(m), /\n/);
  });

  it('refuses to serialize a manifest that is not valid', () => {
    const m = parseImageManifest(example('image.json'));
    assert.throws(() => serializeImageManifest({ ...m, name: 'Not Valid' }), {
      name: 'ManifestError',
      message: 'manifest: name "Not Valid" must be an AC Identifier (lowercase letters, digits and -._~/ between them)',
    });
  });
});

describe('reading like Go encoding/json', () => {
  it('matches keys in any case and writes them canonically', () => {
    const text = JSON.stringify({
      ACKIND: 'ImageManifest',
      acversion: '0.8.11',
      Name: 'example.com/x',
      LABELS: [{ NAME: 'os', VALUE: 'linux' }],
      App: {
        Exec: ['/x'],
        USER: '1',
        group: '2',
        supplementaryGids: [5],
        WorkingDirectory: '/w',
        EventHandlers: [{ Name: 'pre-start', EXEC: ['/p'] }],
        MOUNTPOINTS: [{ Name: 'm', PATH: '/m', readonly: true }],
        ports: [{ NAME: 'p', Protocol: 'udp', Port: 53, SocketActivated: true }],
        isolators: [{ Name: 'resource/memory', Value: { Limit: '1G', REQUEST: 5 } }],
      },
      PathWhiteList: ['/x'],
      dependencies: [{ IMAGENAME: 'example.com/y', imageid: 'sha512-aa', SIZE: 7 }],
    });
    const m = parseImageManifest(text);
    assert.equal(m.app?.user, '1');
    assert.deepEqual(m.app?.supplementaryGIDs, [5]);
    assert.deepEqual(m.app?.mountPoints, [{ name: 'm', path: '/m', readOnly: true }]);
    assert.deepEqual(m.app?.isolators, [{ name: 'resource/memory', value: { request: '5', limit: '1G' } }]);
    assert.deepEqual(m.dependencies, [{ imageName: 'example.com/y', imageID: 'sha512-aa', labels: [], size: 7 }]);
    const out = serializeImageManifest(m);
    assert.match(out, /"supplementaryGIDs":\[5\]/);
    assert.match(out, /"pathWhitelist":\["\/x"\]/);
    assert.doesNotMatch(out, /"(ACKIND|Name|App|USER|LABELS|IMAGENAME)"/);
  });

  it('reads pod keys in any case', () => {
    const p = parsePodManifest('{"AcKind":"PodManifest","ACVERSION":"0.8.11","Apps":[{"NAME":"a","Image":{"ID":"sha512-1"},"ReadOnlyRootFs":true,"MOUNTS":[{"Volume":"v","Path":"/v"}]}],"Volumes":[{"Name":"v","Kind":"host","Source":"/s"}],"PORTS":[{"name":"p","HOSTPORT":80,"hostip":"127.0.0.1"}]}');
    assert.equal(p.apps[0]?.readOnlyRootFS, true);
    assert.deepEqual(p.apps[0]?.mounts, [{ volume: 'v', path: '/v' }]);
    assert.deepEqual(p.ports, [{ name: 'p', hostPort: 80, hostIP: '127.0.0.1' }]);
  });

  it('lets the last of two keys differing in case win, as Go does', () => {
    const m = parseImageManifest('{"acKind":"ImageManifest","acVersion":"0.8.11","name":"first","NAME":"second"}');
    assert.equal(m.name, 'second');
  });

  it('ignores unknown fields and treats null as absent', () => {
    const m = parseImageManifest('{"acKind":"ImageManifest","acVersion":"0.8.11","name":"x","futureField":{"a":1},"app":null,"labels":null}');
    assert.deepEqual(m, { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'x', labels: [], annotations: [], dependencies: [], pathWhitelist: [] });
  });

  it('accepts bytes as well as text, and a relative exec the ACE looks up in PATH', () => {
    const m = parseImageManifest(new TextEncoder().encode('{"acKind":"ImageManifest","acVersion":"0.8.11","name":"x","app":{"exec":["sh","-c","true"],"user":"0","group":"0"}}'));
    assert.deepEqual(m.app?.exec, ['sh', '-c', 'true']);
  });

  it('validates a manifest built in code, not only parsed JSON', () => {
    const built = validateImageManifest({ acKind: 'ImageManifest', acVersion: APPC_VERSION, name: 'x', labels: [], annotations: [], dependencies: [], pathWhitelist: [] });
    assert.equal(built.acVersion, '0.8.11');
    const pod = validatePodManifest({ acKind: 'PodManifest', acVersion: APPC_VERSION, apps: [] });
    assert.deepEqual(pod.apps, []);
  });

  it('fails as a ManifestError, a UserError with exit code 1', () => {
    assert.throws(
      () => parseImageManifest('{"acKind":'),
      (err: unknown) => err instanceof ManifestError && err instanceof UserError && err.exitCode === 1 && /^manifest: invalid JSON: /.test(err.message) && !err.message.includes('\n'),
    );
  });
});
