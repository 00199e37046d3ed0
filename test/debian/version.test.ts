import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { compareVersions } from '../../src/debian/version.ts';
import { UserError } from '../../src/util/errors.ts';

// Every expectation is also put to dpkg itself, so the table cannot drift from it.
const dpkgSays = (a: string, op: string, b: string): number | null =>
  spawnSync('dpkg', ['--compare-versions', a, op, b], { stdio: 'ignore' }).status;

const TABLE: [string, string, -1 | 0 | 1][] = [
  ['1.0', '1.0', 0],
  ['1.0', '1.0-0', 0],
  ['0:1.0', '1.0', 0],
  ['1.001', '1.1', 0],
  ['1.0-1', '1.0', 1],
  ['1:0.1', '2.0', 1],
  ['1.0~rc1', '1.0', -1],
  ['1.0~rc1', '1.0~rc2', -1],
  ['1.0~~', '1.0~', -1],
  ['1.0~', '1.0', -1],
  ['1.0a~', '1.0a', -1],
  ['0.9~beta', '0.9~alpha', 1],
  ['3.0~git20200101', '3.0~rc1', -1],
  ['1.0a', '1.0', 1],
  ['1.0a', '1.0+', -1],
  ['1.0+', '1.0.', -1],
  ['1.0', '1.0.', -1],
  ['A1', 'a1', -1],
  ['1.0.0', '1.0', 1],
  ['1.0+dfsg', '1.0', 1],
  ['2.30-1', '2.4-1', 1],
  ['1.18.25', '1.18.4', 1],
  ['10', '9', 1],
  ['7.6p2-4', '7.6-0', 1],
  ['1.0-1ubuntu1', '1.0-1', 1],
  ['2.36-9+deb12u4', '2.36-9+deb12u10', -1],
  ['1.2.3-4+rpi1', '1.2.3-4', 1],
  ['1:2:3', '1:2:4', -1],
  ['1.0-a-b', '1.0-a', 1],
  ['99999999999999999999', '100000000000000000000', -1],
  ['2:1.0', '10:0.1', -1],
];

test('compareVersions agrees with dpkg --compare-versions', () => {
  for (const [a, b, expected] of TABLE) {
    const dpkg = dpkgSays(a, 'lt', b) === 0 ? -1 : dpkgSays(a, 'eq', b) === 0 ? 0 : 1;
    assert.equal(dpkg, expected, `the table is wrong about ${a} vs ${b}: dpkg says ${dpkg}`);
    assert.equal(compareVersions(a, b), expected, `${a} vs ${b}`);
    assert.equal(compareVersions(b, a), -expected || 0, `${b} vs ${a}`);
  }
});

test('versions dpkg refuses are refused with one line naming them', () => {
  for (const bad of ['1:', ':1', '1.0-', '1 0', 'x:1', '1.0-1:2', '99999999999:1']) {
    assert.equal(dpkgSays(bad, 'lt', '2'), 2, `dpkg accepts ${bad}`);
    assert.throws(() => compareVersions(bad, '2'), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /^version: ".*" is not a Debian version: [^\n]+$/);
      assert.ok(err.message.includes(`"${bad}"`));
      return true;
    });
  }
  assert.throws(() => compareVersions('', '1'), /is empty/);
});
