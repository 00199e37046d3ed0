import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MountOp, MountPlan } from '../../src/stage0/mount-plan.ts';
import { PLAN_CONF_FILE, serializePlanConf, type PlanConfInput } from '../../src/stage0/plan-conf.ts';
import { UserError } from '../../src/util/errors.ts';
import { confPairs as pairs } from '../helpers/nul-conf.ts';
import { emptyDir, root } from '../helpers/run.ts';

// stage0-plan.conf, the plan native/takeover.c executes where koffi cannot load: the
// exact bytes, since the C parser (native/plan.c) reads them key by key; and that
// parser on what the serializer writes (it fails before changing anything, so no root).

const POD = '/var/lib/rkt/pods/run/6f1a0c57';
const S1 = `${POD}/stage1/rootfs`;
const APP = `${S1}/opt/stage2/web/rootfs`;

function input(ops: MountOp[], over: Partial<PlanConfInput> = {}): PlanConfInput {
  const plan: MountPlan = { stage1Root: S1, ops };
  return { plan, hostname: 'pi-zero', net: 'host', lockFd: 3, entrypoint: '/init', ...over };
}

const HEAD = [
  ['version', '1'],
  ['hostname', 'pi-zero'],
  ['net', 'host'],
  ['lock-fd', '3'],
  ['stage1-root', S1],
  ['entrypoint', '/init'],
];

test('the pod keys first, in a fixed order', () => {
  assert.deepEqual(pairs(serializePlanConf(input([]))), HEAD);
  const none = pairs(serializePlanConf(input([], { net: 'none', lockFd: 7, hostname: 'h', entrypoint: '/sbin/init' })));
  assert.deepEqual(none.slice(0, 6).map(([, v]) => v), ['1', 'h', 'none', '7', S1, '/sbin/init']);
});

test('net private: the netns file follows net; without one it is refused', () => {
  const priv = pairs(serializePlanConf(input([], { net: 'private', netns: `${POD}/netns` })));
  assert.deepEqual(priv.slice(2, 4), [['net', 'private'], ['netns', `${POD}/netns`]]);
  assert.equal(priv.length, HEAD.length + 1);
  assert.throws(() => serializePlanConf(input([], { net: 'private' })), /net private needs the netns file/);
  assert.deepEqual(pairs(serializePlanConf(input([], { netns: '/ignored' }))), HEAD, 'netns only with net private');
});

test('each op: `op` and its kind, the target, then its own keys; flags repeated in order', () => {
  const ops: MountOp[] = [
    { op: 'mkdir', target: { root: POD, path: 'rkt' } },
    { op: 'mkdir', target: { root: POD, path: 'volumes/data' }, owner: { mode: 0o750, uid: 1000, gid: 1001 } },
    { op: 'mount', fstype: 'tmpfs', source: 'tmpfs', target: { root: APP, path: '/dev' }, flags: ['nosuid', 'noexec'], data: 'mode=0755' },
    { op: 'mount', fstype: 'overlay', source: 'overlay', target: { root: POD, path: 'stage1/rootfs' }, flags: [], data: '' },
    { op: 'bind', source: '/srv/data', target: { root: APP, path: '/mnt/host' }, recursive: true, readOnly: false, flags: [] },
    { op: 'bind', source: { root: POD, path: 'rkt' }, target: { root: S1, path: '/rkt' }, recursive: false, readOnly: true, flags: ['nodev'] },
    { op: 'bind-device', source: '/dev/null', target: { root: APP, path: '/dev/null' } },
    { op: 'symlink', target: { root: APP, path: '/dev/ptmx' }, linkTo: 'pts/ptmx' },
    { op: 'remount-ro', target: { root: S1, path: '/opt/stage2/web/rootfs' }, flags: ['nosuid'] },
  ];
  assert.deepEqual(pairs(serializePlanConf(input(ops))).slice(HEAD.length), [
    ['op', 'mkdir'], ['root', POD], ['path', 'rkt'],
    ['op', 'mkdir'], ['root', POD], ['path', 'volumes/data'], ['mode', '0750'], ['uid', '1000'], ['gid', '1001'],
    ['op', 'mount'], ['root', APP], ['path', '/dev'], ['fstype', 'tmpfs'], ['source', 'tmpfs'], ['data', 'mode=0755'], ['flag', 'nosuid'], ['flag', 'noexec'],
    ['op', 'mount'], ['root', POD], ['path', 'stage1/rootfs'], ['fstype', 'overlay'], ['source', 'overlay'], ['data', ''],
    ['op', 'bind'], ['root', APP], ['path', '/mnt/host'], ['source', '/srv/data'], ['recursive', '1'], ['read-only', '0'],
    ['op', 'bind'], ['root', S1], ['path', '/rkt'], ['source-root', POD], ['source-path', 'rkt'], ['recursive', '0'], ['read-only', '1'], ['flag', 'nodev'],
    ['op', 'bind-device'], ['root', APP], ['path', '/dev/null'], ['source', '/dev/null'],
    ['op', 'symlink'], ['root', APP], ['path', '/dev/ptmx'], ['link-to', 'pts/ptmx'],
    ['op', 'remount-ro'], ['root', S1], ['path', '/opt/stage2/web/rootfs'], ['flag', 'nosuid'],
  ]);
});

