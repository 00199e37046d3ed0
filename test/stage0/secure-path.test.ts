import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { mkdirInRoot, resolveInRoot, touchInRoot } from '../../src/stage0/secure-path.ts';
import { emptyDir } from '../helpers/run.ts';

/** A root and, beside it, a "host" directory an escape would reach. */
function setup(t: Parameters<typeof emptyDir>[0]) {
  const dir = emptyDir(t);
  const root = join(dir, 'root');
  const host = join(dir, 'host');
  mkdirSync(root);
  mkdirSync(host);
  return { dir, root, host };
}

test('plain paths resolve inside the root; missing components are kept as given', (t) => {
  const { root } = setup(t);
  mkdirSync(join(root, 'etc'));
  assert.equal(resolveInRoot(root, '/etc/passwd'), join(root, 'etc/passwd'));
  assert.equal(resolveInRoot(root, 'a/./b//c/'), join(root, 'a/b/c'));
  assert.equal(resolveInRoot(root, '/'), root);
  assert.equal(resolveInRoot(root, ''), root);
});

test('attack: an absolute symlink is resolved at the root, not on the host', (t) => {
  const { root, host } = setup(t);
  symlinkSync(host, join(root, 'dev'));
  assert.equal(resolveInRoot(root, '/dev/null'), join(root, host, 'null'));
  const made = mkdirInRoot(root, '/dev/pts');
  assert.ok(made.startsWith(root + '/'));
  assert.deepEqual(readdirSync(host), []);
  assert.ok(lstatSync(join(root, host, 'pts')).isDirectory());
});

test('attack: ../ chains stop at the root', (t) => {
  const { root, host } = setup(t);
  assert.equal(resolveInRoot(root, '/../../../host'), join(root, 'host'));
  mkdirSync(join(root, 'a'));
  symlinkSync('../../../../host', join(root, 'a', 'up'));
  assert.equal(resolveInRoot(root, '/a/up/x'), join(root, 'host/x'));
  touchInRoot(root, '/a/up/file');
  assert.ok(existsSync(join(root, 'host/file')));
  assert.deepEqual(readdirSync(host), []);
});

test('attack: a relative symlink climbing out through a nested link stays inside', (t) => {
  const { root, host } = setup(t);
  mkdirSync(join(root, 'x/y'), { recursive: true });
  symlinkSync('../..', join(root, 'x/y/top'));
  symlinkSync('y/top/../..', join(root, 'x/loopish'));
  assert.equal(resolveInRoot(root, '/x/loopish/host'), join(root, 'host'));
  mkdirInRoot(root, '/x/loopish/host/planted');
  assert.deepEqual(readdirSync(host), []);
});

test('attack: a symlink loop is ELOOP, not a hang', (t) => {
  const { root } = setup(t);
  symlinkSync('b', join(root, 'a'));
  symlinkSync('a', join(root, 'b'));
  symlinkSync('self', join(root, 'self'));
  assert.throws(() => resolveInRoot(root, '/a/x'), { code: 'ELOOP' });
  assert.throws(() => mkdirInRoot(root, '/self'), { code: 'ELOOP' });
});

test('a final symlink is followed inside the root (a file mount target such as /etc/resolv.conf)', (t) => {
  const { root, host } = setup(t);
  mkdirSync(join(root, 'etc'));
  symlinkSync('/run/resolv.conf', join(root, 'etc/resolv.conf'));
  const file = touchInRoot(root, '/etc/resolv.conf');
  assert.equal(file, join(root, 'run/resolv.conf'));
  assert.ok(lstatSync(file).isFile());
  symlinkSync(join(host, 'dangling'), join(root, 'etc/hosts'));
  assert.equal(touchInRoot(root, '/etc/hosts'), join(root, host, 'dangling'));
  assert.deepEqual(readdirSync(host), []);
});

test('mkdir -p makes missing directories and accepts existing ones; a file in the way is ENOTDIR', (t) => {
  const { root } = setup(t);
  const made = mkdirInRoot(root, '/opt/stage2/app/rootfs', 0o700);
  assert.equal(made, join(root, 'opt/stage2/app/rootfs'));
  assert.ok(lstatSync(made).isDirectory());
  assert.equal(mkdirInRoot(root, '/opt/stage2/app/rootfs'), made);
  writeFileSync(join(root, 'file'), '');
  assert.throws(() => mkdirInRoot(root, '/file/sub'), { code: 'ENOTDIR' });
  assert.throws(() => mkdirInRoot(root, '/file'), { code: 'ENOTDIR' });
});

test('a file target is created empty, kept when there, and refused over a directory', (t) => {
  const { root } = setup(t);
  const file = touchInRoot(root, '/dev/null');
  assert.equal(lstatSync(file).size, 0);
  assert.equal(touchInRoot(root, '/dev/null'), file);
  assert.throws(() => touchInRoot(root, '/dev'), { code: 'EISDIR' });
});
