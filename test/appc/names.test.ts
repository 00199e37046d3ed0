import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRFC3339 } from '../../src/appc/annotations.ts';
import { isACIdentifier, isACName } from '../../src/appc/names.ts';
import { LINUX_ARCHES, isValidOsArch } from '../../src/appc/platform.ts';
import { APPC_VERSION, isACVersion } from '../../src/appc/spec-version.ts';
import { readFileSync } from 'node:fs';

describe('AC Identifier and AC Name (spec/types.md)', () => {
  it('accepts the spec examples', () => {
    for (const s of ['database', 'example.com/database', 'example.com/~user/app_v1', 'sub-domain.example.com/org/product/release']) {
      assert.ok(isACIdentifier(s), s);
    }
    for (const s of ['database', 'product-database', 'product-database-release', '0day']) assert.ok(isACName(s), s);
  });

  it('rejects empty, upper-case, other characters and separators at either end', () => {
    for (const s of ['', 'Database', '-db', 'db-', '/db', 'db~', 'a b', 'é', 'a:b']) assert.ok(!isACIdentifier(s), s);
    for (const s of ['', 'a.b', 'a_b', 'a/b', 'A', '-a', 'a-']) assert.ok(!isACName(s), s);
  });

  it('lets separators follow each other, as the reference does', () => {
    for (const s of ['a..b', 'a//b', 'a.-_~/b']) assert.ok(isACIdentifier(s), s);
    assert.ok(isACName('a--b'));
  });
});

describe('os/arch pairs', () => {
  it('knows the ARM arches of the boards this runtime is for, and never linux/arm', () => {
    for (const arch of ['armv6l', 'armv7l', 'aarch64']) assert.ok(isValidOsArch('linux', arch), arch);
    assert.ok(!isValidOsArch('linux', 'arm'));
    assert.ok(!isValidOsArch('linux', 'arm64'));
    assert.ok(isValidOsArch('freebsd', 'arm'));
    assert.ok(isValidOsArch('darwin', 'x86_64'));
    assert.ok(!isValidOsArch('darwin', 'amd64'));
    assert.ok(!isValidOsArch('toString', 'amd64'));
  });

  it('lists the linux arches of the reference', () => {
    assert.deepEqual([...LINUX_ARCHES], ['amd64', 'i386', 'aarch64', 'aarch64_be', 'armv6l', 'armv7l', 'armv7b', 'ppc64', 'ppc64le', 's390x']);
  });
});

describe('versions and timestamps', () => {
  it('APPC_VERSION is the spec copy\'s VERSION without +git', () => {
    const version = readFileSync(new URL('../../../shared/appc-spec/VERSION', import.meta.url), 'utf8').trim();
    assert.equal(APPC_VERSION, version.replace(/\+git$/, ''));
  });

  it('reads SemVer 2.0.0', () => {
    for (const s of ['0.8.11', '1.0.0-rc.1', '1.0.0+git', '1.0.0-alpha+build.5', '0.0.1']) assert.ok(isACVersion(s), s);
    for (const s of ['', '1.0', 'v1.0.0', '1.0.0-', '0.0.0', '1.0.0 ']) assert.ok(!isACVersion(s), s);
  });

  it('reads RFC3339 date-times and rejects impossible ones', () => {
    for (const s of ['2014-10-27T19:32:27.67021798Z', '2024-02-29T00:00:00-08:00', '0050-01-01T00:00:00Z']) assert.ok(isRFC3339(s), s);
    for (const s of ['2023-02-29T00:00:00Z', '2014-13-01T00:00:00Z', '2014-10-27T24:00:00Z', '2014-10-27T19:32:27', '2014-10-27t19:32:27Z', '2014-10-27T19:32:27+0100']) {
      assert.ok(!isRFC3339(s), s);
    }
  });
});
