import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppRuntime } from '../../src/pod/runtime.ts';
import { serializeStage1Conf } from '../../src/stage0/stage1-conf.ts';
import { UserError } from '../../src/util/errors.ts';
import { appRuntime } from '../helpers/app-runtime.ts';
import { confPairs as pairs } from '../helpers/nul-conf.ts';

/** An app with non-default values where the file shows them. */
function app(name: string, over: Partial<AppRuntime> = {}): AppRuntime {
  return appRuntime(name, {
    treeId: 'deps-sha512-' + '1'.repeat(64),
    exec: ['/bin/sh', '-c', 'echo hi'],
    env: ['PATH=/usr/bin:/bin', 'AC_APP_NAME=' + name],
    uid: 1000,
    gid: 100,
    caps: 'a80425fb',
    ...over,
  });
}

test('pod keys first, then each app with its keys; repeated keys in order', () => {
  const conf = serializeStage1Conf(
    [app('web', { groups: [4, 27], noNewPrivileges: true, preStart: ['/bin/prep', 'x'], postStop: ['/bin/done'] }), app('db')],
    { interactive: true },
  );
  assert.deepEqual(pairs(conf), [
    ['version', '1'],
    ['interactive', '1'],
    ['app', 'web'],
    ['root', '/opt/stage2/web/rootfs'],
    ['exec', '/bin/sh'],
    ['exec', '-c'],
    ['exec', 'echo hi'],
    ['env', 'PATH=/usr/bin:/bin'],
    ['env', 'AC_APP_NAME=web'],
    ['uid', '1000'],
    ['gid', '100'],
    ['groups', '4,27'],
    ['cwd', '/'],
    ['caps', 'a80425fb'],
    ['nnp', '1'],
    ['pre-start', '/bin/prep'],
    ['pre-start', 'x'],
    ['post-stop', '/bin/done'],
    ['app', 'db'],
    ['root', '/opt/stage2/db/rootfs'],
    ['exec', '/bin/sh'],
    ['exec', '-c'],
    ['exec', 'echo hi'],
    ['env', 'PATH=/usr/bin:/bin'],
    ['env', 'AC_APP_NAME=db'],
    ['uid', '1000'],
    ['gid', '100'],
    ['groups', ''],
    ['cwd', '/'],
    ['caps', 'a80425fb'],
  ]);
});

test('no apps: only the pod keys; not interactive is 0', () => {
  assert.equal(serializeStage1Conf([], { interactive: false }).toString(), 'version\x001\x00interactive\x000\x00');
});

test('empty values and UTF-8 survive; an empty env is no env key', () => {
  const conf = serializeStage1Conf([app('a', { exec: ['/bin/echo', '', 'héllo'], env: [] })], { interactive: false });
  const p = pairs(conf);
  assert.deepEqual(p.filter(([k]) => k === 'exec').map(([, v]) => v), ['/bin/echo', '', 'héllo']);
  assert.equal(p.filter(([k]) => k === 'env').length, 0);
});

test('attack: a NUL in a value (it would smuggle in a key) is a UserError naming the app', () => {
  assert.throws(
    () => serializeStage1Conf([app('a', { env: ['X=1\0uid\x000'] })], { interactive: false }),
    (err: unknown) => err instanceof UserError && /app a: env .* NUL/.test(err.message),
  );
  assert.throws(() => serializeStage1Conf([app('a', { exec: ['/bin/x\0'] })], { interactive: false }), UserError);
  assert.throws(() => serializeStage1Conf([app('a', { cwd: '/\0' })], { interactive: false }), UserError);
});

test('an app with no exec is refused', () => {
  assert.throws(() => serializeStage1Conf([app('a', { exec: [] })], { interactive: false }), /app a has nothing to execute/);
});
