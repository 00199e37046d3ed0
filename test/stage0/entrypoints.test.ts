import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Stage1Runtime } from '../../src/pod/runtime.ts';
import { entrypointPath, stage1Env } from '../../src/stage0/entrypoints.ts';
import { emptyDir } from '../helpers/run.ts';

const stage1 = (treeId: string): Stage1Runtime => ({
  imageId: 'sha512-00',
  treeId,
  name: 'rkt-arm/stage1',
  arch: 'amd64',
  entrypoints: { run: '/init', enter: '/init', stop: '/init', gc: '/init' },
});

test("entrypointPath: the stage1 tree's file, and never a path a pod's runtime.json makes up", async (t) => {
  const dir = emptyDir(t);
  const rootfs = join(dir, 'cas', 'tree', 'deps-abc', 'rootfs');
  mkdirSync(rootfs, { recursive: true });
  writeFileSync(join(rootfs, 'init'), '');
  assert.equal(await entrypointPath(dir, stage1('deps-abc'), 'gc'), join(rootfs, 'init'));
  await assert.rejects(entrypointPath(dir, stage1('../../../tmp/x'), 'gc'), /^Error: stage1 gc: "..\/..\/..\/tmp\/x" is not a tree ID$/);
  await assert.rejects(entrypointPath(dir, { ...stage1('deps-abc'), entrypoints: { ...stage1('deps-abc').entrypoints, gc: '/../../../bin/sh' } }, 'gc'), /outside the stage1 rootfs/);
});

test('stage1Env: PATH and QEMU_* only; a path NOTIFY_SOCKET as /rkt/notify, an abstract one as it is', () => {
  assert.deepEqual(stage1Env({ HOME: '/root', QEMU_CPU: 'arm1176', PATH: '/x' }), ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'QEMU_CPU=arm1176']);
  assert.ok(stage1Env({ NOTIFY_SOCKET: '/run/systemd/notify' }).includes('NOTIFY_SOCKET=/rkt/notify'));
  assert.ok(stage1Env({ NOTIFY_SOCKET: '@sd-notify' }).includes('NOTIFY_SOCKET=@sd-notify'));
});
