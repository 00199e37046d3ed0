import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDeb822 } from '../../src/debian/deb822.ts';
import { packagesFrom } from '../../src/debian/packages-index.ts';
import { resolvePackages, type ResolveOptions } from '../../src/debian/resolve.ts';
import type { PackageInfo } from '../../src/debian/types.ts';
import { UserError } from '../../src/util/errors.ts';

// Repositories written as Packages text; Architecture defaults to the target arch,
// Version to 1.0, and Filename and Size are filled in.
function repo(text: string, arch = 'armhf'): PackageInfo[] {
  const paragraphs = parseDeb822(text).map((p) => ({
    architecture: arch,
    version: '1.0',
    filename: `pool/${p['package']}_${p['version'] ?? '1.0'}.deb`,
    size: '1',
    ...p,
  }));
  return packagesFrom(paragraphs, arch);
}

const resolve = (requested: string[], index: PackageInfo[], opts: Partial<ResolveOptions> = {}): string[] =>
  resolvePackages(requested, index, { arch: 'armhf', ...opts }).map((p) => `${p.name}=${p.version}`);

function fails(requested: string[], index: PackageInfo[], message: string | RegExp, opts: Partial<ResolveOptions> = {}): void {
  assert.throws(
    () => resolvePackages(requested, index, { arch: 'armhf', ...opts }),
    (err: unknown) => {
      assert.ok(err instanceof UserError, String(err));
      assert.ok(!err.message.includes('\n'), 'one line');
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

test('a chain of Depends and Pre-Depends is followed; output is sorted by name', () => {
  const index = repo(`
Package: zapp
Depends: libfoo1
Pre-Depends: init-helper

Package: libfoo1
Depends: libc6 (>= 2.30)

Package: libc6
Version: 2.36-9

Package: init-helper

Package: unrelated
`);
  assert.deepEqual(resolve(['zapp'], index), ['init-helper=1.0', 'libc6=2.36-9', 'libfoo1=1.0', 'zapp=1.0']);
});

test('the highest version is picked, unless name=version pins one', () => {
  const index = repo(`
Package: libfoo1
Version: 1.0

Package: libfoo1
Version: 2.0~rc1

Package: libfoo1
Version: 1:0.5
`);
  assert.deepEqual(resolve(['libfoo1'], index), ['libfoo1=1:0.5']);
  assert.deepEqual(resolve(['libfoo1=2.0~rc1'], index), ['libfoo1=2.0~rc1']);
  fails(['libfoo1=3'], index, 'cross: armhf: no version of libfoo1 satisfies libfoo1 (= 3) (requested): the repository has 1:0.5, 2.0~rc1, 1.0');
});

test('packages of another arch are not candidates; arch all ones are', () => {
  const index = [
    ...repo('Package: app\nDepends: app-data, libfoo1\n\nPackage: app-data\nArchitecture: all\n'),
    ...repo('Package: libfoo1\n', 'amd64'),
  ];
  assert.deepEqual(resolve(['app-data'], index), ['app-data=1.0']);
  fails(['app'], index, 'cross: armhf: package "libfoo1" (needed by app) is not in the repository');
});

test('an unknown package is named with the whole chain that needs it', () => {
  const index = repo('Package: baz\nDepends: bar\n\nPackage: bar\nDepends: foo\n');
  fails(['baz'], index, 'cross: armhf: package "foo" (needed by bar <- baz) is not in the repository');
  fails(['nope'], index, 'cross: armhf: package "nope" (requested) is not in the repository');
  fails(['Bad Name'], index, 'cross: armhf: "Bad Name" is not a package (name or name=version)');
});

test('versioned constraints: met by the highest version, or an error saying what there is', () => {
  const index = repo(`
Package: bar
Depends: libfoo (>= 2.0)

Package: ok
Depends: libfoo (>= 1.2), libfoo (<< 2)

Package: libfoo
Version: 1.4
`);
  assert.deepEqual(resolve(['ok'], index), ['libfoo=1.4', 'ok=1.0']);
  fails(['bar'], index, 'cross: armhf: no version of libfoo satisfies libfoo (>= 2.0) (needed by bar): the repository has 1.4');
});

test('a version already selected that a later constraint refuses is an error naming both', () => {
  const index = repo(`
Package: bar
Depends: libfoo (>= 2.0)

Package: libfoo
Version: 1.4

Package: libfoo
Version: 2.1
`);
  fails(
    ['libfoo=1.4', 'bar'],
    index,
    'cross: armhf: libfoo (>= 2.0) (needed by bar) cannot be met: libfoo 1.4 is already selected (requested)',
  );
});

test('alternatives: one already selected, else the first that can be installed', () => {
  const index = repo(`
Package: app
Depends: default-mta | mail-transport-agent, libgood | libother

Package: default-mta
Depends: exim4

Package: exim4
Provides: mail-transport-agent

Package: postfix
Provides: mail-transport-agent

Package: libgood

Package: libother
`);
  assert.deepEqual(resolve(['app'], index), ['app=1.0', 'default-mta=1.0', 'exim4=1.0', 'libgood=1.0']);
  // postfix, named, provides the virtual alternative: default-mta is not pulled in.
  assert.deepEqual(resolve(['app', 'postfix', 'libother'], index), ['app=1.0', 'libother=1.0', 'postfix=1.0']);
  // Order of the request does not matter: all requested packages are selected first.
  assert.deepEqual(resolve(['libother', 'postfix', 'app'], index), ['app=1.0', 'libother=1.0', 'postfix=1.0']);
});

test('an alternative whose own dependencies fail is given up for the next (backtracking)', () => {
  const index = repo(`
Package: app
Depends: liba | libb

Package: liba
Depends: liba-data

Package: liba-data
Depends: missing-thing (>= 3)

Package: libb
Depends: libb-data

Package: libb-data
`);
  assert.deepEqual(resolve(['app'], index), ['app=1.0', 'libb=1.0', 'libb-data=1.0']);
});

test('when no alternative can be installed, the first one says why', () => {
  const index = repo('Package: app\nDepends: liba | libb (>= 2)\n\nPackage: libb\n');
  fails(
    ['app'],
    index,
    'cross: armhf: package "liba" (needed by app) is not in the repository; nor can its alternatives libb (>= 2) be installed',
  );
});

test('virtual packages: one provider, a real package of the name, versioned Provides', () => {
  const index = repo(`
Package: app
Depends: awk, libfoo-abi (>= 2), editor

Package: mawk
Provides: awk

Package: libfoo-old
Provides: libfoo-abi (= 1)

Package: libfoo-new
Provides: libfoo-abi (= 2)

Package: nano
Provides: editor

Package: editor
Version: 0.1
`);
  assert.deepEqual(resolve(['app'], index), ['app=1.0', 'editor=0.1', 'libfoo-new=1.0', 'mawk=1.0']);
});

test('a virtual package with several providers must be named, unless one is already selected', () => {
  const index = repo(`
Package: app
Depends: mail-transport-agent

Package: exim4
Provides: mail-transport-agent

Package: postfix
Provides: mail-transport-agent
`);
  fails(
    ['app'],
    index,
    'cross: armhf: mail-transport-agent (needed by app) is a virtual package provided by exim4, postfix: name one of them in the package list',
  );
  assert.deepEqual(resolve(['app', 'postfix'], index), ['app=1.0', 'postfix=1.0']);
  fails(['mail-transport-agent'], index, /^cross: armhf: mail-transport-agent \(requested\) is a virtual package provided by exim4, postfix/);
});

test('of several providers the one of highest Priority is taken, as apt does; a tie is an error', () => {
  const index = repo(`
Package: base-files
Pre-Depends: awk

Package: mawk
Priority: required
Provides: awk

Package: gawk
Priority: optional
Provides: awk

Package: original-awk
Priority: optional
Provides: awk
`);
  assert.deepEqual(resolve(['base-files'], index), ['base-files=1.0', 'mawk=1.0']);
  const tie = repo(`
Package: app
Depends: awk

Package: gawk
Priority: optional
Provides: awk

Package: original-awk
Priority: optional
Provides: awk
`);
  fails(['app'], tie, /is a virtual package provided by gawk, original-awk: name one of them/);
});

test('an unversioned Provides does not meet a versioned dependency', () => {
  const index = repo('Package: app\nDepends: libfoo-abi (>= 1)\n\nPackage: libfoo\nProvides: libfoo-abi\n');
  fails(['app'], index, 'cross: armhf: no version of libfoo-abi satisfies libfoo-abi (>= 1) (needed by app): it is provided by libfoo 1.0 (unversioned)');
});

test(':any dependencies need Multi-Arch: allowed', () => {
  const index = repo(`
Package: app
Depends: python3:any

Package: tool
Depends: perl:any

Package: python3
Multi-Arch: allowed

Package: perl
`);
  assert.deepEqual(resolve(['app'], index), ['app=1.0', 'python3=1.0']);
  fails(['tool'], index, 'cross: armhf: no version of perl satisfies perl:any (needed by tool): the repository has 1.0, not Multi-Arch: allowed');
});

test('dependency cycles terminate, also through alternatives being tried', () => {
  const index = repo(`
Package: a
Depends: b

Package: b
Pre-Depends: c

Package: c
Depends: a, x | y

Package: x
Depends: c, missing

Package: y
Depends: a
`);
  assert.deepEqual(resolve(['a'], index), ['a=1.0', 'b=1.0', 'c=1.0', 'y=1.0']);
});

const BASE = `
Package: app
Depends: libc6, bash, sed | busybox

Package: libc6

Package: bash
Essential: yes
Depends: base-files, libtinfo6

Package: base-files
Essential: yes
Architecture: all

Package: sed
Essential: yes

Package: busybox

Package: libtinfo6
`;

test('by default, what an essential package can meet is taken as met and left out', () => {
  assert.deepEqual(resolve(['app'], repo(BASE)), ['app=1.0', 'libc6=1.0']);
});

test('essential packages requested by name are included, with their non-essential dependencies', () => {
  assert.deepEqual(resolve(['app', 'bash'], repo(BASE)), ['app=1.0', 'bash=1.0', 'libc6=1.0', 'libtinfo6=1.0']);
});

test('withEssential adds the whole essential set and what it depends on', () => {
  assert.deepEqual(resolve(['app'], repo(BASE), { withEssential: true }), [
    'app=1.0',
    'base-files=1.0',
    'bash=1.0',
    'libc6=1.0',
    'libtinfo6=1.0',
    'sed=1.0',
  ]);
  assert.deepEqual(resolve([], repo(BASE), { withEssential: true }), ['base-files=1.0', 'bash=1.0', 'libtinfo6=1.0', 'sed=1.0']);
});
