import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatRelation, parseRelations, satisfies } from '../../src/debian/relations.ts';
import type { PackageInfo } from '../../src/debian/types.ts';

test('groups, alternatives, versions and arch qualifiers', () => {
  const cases: [string, unknown][] = [
    ['', []],
    ['  ', []],
    ['libc6', [[{ name: 'libc6' }]]],
    [
      'libc6 (>= 2.36), libfoo1 | libbar1 (= 1:1.0-1+b1)',
      [[{ name: 'libc6', op: '>=', version: '2.36' }], [{ name: 'libfoo1' }, { name: 'libbar1', op: '=', version: '1:1.0-1+b1' }]],
    ],
    ['python3:any (>= 3.11~), perl:any', [[{ name: 'python3', arch: 'any', op: '>=', version: '3.11~' }], [{ name: 'perl', arch: 'any' }]]],
    ['a (<<1), b(>>2), c ( <= 3 ), d (< 4), e (> 5)', [
      [{ name: 'a', op: '<<', version: '1' }],
      [{ name: 'b', op: '>>', version: '2' }],
      [{ name: 'c', op: '<=', version: '3' }],
      [{ name: 'd', op: '<=', version: '4' }],
      [{ name: 'e', op: '>=', version: '5' }],
    ]],
    ['libc6 (>= 2.36),\n libstdc++6 (>=\n 12),\n g++-12', [
      [{ name: 'libc6', op: '>=', version: '2.36' }],
      [{ name: 'libstdc++6', op: '>=', version: '12' }],
      [{ name: 'g++-12' }],
    ]],
    ['a, , b,', [[{ name: 'a' }], [{ name: 'b' }]]],
  ];
  for (const [field, expected] of cases) assert.deepEqual(parseRelations(field, 'armhf'), expected, JSON.stringify(field));
});

test('arch restriction lists keep or drop alternatives for the target arch', () => {
  const names = (field: string, arch: string) => parseRelations(field, arch).map((g) => g.map((r) => r.name).join('|'));
  const cases: [string, string, string[]][] = [
    ['a [amd64], b', 'armhf', ['b']],
    ['a [amd64 armhf], b', 'armhf', ['a', 'b']],
    ['a [!armhf]', 'armhf', []],
    ['a [!armhf]', 'armel', ['a']],
    ['a [!amd64 !arm64]', 'armhf', ['a']],
    ['a [linux-any]', 'arm64', ['a']],
    ['a [any-arm]', 'armhf', ['a']],
    ['a [any-arm]', 'armel', ['a']],
    ['a [any-arm]', 'arm64', []],
    ['a [any-arm64]', 'arm64', ['a']],
    ['a [linux-amd64]', 'amd64', ['a']],
    ['a [hurd-any kfreebsd-any]', 'amd64', []],
    ['a [!hurd-any]', 'amd64', ['a']],
    ['a [amd64] | b, c', 'armhf', ['b', 'c']],
    ['a (>= 1) [armhf] | b [arm64]', 'armhf', ['a']],
  ];
  for (const [field, arch, expected] of cases) assert.deepEqual(names(field, arch), expected, `${field} on ${arch}`);
});

test('build profiles: none is active, so only negated restrictions hold', () => {
  const names = (field: string) => parseRelations(field, 'armhf').map((g) => g.map((r) => r.name).join('|'));
  assert.deepEqual(names('a <!nocheck>'), ['a']);
  assert.deepEqual(names('a <stage1>'), []);
  assert.deepEqual(names('a <stage1> <!nocheck>'), ['a']);
  assert.deepEqual(names('a <!nocheck !stage1>'), ['a']);
  assert.deepEqual(names('a <!nocheck stage1>'), []);
  assert.deepEqual(names('a [armhf] <!nocheck> | b'), ['a|b']);
  assert.deepEqual(names('a [amd64] <!nocheck> | b <cross>, c'), ['c']);
});

