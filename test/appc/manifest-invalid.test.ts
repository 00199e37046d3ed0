import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseImageManifest } from '../../src/appc/image-manifest.ts';
import { parsePodManifest } from '../../src/appc/pod-manifest.ts';

// Each case is a valid manifest with one thing broken, and the one-line message that
// must name the field and the rule.

const APP = { exec: ['/bin/app'], user: '0', group: '0' };
const IMAGE = { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/app', app: APP };
const image = (over: object) => ({ ...IMAGE, ...over });
const app = (over: object) => image({ app: { ...APP, ...over } });
const isolator = (name: string, value: unknown) => app({ isolators: [{ name, value }] });

const IMAGE_CASES: [string, unknown, string][] = [
  ['wrong kind', image({ acKind: 'PodManifest' }), 'manifest: acKind "PodManifest" must be "ImageManifest"'],
  ['no kind', { acVersion: '0.8.11', name: 'x' }, 'manifest: acKind "" must be "ImageManifest"'],
  ['no version', image({ acVersion: '' }), 'manifest: acVersion is required'],
  ['version not semver', image({ acVersion: '0.8' }), 'manifest: acVersion "0.8" must be a semantic version like 0.8.11'],
  ['zero version', image({ acVersion: '0.0.0' }), 'manifest: acVersion "0.0.0" must be a semantic version like 0.8.11'],
  ['no name', image({ name: undefined }), 'manifest: name is required'],
  ['upper-case name', image({ name: 'Example.com/App' }), 'manifest: name "Example.com/App" must be an AC Identifier (lowercase letters, digits and -._~/ between them)'],
  ['name ending in a separator', image({ name: 'example.com/' }), 'manifest: name "example.com/" must be an AC Identifier (lowercase letters, digits and -._~/ between them)'],
  ['name not a string', image({ name: 42 }), 'manifest: name must be a string, not a number'],
  ['top level an array', [], 'manifest: must be an object, not an array'],
  ['labels not a list', image({ labels: { os: 'linux' } }), 'manifest: labels must be an array, not an object'],
  ['label called name', image({ labels: [{ name: 'version', value: '1' }, { name: 'name', value: 'x' }] }), 'manifest: labels[1].name "name" is reserved: the image name goes in the name field'],
  ['duplicate label', image({ labels: [{ name: 'os', value: 'linux' }, { name: 'os', value: 'linux' }] }), 'manifest: labels[1].name "os" is a duplicate'],
  ['label name with a space', image({ labels: [{ name: 'my label', value: 'x' }] }), 'manifest: labels[0].name "my label" must be an AC Identifier (lowercase letters, digits and -._~/ between them)'],
  ['label value a number', image({ labels: [{ name: 'version', value: 1 }] }), 'manifest: labels[0].value must be a string, not a number'],
  ['arch arm on linux', image({ labels: [{ name: 'os', value: 'linux' }, { name: 'arch', value: 'arm' }] }), 'manifest: labels[1].value arch "arm" is not valid for linux (one of: amd64, i386, aarch64, aarch64_be, armv6l, armv7l, armv7b, ppc64, ppc64le, s390x)'],
  ['unknown os', image({ labels: [{ name: 'os', value: 'plan9' }] }), 'manifest: labels[0].value os "plan9" is not supported (one of: darwin, freebsd, linux)'],
  ['app not an object', image({ app: ['/bin/app'] }), 'manifest: app must be an object, not an array'],
  ['no user', app({ user: '' }), 'manifest: app.user is required'],
  ['no group', app({ group: undefined }), 'manifest: app.group is required'],
  ['empty exec[0]', app({ exec: [''] }), 'manifest: app.exec[0] must not be empty'],
  ['exec not strings', app({ exec: ['/bin/app', 3] }), 'manifest: app.exec[1] must be a string, not a number'],
  ['relative working directory', app({ workingDirectory: 'opt' }), 'manifest: app.workingDirectory "opt" must be an absolute path'],
  ['negative gid', app({ supplementaryGIDs: [1, -1] }), 'manifest: app.supplementaryGIDs[1] -1 must be between 0 and 4294967295'],
  ['fractional gid', app({ supplementaryGIDs: [1.5] }), 'manifest: app.supplementaryGIDs[0] 1.5 must be an integer'],
  ['unknown event handler', app({ eventHandlers: [{ name: 'pre-start', exec: ['/a'] }, { name: 'on-crash', exec: ['/b'] }] }), 'manifest: app.eventHandlers[1].name "on-crash" must be pre-start or post-stop'],
  ['event handler twice', app({ eventHandlers: [{ name: 'post-stop', exec: ['/a'] }, { name: 'post-stop', exec: ['/b'] }] }), 'manifest: app.eventHandlers[1].name "post-stop" is a duplicate'],
  ['event handler without exec', app({ eventHandlers: [{ name: 'pre-start' }] }), 'manifest: app.eventHandlers[0].exec must not be empty'],
  ['environment name with a space', app({ environment: [{ name: 'MY VAR', value: 'x' }] }), 'manifest: app.environment[0].name "MY VAR" must be letters, digits, "_", "." or "-", not starting with a digit'],
  ['environment name starting with a digit', app({ environment: [{ name: '1X', value: 'x' }] }), 'manifest: app.environment[0].name "1X" must be letters, digits, "_", "." or "-", not starting with a digit'],
  ['duplicate environment', app({ environment: [{ name: 'A', value: '1' }, { name: 'A', value: '2' }] }), 'manifest: app.environment[1].name "A" is a duplicate'],
  ['mount point name with a dot', app({ mountPoints: [{ name: 'my.data', path: '/d' }] }), 'manifest: app.mountPoints[0].name "my.data" must be an AC Name (lowercase letters, digits and - between them)'],
  ['relative mount point', app({ mountPoints: [{ name: 'd', path: 'd' }] }), 'manifest: app.mountPoints[0].path "d" must be an absolute path'],
  ['mount point without path', app({ mountPoints: [{ name: 'd' }] }), 'manifest: app.mountPoints[0].path is required'],
  ['duplicate mount point', app({ mountPoints: [{ name: 'd', path: '/a' }, { name: 'd', path: '/b' }] }), 'manifest: app.mountPoints[1].name "d" is a duplicate'],
  ['mount point readOnly a string', app({ mountPoints: [{ name: 'd', path: '/a', readOnly: 'yes' }] }), 'manifest: app.mountPoints[0].readOnly must be a boolean, not a string'],
  ['sctp port', app({ ports: [{ name: 'p', protocol: 'sctp', port: 1 }] }), 'manifest: app.ports[0].protocol "sctp" must be tcp or udp'],
  ['port 0', app({ ports: [{ name: 'p', protocol: 'tcp', port: 0 }] }), 'manifest: app.ports[0].port 0 must be between 1 and 65535'],
  ['port 65536', app({ ports: [{ name: 'p', protocol: 'tcp', port: 65536 }] }), 'manifest: app.ports[0].port 65536 must be between 1 and 65535'],
  ['port missing', app({ ports: [{ name: 'p', protocol: 'tcp' }] }), 'manifest: app.ports[0].port is required'],
  ['port range past 65535', app({ ports: [{ name: 'p', protocol: 'tcp', port: 65000, count: 537 }] }), 'manifest: app.ports[0].count 537 makes the range end past port 65535'],
  ['negative count', app({ ports: [{ name: 'p', protocol: 'tcp', port: 80, count: -1 }] }), 'manifest: app.ports[0].count -1 must be between 0 and 65535'],
  ['socketActivated a string', app({ ports: [{ name: 'p', protocol: 'tcp', port: 80, socketActivated: 'true' }] }), 'manifest: app.ports[0].socketActivated must be a boolean, not a string'],
  ['duplicate port', app({ ports: [{ name: 'p', protocol: 'tcp', port: 80 }, { name: 'p', protocol: 'udp', port: 80 }] }), 'manifest: app.ports[1].name "p" is a duplicate'],
  ['isolator name not an identifier', isolator('Resource/CPU', {}), 'manifest: app.isolators[0].name "Resource/CPU" must be an AC Identifier (lowercase letters, digits and -._~/ between them)'],
  ['isolator without value', app({ isolators: [{ name: 'resource/cpu' }] }), 'manifest: app.isolators[0].value is required for resource/cpu'],
  ['memory limit not a quantity', isolator('resource/memory', { limit: 'lots' }), 'manifest: app.isolators[0].value.limit "lots" is not a quantity (like 500m, 1G or 128Mi)'],
  ['negative cpu request', isolator('resource/cpu', { request: '-1' }), 'manifest: app.isolators[0].value.request "-1" must not be negative'],
  ['cpu with default true', isolator('resource/cpu', { default: true, limit: '1' }), 'manifest: app.isolators[0].value.default must be false'],
  ['network bandwidth without default', isolator('resource/network-bandwidth', { limit: '1G' }), 'manifest: app.isolators[0].value.default must be true'],
  ['block iops with a request', isolator('resource/block-iops', { default: true, request: '10', limit: '100' }), 'manifest: app.isolators[0].value.request is not supported by this resource'],
  ['empty capability set', isolator('os/linux/capabilities-retain-set', { set: [] }), 'manifest: app.isolators[0].value.set must not be empty'],
  ['capability without CAP_', isolator('os/linux/capabilities-remove-set', { set: ['NET_ADMIN'] }), 'manifest: app.isolators[0].value.set[0] "NET_ADMIN" must be a capability name like CAP_NET_ADMIN'],
  ['no-new-privileges a string', isolator('os/linux/no-new-privileges', 'true'), 'manifest: app.isolators[0].value must be a boolean, not a string'],
  ['lower-case errno', isolator('os/linux/seccomp-remove-set', { set: ['reboot'], errno: 'eperm' }), 'manifest: app.isolators[0].value.errno "eperm" must be an upper-case errno name like EPERM'],
  ['oom score out of range', isolator('os/linux/oom-score-adj', 1001), 'manifest: app.isolators[0].value 1001 must be between -1000 and 1000'],
  ['cpu shares too low', isolator('os/linux/cpu-shares', 1), 'manifest: app.isolators[0].value 1 must be between 2 and 262144'],
  ['selinux user with a colon', isolator('os/linux/selinux-context', { user: 'a:b', role: 'r', type: 't', level: 's0' }), 'manifest: app.isolators[0].value.user "a:b" must not contain ":"'],
  ['apparmor without profile', isolator('os/linux/apparmor-profile', {}), 'manifest: app.isolators[0].value.profile is required'],
  ['sysctl value not a string', isolator('os/unix/sysctl', { 'net.x': 1 }), 'manifest: app.isolators[0].value["net.x"] must be a string, not a number'],
  [
    'seccomp retain and remove together',
    app({ isolators: [{ name: 'os/linux/seccomp-retain-set', value: { set: ['read'] } }, { name: 'os/linux/seccomp-remove-set', value: { set: ['reboot'] } }] }),
    'manifest: app.isolators[1].name "os/linux/seccomp-remove-set" cannot be used with os/linux/seccomp-retain-set',
  ],
  [
    'two memory isolators',
    app({ isolators: [{ name: 'resource/memory', value: { limit: '1G' } }, { name: 'resource/memory', value: { limit: '2G' } }] }),
    'manifest: app.isolators[1].name "resource/memory" may appear only once',
  ],
  ['user annotation not a string', app({ userAnnotations: { a: 1 } }), 'manifest: app.userAnnotations["a"] must be a string, not a number'],
  ['dependency without name', image({ dependencies: [{ imageID: 'sha512-aa' }] }), 'manifest: dependencies[0].imageName is required'],
  ['dependency ID of another hash', image({ dependencies: [{ imageName: 'a', imageID: 'sha256-aa' }] }), 'manifest: dependencies[0].imageID "sha256-aa" must be an image ID: sha512- followed by the hash'],
  ['dependency ID without value', image({ dependencies: [{ imageName: 'a', imageID: 'sha512-' }] }), 'manifest: dependencies[0].imageID "sha512-" must be an image ID: sha512- followed by the hash'],
  ['dependency label called name', image({ dependencies: [{ imageName: 'a', labels: [{ name: 'name', value: 'b' }] }] }), 'manifest: dependencies[0].labels[0].name "name" is reserved: the image name goes in the name field'],
  ['dependency negative size', image({ dependencies: [{ imageName: 'a', size: -5 }] }), 'manifest: dependencies[0].size -5 must be between 0 and 9007199254740991'],
  ['relative whitelist path', image({ pathWhitelist: ['/bin/sh', 'etc/passwd'] }), 'manifest: pathWhitelist[1] "etc/passwd" must be an absolute path'],
  ['duplicate whitelist path', image({ pathWhitelist: ['/a', '/a'] }), 'manifest: pathWhitelist[1] "/a" is a duplicate'],
  ['duplicate annotation', image({ annotations: [{ name: 'a', value: '1' }, { name: 'a', value: '2' }] }), 'manifest: annotations[1].name "a" is a duplicate'],
  ['created without T', image({ annotations: [{ name: 'created', value: '2014-10-27 19:32:27Z' }] }), 'manifest: annotations[0].value "2014-10-27 19:32:27Z" must be an RFC3339 timestamp (created)'],
  ['created on February 30', image({ annotations: [{ name: 'created', value: '2014-02-30T00:00:00Z' }] }), 'manifest: annotations[0].value "2014-02-30T00:00:00Z" must be an RFC3339 timestamp (created)'],
  ['homepage not a URL', image({ annotations: [{ name: 'homepage', value: 'example.com' }] }), 'manifest: annotations[0].value "example.com" must be an absolute http or https URL (homepage)'],
  ['documentation over ftp', image({ annotations: [{ name: 'documentation', value: 'ftp://example.com/doc' }] }), 'manifest: annotations[0].value "ftp://example.com/doc" must be an absolute http or https URL (documentation)'],
];

const POD = { acVersion: '0.8.11', acKind: 'PodManifest', apps: [{ name: 'a', image: { id: 'sha512-aa' } }] };
const pod = (over: object) => ({ ...POD, ...over });
const podApp = (over: object) => pod({ apps: [{ name: 'a', image: { id: 'sha512-aa' }, ...over }] });

const POD_CASES: [string, unknown, string][] = [
  ['wrong kind', pod({ acKind: 'ImageManifest' }), 'pod manifest: acKind "ImageManifest" must be "PodManifest"'],
  ['bad version', pod({ acVersion: 'v1' }), 'pod manifest: acVersion "v1" must be a semantic version like 0.8.11'],
  ['apps not a list', pod({ apps: {} }), 'pod manifest: apps must be an array, not an object'],
  ['app name with an underscore', podApp({ name: 'my_app' }), 'pod manifest: apps[0].name "my_app" must be an AC Name (lowercase letters, digits and - between them)'],
  ['duplicate app', pod({ apps: [{ name: 'a', image: { id: 'sha512-aa' } }, { name: 'a', image: { id: 'sha512-bb' } }] }), 'pod manifest: apps[1].name "a" is a duplicate'],
  ['app without image', pod({ apps: [{ name: 'a' }] }), 'pod manifest: apps[0].image is required'],
  ['image with neither name nor id', podApp({ image: { labels: [] } }), 'pod manifest: apps[0].image needs a name or an id'],
  ['image ID not a hash', podApp({ image: { id: 'deadbeef' } }), 'pod manifest: apps[0].image.id "deadbeef" must be an image ID: sha512- followed by the hash'],
  ['image label arch arm', podApp({ image: { id: 'sha512-aa', labels: [{ name: 'os', value: 'linux' }, { name: 'arch', value: 'arm' }] } }), 'pod manifest: apps[0].image.labels[1].value arch "arm" is not valid for linux (one of: amd64, i386, aarch64, aarch64_be, armv6l, armv7l, armv7b, ppc64, ppc64le, s390x)'],
  ['app override without user', podApp({ app: { exec: ['/x'], group: '0' } }), 'pod manifest: apps[0].app.user is required'],
  ['app override bad handler', podApp({ app: { ...APP, eventHandlers: [{ name: 'post-start', exec: ['/x'] }] } }), 'pod manifest: apps[0].app.eventHandlers[0].name "post-start" must be pre-start or post-stop'],
  ['readOnlyRootFS a string', podApp({ readOnlyRootFS: 'true' }), 'pod manifest: apps[0].readOnlyRootFS must be a boolean, not a string'],
  ['mount without volume', podApp({ mounts: [{ path: '/x' }] }), 'pod manifest: apps[0].mounts[0].volume is required'],
  ['mount with relative path', podApp({ mounts: [{ volume: 'v', path: 'x' }] }), 'pod manifest: apps[0].mounts[0].path "x" must be an absolute path'],
  ['appVolume of unknown kind', podApp({ mounts: [{ volume: 'v', path: '/x', appVolume: { name: 'v', kind: 'tmpfs' } }] }), 'pod manifest: apps[0].mounts[0].appVolume.kind "tmpfs" must be host or empty'],
  ['app annotation not an identifier', podApp({ annotations: [{ name: 'Foo', value: 'x' }] }), 'pod manifest: apps[0].annotations[0].name "Foo" must be an AC Identifier (lowercase letters, digits and -._~/ between them)'],
  ['volume without kind', pod({ volumes: [{ name: 'v' }] }), 'pod manifest: volumes[0].kind is required'],
  ['host volume without source', pod({ volumes: [{ name: 'v', kind: 'host' }] }), 'pod manifest: volumes[0].source is required'],
  ['host volume with relative source', pod({ volumes: [{ name: 'v', kind: 'host', source: 'srv' }] }), 'pod manifest: volumes[0].source "srv" must be an absolute path'],
  ['host volume with a mode', pod({ volumes: [{ name: 'v', kind: 'host', source: '/srv', mode: '0755' }] }), 'pod manifest: volumes[0].mode is only for empty volumes'],
  ['empty volume with a source', pod({ volumes: [{ name: 'v', kind: 'empty', source: '/srv' }] }), 'pod manifest: volumes[0].source must not be set for an empty volume'],
  ['empty volume with a bad mode', pod({ volumes: [{ name: 'v', kind: 'empty', mode: 'rwx' }] }), 'pod manifest: volumes[0].mode "rwx" must be an octal file mode like 0755'],
  ['empty volume with a negative uid', pod({ volumes: [{ name: 'v', kind: 'empty', uid: -1 }] }), 'pod manifest: volumes[0].uid -1 must be between 0 and 4294967295'],
  ['volume readOnly a number', pod({ volumes: [{ name: 'v', kind: 'empty', readOnly: 1 }] }), 'pod manifest: volumes[0].readOnly must be a boolean, not a number'],
  ['duplicate volume', pod({ volumes: [{ name: 'v', kind: 'empty' }, { name: 'v', kind: 'empty' }] }), 'pod manifest: volumes[1].name "v" is a duplicate'],
  ['pod isolator out of range', pod({ isolators: [{ name: 'os/linux/oom-score-adj', value: -2000 }] }), 'pod manifest: isolators[0].value -2000 must be between -1000 and 1000'],
  ['duplicate pod annotation', pod({ annotations: [{ name: 'x', value: '1' }, { name: 'x', value: '1' }] }), 'pod manifest: annotations[1].name "x" is a duplicate'],
  ['exposed port without hostPort', pod({ ports: [{ name: 'http' }] }), 'pod manifest: ports[0].hostPort is required'],
  ['exposed port with an IPv6 hostIP', pod({ ports: [{ name: 'http', hostPort: 80, hostIP: '::1' }] }), 'pod manifest: ports[0].hostIP "::1" must be an IPv4 address like 203.0.113.23'],
  ['exposed port twice', pod({ ports: [{ name: 'http', hostPort: 80 }, { name: 'http', hostPort: 81 }] }), 'pod manifest: ports[1].name "http" is a duplicate'],
  ['podPort with a bad protocol', pod({ ports: [{ name: 'x', hostPort: 80, podPort: { name: 'x', protocol: 'icmp', port: 1 } }] }), 'pod manifest: ports[0].podPort.protocol "icmp" must be tcp or udp'],
  ['userLabels a list', pod({ userLabels: ['a'] }), 'pod manifest: userLabels must be an object, not an array'],
];

describe('invalid image manifests', () => {
  for (const [what, manifest, message] of IMAGE_CASES) {
    it(`rejects ${what}`, () => {
      assert.throws(() => parseImageManifest(JSON.stringify(manifest)), { name: 'ManifestError', message });
    });
  }
  it('rejects text that is not JSON, in one line', () => {
    assert.throws(() => parseImageManifest('{"acKind": "ImageManifest",\n}'), (err: Error) => /^manifest: invalid JSON: .+$/.test(err.message));
  });
});

describe('invalid pod manifests', () => {
  for (const [what, manifest, message] of POD_CASES) {
    it(`rejects ${what}`, () => {
      assert.throws(() => parsePodManifest(JSON.stringify(manifest)), { name: 'ManifestError', message });
    });
  }
  it('rejects text that is not JSON, in one line', () => {
    assert.throws(() => parsePodManifest(new Uint8Array([0x7b])), (err: Error) => /^pod manifest: invalid JSON: .+$/.test(err.message));
  });
});

describe('every case is otherwise valid', () => {
  it('the bases the cases start from are accepted', () => {
    assert.equal(parseImageManifest(JSON.stringify(IMAGE)).name, 'example.com/app');
    assert.equal(parsePodManifest(JSON.stringify(POD)).apps.length, 1);
  });
});
