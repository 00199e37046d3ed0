import assert from 'node:assert/strict';
import { chmodSync, chownSync, createWriteStream, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { packAci } from '../../src/appc/aci-writer.ts';
import { detectHostArch } from '../../src/appc/arch.ts';
import { canRunArch } from '../../src/appc/compatible-arch.ts';
import { parsePodManifest } from '../../src/appc/pod-manifest.ts';
import type { RktContext } from '../../src/config/context.ts';
import type { PodRuntime } from '../../src/pod/runtime.ts';
import { tryLockFile } from '../../src/sys/flock.ts';
import { binfmtHandlerFor } from '../../src/sys/kernel-features.ts';
import { splitRunArgs } from '../../src/stage0/app-args.ts';
import { DEFAULT_PATH } from '../../src/stage0/app-runtime.ts';
import { interpreterName, preparePod, type PrepareRequest } from '../../src/stage0/prepare.ts';
import { defaultStage1Candidates } from '../../src/stage0/stage1-image.ts';

// The whole prepare, for real: images packed here (an app with /etc/passwd, a stage1
// with the interface's annotations), a store and pods in a temp --dir.

const host = detectHostArch();
const isRoot = process.getuid?.() === 0;
const top = mkdtempSync(join(tmpdir(), 'rkt-prepare-'));
after(() => rmSync(top, { recursive: true, force: true }));
let seq = 0;

interface Layout {
  manifest: Record<string, unknown>;
  files: Record<string, string | { exe: string } | { owner: [number, number] }>;
}

/** Packs an image layout into an uncompressed .aci and returns its path. */
async function aci({ manifest, files }: Layout): Promise<string> {
  const dir = join(top, `layout-${seq++}`);
  mkdirSync(join(dir, 'rootfs'), { recursive: true });
  writeFileSync(join(dir, 'manifest'), JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', ...manifest }));
  for (const [name, content] of Object.entries(files)) {
    const at = join(dir, 'rootfs', name);
    mkdirSync(join(at, '..'), { recursive: true });
    if (typeof content === 'string') writeFileSync(at, content);
    else if ('exe' in content) {
      writeFileSync(at, content.exe);
      chmodSync(at, 0o755);
    } else {
      writeFileSync(at, '');
      chownSync(at, ...content.owner);
    }
  }
  const file = `${dir}.aci`;
  await pipeline(packAci(dir, { sourceDateEpoch: 1_700_000_000 }), createWriteStream(file));
  return file;
}

const labels = (arch: string) => [
  { name: 'version', value: '1.0' },
  { name: 'os', value: 'linux' },
  { name: 'arch', value: arch },
];

function helloImage(over: { name?: string; arch?: string; app?: Record<string, unknown> } = {}): Promise<string> {
  return aci({
    manifest: {
      name: over.name ?? 'example.com/hello',
      labels: labels(over.arch ?? host.arch),
      app: {
        exec: ['hello', '--greet'],
        user: 'www',
        group: '/etc/owned',
        environment: [{ name: 'GREETING', value: 'hi' }],
        mountPoints: [{ name: 'cache', path: '/var/cache' }],
        ...over.app,
      },
    },
    files: {
      'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n',
      'etc/group': 'root:x:0:\n',
      'etc/owned': { owner: [4321, 8765] },
      'usr/bin/hello': { exe: '#!/bin/sh\necho hello\n' },
    },
  });
}

function stage1Image(over: { version?: string; arch?: string; drop?: string } = {}): Promise<string> {
  const annotations = [
    { name: 'coreos.com/rkt/stage1/interface-version', value: over.version ?? '1' },
    ...['run', 'enter', 'stop', 'gc'].map((e) => ({ name: `coreos.com/rkt/stage1/${e}`, value: '/init' })),
  ].filter((a) => a.name !== over.drop);
  return aci({ manifest: { name: 'rkt-arm/stage1', labels: labels(over.arch ?? host.arch), annotations }, files: { init: { exe: 'not really an init' } } });
}

function testCtx(): { ctx: RktContext; warnings: string[] } {
  const root = mkdtempSync(join(top, 'env-'));
  const warnings: string[] = [];
  return {
    ctx: {
      dir: join(root, 'data'),
      localConfig: join(root, 'etc'),
      systemConfig: join(root, 'lib'),
      // The images here are unsigned.
      insecure: new Set(['image']),
      trustKeysFromHttps: false,
      warn: (line) => warnings.push(line),
    },
    warnings,
  };
}

function request(argv: string[], over: Partial<PrepareRequest> = {}): PrepareRequest {
  return { apps: splitRunArgs(argv).apps, pullPolicy: 'new', fetch: { progress: false }, net: 'host', interactive: false, ...over };
}

const podsIn = (ctx: RktContext, state: string) => (existsSync(join(ctx.dir, 'pods', state)) ? readdirSync(join(ctx.dir, 'pods', state)) : []);

describe('interpreterName', () => {
  it('names Debian\'s qemu wrappers after qemu', () => {
    assert.equal(interpreterName('/usr/libexec/qemu-binfmt/arm-binfmt-P'), 'qemu-arm');
    assert.equal(interpreterName('/usr/bin/qemu-aarch64-static'), 'qemu-aarch64-static');
  });
});

describe('preparePod', { skip: !isRoot && 'needs root (image owners, chown of volumes)' }, () => {
  it('prepares a copied pod with --no-overlay and --stage1-path', async () => {
    const { ctx, warnings } = testCtx();
    const stage1 = await stage1Image();
    const hello = await helloImage();
    const pod = await preparePod(
      ctx,
      request([hello, '--name=web', '--environment=WHO=world', '--', 'everyone'], {
        stage1: { path: stage1 },
        noOverlay: true,
        volumes: ['scratch,kind=empty,mode=0700,uid=1000,gid=100', 'cache,kind=empty'],
        setEnv: ['WHO=pod', 'POD=1'],
        hostname: 'pi-pod',
        interactive: true,
      }),
    );
    try {
      assert.equal(pod.path, join(ctx.dir, 'pods', 'prepare', pod.uuid));
      assert.equal(tryLockFile(pod.path, 'exclusive', { create: false }), null, 'the pod is returned locked');

      // runtime.json, as returned and as written.
      const runtime = JSON.parse(readFileSync(join(pod.path, 'runtime.json'), 'utf8')) as PodRuntime;
      assert.deepEqual(runtime, pod.runtime);
      assert.equal(runtime.version, 1);
      assert.equal(runtime.uuid, pod.uuid);
      assert.equal(runtime.overlay, false);
      assert.deepEqual(runtime.options, { hostname: 'pi-pod', net: 'host', interactive: true });
      assert.equal(runtime.stage1.name, 'rkt-arm/stage1');
      assert.equal(runtime.stage1.arch, host.arch);
      assert.deepEqual(runtime.stage1.entrypoints, { run: '/init', enter: '/init', stop: '/init', gc: '/init' });
      assert.match(runtime.stage1.imageId, /^sha512-[0-9a-f]{128}$/);
      const [app] = runtime.apps;
      assert.equal(runtime.apps.length, 1);
      assert.deepEqual(app, {
        name: 'web',
        imageId: pod.manifest.apps[0]!.image.id,
        treeId: app!.treeId,
        exec: ['/usr/bin/hello', 'everyone'],
        env: [`PATH=${DEFAULT_PATH}`, 'container=rkt', 'GREETING=hi', 'WHO=world', 'POD=1', 'AC_APP_NAME=web'],
        uid: 33,
        gid: 8765,
        groups: [],
        cwd: '/',
        caps: 'a80425fb',
        noNewPrivileges: false,
        preStart: [],
        postStop: [],
        readOnlyRootFS: false,
      });

      // The pod manifest.
      const manifest = parsePodManifest(readFileSync(join(pod.path, 'pod')));
      assert.deepEqual(manifest, pod.manifest);
      assert.deepEqual(manifest.apps[0]!.app!.exec, ['hello', 'everyone']);
      assert.deepEqual(manifest.apps[0]!.mounts, [{ volume: 'cache', path: '/var/cache' }]);

      // The copies: stage1 root, and the app's root inside it, owners kept.
      const s1 = join(pod.path, 'stage1', 'rootfs');
      assert.equal(readFileSync(join(s1, 'init'), 'utf8'), 'not really an init');
      const appRoot = join(s1, 'opt', 'stage2', 'web', 'rootfs');
      assert.equal(readFileSync(join(appRoot, 'usr/bin/hello'), 'utf8'), '#!/bin/sh\necho hello\n');
      assert.equal(statSync(join(appRoot, 'usr/bin/hello')).mode & 0o777, 0o755);
      assert.deepEqual([statSync(join(appRoot, 'etc/owned')).uid, statSync(join(appRoot, 'etc/owned')).gid], [4321, 8765]);
      assert.ok(!existsSync(join(pod.path, 'overlay')));

      // Empty volumes with their mode and owner, and POD/rkt.
      const scratch = statSync(join(pod.path, 'volumes', 'scratch'));
      assert.deepEqual([scratch.mode & 0o7777, scratch.uid, scratch.gid], [0o700, 1000, 100]);
      assert.equal(statSync(join(pod.path, 'volumes', 'cache')).mode & 0o7777, 0o755);
      assert.ok(statSync(join(pod.path, 'rkt')).isDirectory());
      assert.deepEqual(readdirSync(join(pod.path, 'rkt')), []);
      assert.deepEqual(warnings.filter((w) => !/insecure|unverified|signature/i.test(w)), []);
    } finally {
      pod.lock.release();
    }
  });

  it('keeps hard links and names the default hostname after the pod; a second prepare reuses the stored stage1 by hash', async () => {
    const { ctx } = testCtx();
    const stage1 = await stage1Image();
    const dir = join(top, `links-${seq++}`);
    mkdirSync(join(dir, 'rootfs', 'bin'), { recursive: true });
    writeFileSync(join(dir, 'manifest'), JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/links', labels: labels(host.arch), app: { exec: ['/bin/a'], user: '0', group: '0' } }));
    writeFileSync(join(dir, 'rootfs', 'bin', 'a'), 'x');
    linkSync(join(dir, 'rootfs', 'bin', 'a'), join(dir, 'rootfs', 'bin', 'b'));
    await pipeline(packAci(dir), createWriteStream(`${dir}.aci`));

    const first = await preparePod(ctx, request([`${dir}.aci`], { stage1: { path: stage1 }, noOverlay: true }));
    first.lock.release();
    assert.equal(first.runtime.options.hostname, `rkt-${first.uuid}`);
    const root = join(first.path, 'stage1', 'rootfs', 'opt', 'stage2', 'links', 'rootfs');
    assert.equal(statSync(join(root, 'bin', 'a')).ino, statSync(join(root, 'bin', 'b')).ino);

    const second = await preparePod(ctx, request([`${dir}.aci`], { stage1: { hash: first.runtime.stage1.imageId.slice(0, 20) }, noOverlay: true }));
    second.lock.release();
    assert.equal(second.runtime.stage1.imageId, first.runtime.stage1.imageId);
    assert.notEqual(second.uuid, first.uuid);
  });

  it('writes POD/resolv.conf and POD/hosts with --dns and --hosts-entry, and records the options; nothing without them', async () => {
    const { ctx } = testCtx();
    const stage1 = await stage1Image();
    const hello = await helloImage();
    const dns = { mode: 'pod' as const, nameservers: ['192.0.2.53'], search: ['example.com'], options: ['ndots:2'] };
    const hosts = { mode: 'pod' as const, entries: [{ ip: '192.0.2.10', names: ['db'] }] };
    const pod = await preparePod(ctx, request([hello], { stage1: { path: stage1 }, noOverlay: true, hostname: 'pi', dns, hosts }));
    pod.lock.release();
    assert.equal(readFileSync(join(pod.path, 'resolv.conf'), 'utf8'), 'nameserver 192.0.2.53\nsearch example.com\noptions ndots:2\n');
    assert.equal(readFileSync(join(pod.path, 'hosts'), 'utf8'), '127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.0.1\tpi\n192.0.2.10\tdb\n');
    const stored = JSON.parse(readFileSync(join(pod.path, 'runtime.json'), 'utf8')) as { options: unknown };
    assert.deepEqual(stored.options, { hostname: 'pi', net: 'host', interactive: false, dns, hosts });

    const host = await preparePod(ctx, request([hello], { stage1: { path: stage1 }, noOverlay: true, dns: { mode: 'host', nameservers: [], search: [], options: [] } }));
    host.lock.release();
    assert.equal(readFileSync(join(host.path, 'resolv.conf'), 'utf8'), readFileSync('/etc/resolv.conf', 'utf8'));
    assert.ok(!existsSync(join(host.path, 'hosts')));

    const plain = await preparePod(ctx, request([hello], { stage1: { path: stage1 }, noOverlay: true }));
    plain.lock.release();
    assert.ok(!existsSync(join(plain.path, 'resolv.conf')) && !existsSync(join(plain.path, 'hosts')));
  });

  it('uses overlay where it works, else says why and copies', async () => {
    const { ctx, warnings } = testCtx();
    const pod = await preparePod(ctx, request([await helloImage(), '---', await helloImage()], { stage1: { path: await stage1Image() } }));
    try {
      assert.deepEqual(pod.runtime.apps.map((a) => a.name), ['hello', 'hello-2']);
      if (pod.runtime.overlay) {
        for (const dir of ['stage1', 'apps/hello', 'apps/hello-2']) {
          for (const sub of ['upper', 'work']) assert.ok(statSync(join(pod.path, 'overlay', dir, sub)).isDirectory(), `${dir}/${sub}`);
        }
        assert.deepEqual(readdirSync(join(pod.path, 'stage1', 'rootfs')), [], 'the overlay mount point is empty');
        assert.ok(!warnings.some((w) => w.includes('overlay')));
      } else {
        assert.ok(warnings.some((w) => /^rkt: overlay unusable \(.+\); copying the image instead: slower start, more disk$/.test(w)), warnings.join('\n'));
        assert.ok(existsSync(join(pod.path, 'stage1', 'rootfs', 'opt', 'stage2', 'hello-2', 'rootfs', 'usr', 'bin', 'hello')));
      }
      // The implicit volume for the image's mount point, announced once per app.
      assert.deepEqual(pod.manifest.volumes.map((v) => v.name), ['cache']);
      assert.equal(warnings.filter((w) => w.includes('no volume for mount point cache')).length, 1);
    } finally {
      pod.lock.release();
    }
  });

  it('removes the pod and releases the lock when a step fails', async () => {
    const { ctx } = testCtx();
    const stage1 = await stage1Image();
    const bad = await helloImage({ name: 'example.com/bad', app: { user: 'nobody' } });
    await assert.rejects(preparePod(ctx, request([bad], { stage1: { path: stage1 }, noOverlay: true })), {
      name: 'UserError',
      message: 'app bad: user "nobody" is not in the image\'s /etc/passwd',
    });
    assert.deepEqual(podsIn(ctx, 'prepare'), []);
    assert.deepEqual(podsIn(ctx, 'embryo'), []);
  });

  it('refuses a stage1 of another interface version, or missing an entrypoint, before making a pod', async () => {
    const { ctx } = testCtx();
    const hello = await helloImage();
    await assert.rejects(preparePod(ctx, request([hello], { stage1: { path: await stage1Image({ version: '5' }) } })), {
      message: 'stage1 rkt-arm/stage1 speaks stage1 interface version 5; this rkt speaks 1 (docs/stage1-interface.md)',
    });
    await assert.rejects(preparePod(ctx, request([hello], { stage1: { path: await stage1Image({ drop: 'coreos.com/rkt/stage1/gc' }) } })), {
      message: 'stage1 rkt-arm/stage1 has no coreos.com/rkt/stage1/gc annotation',
    });
    await assert.rejects(preparePod(ctx, request([hello], { stage1: { path: join(top, 'nope.aci') } })), {
      message: `stage1: --stage1-path ${join(top, 'nope.aci')}: no such file`,
    });
    await assert.rejects(preparePod(ctx, request([hello], { stage1: { path: '/a', hash: 'sha512-aa' } })), {
      message: 'stage1: give one of --stage1-path, --stage1-hash and --stage1-name, not --stage1-path and --stage1-hash',
    });
    assert.deepEqual(podsIn(ctx, 'prepare'), []);
  });

  it('finds the default stage1 in <system config>/stage1-images, or says where it looked', async (t) => {
    const { ctx } = testCtx();
    const candidates = defaultStage1Candidates(ctx, host);
    assert.equal(candidates[0]!.endsWith(`stage1-${host.arch}.aci`), true);
    if (candidates.slice(0, candidates.indexOf(join(ctx.systemConfig, 'stage1-images', `stage1-${host.arch}.aci`))).some((c) => existsSync(c))) {
      t.skip('a built stage1 in dist/ comes first');
      return;
    }
    const hello = await helloImage();
    await assert.rejects(preparePod(ctx, request([hello])), {
      message: new RegExp(`^stage1: no stage1-${host.arch}\\.aci in .*${join(ctx.systemConfig, 'stage1-images')}.*; run \`npm run build\` to make one, or pass --stage1-path FILE$`),
    });
    mkdirSync(join(ctx.systemConfig, 'stage1-images'), { recursive: true });
    writeFileSync(join(ctx.systemConfig, 'stage1-images', `stage1-${host.arch}.aci`), readFileSync(await stage1Image()));
    const pod = await preparePod(ctx, request([hello], { noOverlay: true }));
    pod.lock.release();
    assert.equal(pod.runtime.stage1.name, 'rkt-arm/stage1');
  });

  it('runs a foreign-arch image only through a binfmt_misc handler, with a notice', async () => {
    const { ctx, warnings } = testCtx();
    const foreign = host.arch === 'armv7l' || host.arch === 'aarch64' ? 's390x' : 'armv7l';
    assert.ok(!canRunArch(host.arch, foreign));
    const image = await helloImage({ name: 'example.com/foreign', arch: foreign });
    const handler = binfmtHandlerFor(foreign);
    const req = request([image], { stage1: { path: await stage1Image() }, noOverlay: true });
    if (handler === undefined) {
      await assert.rejects(preparePod(ctx, req), { message: new RegExp(`is for ${foreign}, which this ${host.arch} host runs neither natively nor through binfmt_misc`) });
      return;
    }
    const pod = await preparePod(ctx, req);
    pod.lock.release();
    const name = interpreterName(handler);
    assert.ok(warnings.includes(`rkt: running ${foreign} image on ${host.arch} through ${name} (binfmt_misc)`), warnings.join('\n'));
    assert.equal(pod.manifest.apps[0]!.image.labels.find((l) => l.name === 'arch')?.value, foreign);
  });

  it('prepares from --pod-manifest with images from the store, and refuses images beside it', async () => {
    const { ctx } = testCtx();
    const stage1 = await stage1Image();
    // Store the image by preparing once.
    const first = await preparePod(ctx, request([await helloImage()], { stage1: { path: stage1 }, noOverlay: true }));
    first.lock.release();
    const file = join(top, `pod-${seq++}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        acKind: 'PodManifest',
        acVersion: '0.8.11',
        apps: [
          { name: 'byid', image: { id: first.runtime.apps[0]!.imageId }, app: { exec: ['/usr/bin/hello', 'x'], user: '0', group: '0' } },
          { name: 'byname', image: { name: 'example.com/hello' } },
        ],
        volumes: [{ name: 'cache', kind: 'empty' }],
      }),
    );
    const pod = await preparePod(ctx, request([], { podManifest: file, stage1: { hash: first.runtime.stage1.imageId }, noOverlay: true }));
    pod.lock.release();
    assert.deepEqual(pod.runtime.apps.map((a) => [a.name, a.exec, a.uid]), [
      ['byid', ['/usr/bin/hello', 'x'], 0],
      ['byname', ['/usr/bin/hello', '--greet'], 33],
    ]);
    await assert.rejects(preparePod(ctx, request(['x.aci'], { podManifest: file })), {
      message: '--pod-manifest gives the apps: images and app flags cannot be given with it',
    });
  });

  it('refuses a host volume whose source is missing or goes through a symlink', async () => {
    const { ctx } = testCtx();
    const hello = await helloImage();
    const stage1 = await stage1Image();
    const missing = join(top, 'no-such-dir');
    await assert.rejects(preparePod(ctx, request([hello], { stage1: { path: stage1 }, volumes: [`cache,kind=host,source=${missing}`] })), {
      message: `volume cache: source ${missing} does not exist`,
    });
    assert.deepEqual(podsIn(ctx, 'prepare'), []);
  });
});