test('malformed relations are refused with one line quoting them', () => {
  const cases: [string, RegExp][] = [
    ['a (>= )', /^relations: cannot parse "a \(>= \)"$/],
    ['a (~ 1)', /cannot parse "a \(~ 1\)"/],
    ['a (>= 1', /cannot parse/],
    ['Libc6', /cannot parse "Libc6"/],
    ['a | | b', /cannot parse ""/],
    ['a b', /cannot parse "a b"/],
    ['a [amd64 !armhf]', /^relations: bad architecture list in "a \[amd64 !armhf\]"$/],
    ['a []', /bad architecture list/],
    ['a (>=\n 1', /^relations: cannot parse "a \(>= 1"$/],
  ];
  for (const [field, message] of cases) assert.throws(() => parseRelations(field, 'armhf'), { message }, field);
});

const pkg = (over: Partial<PackageInfo>): PackageInfo => ({
  name: 'foo',
  version: '1.4-1',
  architecture: 'armhf',
  depends: [],
  preDepends: [],
  provides: [],
  essential: false,
  filename: 'pool/foo.deb',
  size: 1,
  ...over,
});

const rel = (field: string) => parseRelations(field, 'armhf')[0]![0]!;

test('satisfies: versions and arch qualifiers of a real package', () => {
  const foo = pkg({});
  const cases: [PackageInfo, string, boolean][] = [
    [foo, 'foo', true],
    [foo, 'bar', false],
    [foo, 'foo (>= 1.4)', true],
    [foo, 'foo (>= 1.4-2)', false],
    [foo, 'foo (>> 1.4)', true],
    [foo, 'foo (<< 1.4-1)', false],
    [foo, 'foo (<= 1.4-1)', true],
    [foo, 'foo (= 1.4-1)', true],
    [foo, 'foo (= 0:1.4-1)', true],
    [foo, 'foo (= 1.4)', false],
    [foo, 'foo (<< 1.4-1+b1)', true],
    [foo, 'foo:any', false],
    [pkg({ multiArch: 'allowed' }), 'foo:any (>= 1)', true],
    [pkg({ multiArch: 'foreign' }), 'foo:any', false],
    [foo, 'foo:native', true],
    [foo, 'foo:armhf', true],
    [foo, 'foo:arm64', false],
    [pkg({ architecture: 'all' }), 'foo:arm64', true],
  ];
  for (const [p, field, expected] of cases) assert.equal(satisfies(p, rel(field)), expected, `${p.name} ${p.version} ${p.multiArch ?? ''} vs ${field}`);
});

test('satisfies: a provided virtual package, versioned or not (Policy 7.5)', () => {
  const by = pkg({ name: 'exim4', version: '4.96-15' });
  const allowed = pkg({ name: 'python3', multiArch: 'allowed' });
  const cases: [Parameters<typeof satisfies>[0], string, boolean][] = [
    [{ name: 'mail-transport-agent', by }, 'mail-transport-agent', true],
    [{ name: 'mail-transport-agent', by }, 'mail-transport-agent (>= 1)', false],
    [{ name: 'libfoo-abi', version: '2', by }, 'libfoo-abi (>= 2)', true],
    [{ name: 'libfoo-abi', version: '2', by }, 'libfoo-abi (>> 2)', false],
    [{ name: 'libfoo-abi', version: '2', by }, 'exim4', false],
    [{ name: 'python3-api', by }, 'python3-api:any', false],
    [{ name: 'python3-api', by: allowed }, 'python3-api:any', true],
  ];
  for (const [p, field, expected] of cases) assert.equal(satisfies(p, rel(field)), expected, `${p.name} vs ${field}`);
});

test('formatRelation writes relations back as Debian does', () => {
  for (const field of ['libfoo (>= 2.0)', 'python3:any', 'perl:any (<< 6)', 'bar']) assert.equal(formatRelation(rel(field)), field);
});
