import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDeb822 } from '../../src/debian/deb822.ts';
import { packagesFrom } from '../../src/debian/packages-index.ts';

// A real Packages index: .debs made by dpkg-deb, indexed by dpkg-scanpackages.
function buildDeb(pool: string, control: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'deb-root-'));
  try {
    mkdirSync(join(root, 'DEBIAN'));
    mkdirSync(join(root, 'usr/share/doc', control['Package']!), { recursive: true });
    writeFileSync(join(root, 'usr/share/doc', control['Package']!, 'README'), 'hello\n');
    const text = Object.entries({ Maintainer: 'Test <t@example.com>', Description: 'test package', ...control })
      .map(([k, v]) => `${k}: ${v}\n`)
      .join('');
    writeFileSync(join(root, 'DEBIAN/control'), text);
    const deb = join(pool, `${control['Package']}_${control['Version']}_${control['Architecture']}.deb`);
    execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, deb], { stdio: 'ignore' });
    return deb;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('packagesFrom reads what dpkg-scanpackages writes, for one arch plus all', (t) => {
  const repo = mkdtempSync(join(tmpdir(), 'deb-repo-'));
  t.after(() => rmSync(repo, { recursive: true, force: true }));
  mkdirSync(join(repo, 'pool'));
  const hello = buildDeb(join(repo, 'pool'), {
    Package: 'hello',
    Version: '1:2.10-3',
    Architecture: 'armhf',
    'Pre-Depends': 'libc6 (>= 2.34)',
    Depends: 'libfoo1 (>= 1.2) | libbar1, python3:any',
    Provides: 'greeter, hello-api (= 2)',
    'Multi-Arch': 'foreign',
  });
  buildDeb(join(repo, 'pool'), { Package: 'base-files', Version: '12.4', Architecture: 'all', Essential: 'yes' });
  buildDeb(join(repo, 'pool'), { Package: 'hello', Version: '2.10-3', Architecture: 'arm64' });
  const index = execFileSync('dpkg-scanpackages', ['--multiversion', 'pool', '/dev/null'], { cwd: repo, stdio: ['ignore', 'pipe', 'ignore'] }).toString();

  const packages = packagesFrom(parseDeb822(index), 'armhf').sort((a, b) => a.name.localeCompare(b.name));
  const bytes = readFileSync(hello);
  assert.deepEqual(packages, [
    {
      name: 'base-files',
      version: '12.4',
      architecture: 'all',
      depends: [],
      preDepends: [],
      provides: [],
      essential: true,
      filename: 'pool/base-files_12.4_all.deb',
      size: packages[0]!.size,
      sha256: packages[0]!.sha256,
    },
    {
      name: 'hello',
      version: '1:2.10-3',
      architecture: 'armhf',
      depends: [[{ name: 'libfoo1', op: '>=', version: '1.2' }, { name: 'libbar1' }], [{ name: 'python3', arch: 'any' }]],
      preDepends: [[{ name: 'libc6', op: '>=', version: '2.34' }]],
      provides: [{ name: 'greeter' }, { name: 'hello-api', version: '2' }],
      essential: false,
      multiArch: 'foreign',
      filename: 'pool/hello_1:2.10-3_armhf.deb',
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    },
  ]);
  assert.deepEqual(packagesFrom(parseDeb822(index), 'arm64').map((p) => `${p.name} ${p.architecture}`).sort(), ['base-files all', 'hello arm64']);
});

const PARAGRAPH = { package: 'a', version: '1', architecture: 'armhf', filename: 'pool/a.deb', size: '10' };

test('fields an index cannot do without, and bad values, are refused naming the package', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ ...PARAGRAPH, filename: '' }, /^packages: package "a" has no filename field$/],
    [{ ...PARAGRAPH, package: '' }, /^packages: paragraph 1 has no package field$/],
    [{ ...PARAGRAPH, size: '1e3' }, /^packages: package "a" has a bad size "1e3"$/],
    [{ ...PARAGRAPH, sha256: 'abc' }, /^packages: package "a" has a bad sha256$/],
    [{ ...PARAGRAPH, depends: 'b (>= )' }, /^packages: package "a": depends: relations: cannot parse "b \(>= \)"$/],
    [{ ...PARAGRAPH, provides: 'b | c' }, /^packages: package "a": Provides: only "name" or "name \(= version\)" may be provided$/],
    [{ ...PARAGRAPH, provides: 'b (>= 1)' }, /Provides: only/],
  ];
  for (const [p, message] of cases) assert.throws(() => packagesFrom([p], 'armhf'), { message }, JSON.stringify(p));
});

test('Essential, Multi-Arch and SHA256 are read case-insensitively; other archs are skipped unread', () => {
  const [p] = packagesFrom(
    [{ ...PARAGRAPH, essential: 'Yes', 'multi-arch': 'Allowed', sha256: 'AB'.repeat(32), depends: 'x [amd64], y' }],
    'armhf',
  );
  assert.equal(p!.essential, true);
  assert.equal(p!.multiArch, 'allowed');
  assert.equal(p!.sha256, 'ab'.repeat(32));
  assert.deepEqual(p!.depends, [[{ name: 'y' }]]);
  assert.deepEqual(packagesFrom([{ ...PARAGRAPH, architecture: 'amd64', depends: '((broken' }], 'armhf'), []);
});