test('a mode is four octal digits, whatever its bits', () => {
  const mode = (m: number) => pairs(serializePlanConf(input([{ op: 'mkdir', target: { root: POD, path: 'v' }, owner: { mode: m, uid: 0, gid: 0 } }])))[HEAD.length + 3];
  assert.deepEqual(mode(0o1777), ['mode', '1777']);
  assert.deepEqual(mode(0o7), ['mode', '0007']);
});

test('the bytes are UTF-8, and a value with a NUL is refused, naming its key', () => {
  const conf = serializePlanConf(input([{ op: 'bind', source: '/srv/données', target: { root: APP, path: '/mnt' }, recursive: true, readOnly: false, flags: [] }]));
  assert.ok(conf.includes(Buffer.from('/srv/donn\u00e9es\0', 'utf8')));
  assert.throws(() => serializePlanConf(input([], { hostname: 'a\0b' })), (err: Error) => err instanceof UserError && /hostname "a\\u0000b" contains a NUL byte/.test(err.message));
  const nul: MountOp = { op: 'symlink', target: { root: APP, path: '/x' }, linkTo: 'a\0' };
  assert.throws(() => serializePlanConf(input([nul])), /link-to .* contains a NUL byte/);
});

test('the plan lives in POD/rkt, beside stage1.conf', () => {
  assert.equal(PLAN_CONF_FILE, 'rkt/stage0-plan.conf');
});

// ---- the stage1 init reads it ----------------------------------------------------

const HOST_ARCH = ({ x64: 'amd64', arm64: 'aarch64', arm: 'armv7l' } as Record<string, string>)[process.arch] ?? process.arch;
const INIT = join(root, '.cache/native', HOST_ARCH, 'init');
const noInit = existsSync(INIT) ? false : `no ${INIT}: run bash scripts/build-stage1.sh`;

