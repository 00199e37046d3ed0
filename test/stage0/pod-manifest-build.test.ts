import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseImageManifest } from '../../src/appc/image-manifest.ts';
import { parsePodManifest, serializePodManifest } from '../../src/appc/pod-manifest.ts';
import { APPC_VERSION } from '../../src/appc/spec-version.ts';
import type { AppArgs } from '../../src/stage0/app-args.ts';
import {
  appNameFromImage,
  appNames,
  buildPodManifest,
  checkHostname,
  parseVolumeFlag,
  reifyPodManifest,
  type ResolvedImage,
} from '../../src/stage0/pod-manifest-build.ts';
import { ExitCode } from '../../src/util/errors.ts';

const ID = (c: string) => `sha512-${c.repeat(128)}`;

/** `app` null: an image without an app. */
function image(name: string, app: Record<string, unknown> | null = { exec: ['/bin/x'], user: '0', group: '0' }, id = ID('a')): ResolvedImage {
  const labels = [{ name: 'version', value: '1.0' }, { name: 'arch', value: 'armv7l' }];
  const manifest = parseImageManifest(JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name, labels, ...(app ? { app } : {}) }));
  return { id, name, labels: manifest.labels, manifest };
}

const args = (over: Partial<AppArgs> = {}): AppArgs => ({ image: 'x.aci', mounts: [], environment: [], ...over });

describe('buildPodManifest', () => {
  it('makes a valid reified manifest from images and flags', () => {
    const { manifest, warnings } = buildPodManifest({
      images: [image('example.com/hello')],
      apps: [args({ exec: '/bin/sh', args: ['-c', 'echo hi'], readOnlyRootFS: true, mounts: [{ volume: 'data', target: '/data' }] })],
      volumes: ['data,kind=host,source=/srv/data,readOnly=true'],
    });
    assert.deepEqual(warnings, []);
    assert.equal(manifest.acVersion, APPC_VERSION);
    assert.deepEqual(manifest.volumes, [{ name: 'data', kind: 'host', source: '/srv/data', readOnly: true }]);
    const [ra] = manifest.apps;
    assert.equal(ra!.name, 'hello');
    assert.deepEqual(ra!.image, { name: 'example.com/hello', id: ID('a'), labels: [{ name: 'version', value: '1.0' }, { name: 'arch', value: 'armv7l' }] });
    assert.deepEqual(ra!.app!.exec, ['/bin/sh', '-c', 'echo hi']);
    assert.equal(ra!.readOnlyRootFS, true);
    assert.deepEqual(ra!.mounts, [{ volume: 'data', path: '/data' }]);
    // What prepare writes must read back the same.
    assert.deepEqual(parsePodManifest(serializePodManifest(manifest)), manifest);
  });

  it('names apps after the image, uniquely, and keeps explicit names', () => {
    const { manifest } = buildPodManifest({
      images: [image('example.com/hello'), image('example.com/hello'), image('example.com/other/hello'), image('example.com/web_server.v2')],
      apps: [args(), args(), args({ name: 'hello-2' }), args()],
      volumes: [],
    });
    assert.deepEqual(manifest.apps.map((a) => a.name), ['hello', 'hello-3', 'hello-2', 'web-server-v2']);
  });

  it('refuses duplicate explicit names and a pod without apps', () => {
    assert.throws(() => appNames([args({ name: 'a' }), args({ name: 'a' })], [{ name: 'x' }, { name: 'y' }]), {
      exitCode: ExitCode.usage,
      message: 'run: two apps are named a; give each app its own --name',
    });
    assert.throws(() => buildPodManifest({ images: [], apps: [], volumes: [] }), { exitCode: ExitCode.usage });
  });

  it('binds an image\'s mount points to the pod volume of that name, or to an implicit empty one with a notice', () => {
    const mountPoints = [
      { name: 'data', path: '/var/data' },
      { name: 'cache', path: '/var/cache', readOnly: true },
      { name: 'logs', path: '/var/log' },
    ];
    const { manifest, warnings } = buildPodManifest({
      images: [image('example.com/db', { exec: ['/db'], user: '0', group: '0', mountPoints })],
      apps: [args({ mounts: [{ volume: 'elsewhere', target: '/var/log' }] })],
      volumes: ['data,kind=empty,mode=0700,uid=5,gid=6', 'elsewhere,kind=host,source=/srv/log'],
    });
    assert.deepEqual(manifest.apps[0]!.mounts, [
      { volume: 'elsewhere', path: '/var/log' },
      { volume: 'data', path: '/var/data' },
      { volume: 'cache', path: '/var/cache' },
    ]);
    assert.deepEqual(manifest.volumes.map((v) => v.name), ['data', 'elsewhere', 'cache']);
    assert.deepEqual(manifest.volumes[2], { name: 'cache', kind: 'empty', mode: '0755', uid: 0, gid: 0 });
    assert.deepEqual(warnings, ['rkt: app db: no volume for mount point cache (/var/cache); using an empty volume, deleted with the pod']);
  });

  it('refuses a mount of an unknown volume, and overlapping mounts', () => {
    assert.throws(
      () => buildPodManifest({ images: [image('a')], apps: [args({ mounts: [{ volume: 'nope', target: '/x' }] })], volumes: [] }),
      { message: 'app a: mount /x names volume nope, which the pod does not have; add --volume nope,kind=...' },
    );
    const two = (t1: string, t2: string) =>
      buildPodManifest({
        images: [image('a')],
        apps: [args({ mounts: [{ volume: 'v', target: t1 }, { volume: 'v', target: t2 }] })],
        volumes: ['v,kind=empty'],
      });
    assert.throws(() => two('/x', '/x/'), { message: 'app a: two mounts at /x' });
    assert.throws(() => two('/x', '/x/y'), { message: 'app a: mounts at /x and /x/y overlap; use separate paths' });
    assert.doesNotThrow(() => two('/x', '/xy'));
    assert.throws(
      () => buildPodManifest({ images: [image('a')], apps: [args()], volumes: ['v,kind=empty', 'v,kind=empty'] }),
      { message: '--volume v is given twice' },
    );
  });

  it('refuses an image without exec and without --exec, naming the app', () => {
    assert.throws(() => buildPodManifest({ images: [image('example.com/data', null)], apps: [args()], volumes: [] }), {
      message: 'app data: image example.com/data has no exec; give one with --exec after the image',
    });
  });
});

describe('parseVolumeFlag', () => {
  it('reads rkt\'s host and empty volumes', () => {
    assert.deepEqual(parseVolumeFlag('src,kind=host,source=/home/pi/src,readOnly=true,recursive=false'), {
      name: 'src',
      kind: 'host',
      source: '/home/pi/src',
      readOnly: true,
      recursive: false,
    });
    assert.deepEqual(parseVolumeFlag('tmp,kind=empty'), { name: 'tmp', kind: 'empty', mode: '0755', uid: 0, gid: 0 });
    assert.deepEqual(parseVolumeFlag('tmp,kind=empty,mode=1777,uid=1000,gid=100'), { name: 'tmp', kind: 'empty', mode: '1777', uid: 1000, gid: 100 });
  });

  it('refuses malformed volumes in one usage line', () => {
    const cases: [string, RegExp][] = [
      ['kind=host,source=/x', /^--volume "kind=host,source=\/x": must start with the volume name/],
      ['v', /^--volume "v": needs kind=host or kind=empty$/],
      ['v,kind=bind', /^--volume "v,kind=bind": kind "bind" must be host or empty$/],
      ['v,kind=host', /^--volume "v,kind=host": source is required$/],
      ['v,kind=host,source=rel', /source "rel" must be an absolute path$/],
      ['v,kind=host,source=/x,mode=0700', /mode is only for empty volumes$/],
      ['v,kind=empty,mode=999', /mode "999" must be an octal file mode/],
      ['v,kind=empty,uid=-1', /uid must be a number$/],
      ['v,kind=empty,readOnly=yes', /readOnly must be true or false$/],
      ['v,kind=empty,size=1', /unknown key size/],
      ['v,kind=empty,kind=host', /kind is given twice$/],
      ['v,kind', /"kind" is not KEY=VALUE$/],
      ['V,kind=empty', /"V" must be an AC Name/],
    ];
    for (const [text, message] of cases) assert.throws(() => parseVolumeFlag(text), { exitCode: ExitCode.usage, message }, text);
  });
});

describe('reifyPodManifest', () => {
  it('fills in each app\'s image and app from the store', () => {
    const template = parsePodManifest(
      JSON.stringify({
        acKind: 'PodManifest',
        acVersion: '0.8.11',
        apps: [
          { name: 'web', image: { name: 'example.com/web' } },
          { name: 'job', image: { id: ID('b') }, app: { exec: ['/job'], user: '1', group: '1' } },
        ],
        volumes: [{ name: 'v', kind: 'empty' }],
      }),
    );
    const { manifest } = reifyPodManifest(template, [image('example.com/web'), image('example.com/job', null, ID('b'))]);
    assert.deepEqual(manifest.apps.map((a) => [a.name, a.image.id, a.image.name, a.app?.exec]), [
      ['web', ID('a'), 'example.com/web', ['/bin/x']],
      ['job', ID('b'), 'example.com/job', ['/job']],
    ]);
    assert.equal(template.apps[0]!.app, undefined, 'the template is not changed');
  });

  it('refuses an app with no exec from either', () => {
    const template = parsePodManifest(JSON.stringify({ acKind: 'PodManifest', acVersion: '0.8.11', apps: [{ name: 'd', image: { name: 'example.com/d' } }] }));
    assert.throws(() => reifyPodManifest(template, [image('example.com/d', null)]), {
      message: '--pod-manifest: app d: neither the pod manifest nor image example.com/d gives an exec',
    });
  });
});

describe('small helpers', () => {
  it('appNameFromImage', () => {
    assert.equal(appNameFromImage('example.com/hello'), 'hello');
    assert.equal(appNameFromImage('hello'), 'hello');
    assert.equal(appNameFromImage('example.com/app_v1.2'), 'app-v1-2');
    assert.equal(appNameFromImage('example.com/___'), 'app');
  });

  it('checkHostname', () => {
    assert.equal(checkHostname('pi-1.local'), 'pi-1.local');
    for (const bad of ['', '-a', 'a_b', 'a..b', 'x'.repeat(64)]) assert.throws(() => checkHostname(bad), { exitCode: ExitCode.usage }, bad);
  });
});