/** `init takeover FILE` on these bytes, with no fd 9 open: a plan that parses fails at the lock. */
function takeover(t: Parameters<typeof emptyDir>[0], bytes: Buffer | string): string {
  const file = join(emptyDir(t), 'stage0-plan.conf');
  writeFileSync(file, bytes);
  const r = spawnSync(INIT, ['takeover', file], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  assert.equal(r.status, 254, r.stderr);
  return r.stderr.replaceAll(file, 'FILE');
}

const ALL_OPS: MountOp[] = [
  { op: 'mkdir', target: { root: POD, path: 'volumes/data' }, owner: { mode: 0o1750, uid: 1000, gid: 1001 } },
  { op: 'mount', fstype: 'overlay', source: 'overlay', target: { root: POD, path: 'stage1/rootfs' }, flags: [], data: '' },
  { op: 'bind', source: '/srv/data', target: { root: APP, path: '/mnt/host' }, recursive: true, readOnly: true, flags: ['nosuid', 'nodev', 'noexec'] },
  { op: 'bind', source: { root: POD, path: 'rkt' }, target: { root: S1, path: '/rkt' }, recursive: false, readOnly: false, flags: [] },
  { op: 'bind-device', source: '/dev/null', target: { root: APP, path: '/dev/null' } },
  { op: 'symlink', target: { root: APP, path: '/dev/ptmx' }, linkTo: 'pts/ptmx' },
  { op: 'remount-ro', target: { root: S1, path: '/opt/stage2/web/rootfs' }, flags: [] },
];

test('the stage1 init parses every kind of op the serializer writes', { skip: noInit }, (t) => {
  const stderr = takeover(t, serializePlanConf(input(ALL_OPS, { lockFd: 9, net: 'none' })));
  assert.equal(stderr, 'stage1: takeover: keep the pod lock (fd 9) open: fcntl: Bad file descriptor\n');
});

test('the stage1 init parses a plan that joins a network namespace', { skip: noInit }, (t) => {
  const stderr = takeover(t, serializePlanConf(input(ALL_OPS, { lockFd: 9, net: 'private', netns: `${POD}/netns` })));
  assert.equal(stderr, 'stage1: takeover: keep the pod lock (fd 9) open: fcntl: Bad file descriptor\n');
});

test('the stage1 init refuses a plan it cannot follow, with one line naming the problem', { skip: noInit }, (t) => {
  const head = serializePlanConf(input([]));
  const kv = (...strings: string[]) => Buffer.concat([head, Buffer.from(strings.map((s) => `${s}\0`).join(''))]);
  const cases: [Buffer, string][] = [
    [kv('bogus', '1'), 'parse FILE: unknown key "bogus"'],
    [kv('hostname', 'again'), 'parse FILE: key "hostname" is given twice'],
    [kv('path', '/x'), 'parse FILE: key "path" comes before the first op'],
    [kv('op', 'format'), 'parse FILE: unknown op "format"'],
    [kv('op', 'mkdir', 'root', POD), 'parse FILE: op 1 (mkdir): no path'],
    [kv('op', 'mkdir', 'root', 'pods/x', 'path', 'a'), 'parse FILE: op 1 (mkdir): root "pods/x" is not an absolute path'],
    [kv('op', 'mkdir', 'root', POD, 'path', 'a', 'mode', '0755'), 'parse FILE: op 1 (mkdir): mode, uid and gid come together'],
    [kv('op', 'mkdir', 'root', POD, 'path', 'a', 'mode', '0789', 'uid', '0', 'gid', '0'), 'parse FILE: op 1 (mkdir): mode "0789" is not an octal number up to 4095'],
    [kv('op', 'symlink', 'root', POD, 'path', 'a', 'link-to', 'b', 'op', 'bind', 'root', POD, 'path', 'b'), 'parse FILE: op 2 (bind): a bind needs either source, or source-root and source-path'],
    [kv('op', 'remount-ro', 'root', POD, 'path', 'a', 'flag', 'ro'), 'parse FILE: op 1 (remount-ro): flag "ro" is not nosuid, nodev or noexec'],
    [kv('op', 'symlink', 'root', POD, 'path', 'a', 'fstype', 'tmpfs'), 'parse FILE: op 1 (symlink): key "fstype" does not belong to this kind of op'],
    [kv('op', 'bind-device', 'root', POD, 'path', 'a', 'source', 'dev/null'), 'parse FILE: op 1 (bind-device): source "dev/null" is not an absolute path'],
    [kv('op', 'mkdir', 'root', POD, 'path', 'a', 'entrypoint', '/init'), 'parse FILE: op 1 (mkdir): key "entrypoint" belongs before the first op'],
    [Buffer.from('version\x001\x00'), 'parse FILE: no hostname'],
    [Buffer.from('version\x002\x00'), 'parse FILE: version "2" is not 1: this stage1 reads plan version 1'],
    [Buffer.concat([head, Buffer.from('op\0mkdir')]), 'parse FILE: the last string is not NUL-terminated'],
    [serializePlanConf(input([], { lockFd: 2 })), 'parse FILE: lock-fd 2 is stdin, stdout or stderr'],
    [Buffer.from(serializePlanConf(input([], { net: 'private', netns: '/p/netns' })).toString().replace('netns\0/p/netns\0', '')), 'parse FILE: net private needs netns'],
    [kv('netns', '/p/netns'), 'parse FILE: netns is given without net private'],
    [serializePlanConf(input([], { net: 'private', netns: 'p/netns' })), 'parse FILE: netns "p/netns" is not an absolute path'],
  ];
  for (const [bytes, message] of cases) assert.equal(takeover(t, bytes), `stage1: ${message}\n`);
});
