import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRelease } from '../../src/debian/release.ts';

const release = (extra: string) => `Origin: Test
Suite: testing
Components: main
Architectures: armhf
${extra}SHA256:
 ${'a'.repeat(64)} 10 main/binary-armhf/Packages
`;

test('a replayed Release past its Valid-Until is refused; one still valid is read', () => {
  const now = new Date('2026-11-29T00:00:00Z');
  assert.throws(
    () => parseRelease(release('Valid-Until: Sat, 01 Nov 2025 00:00:00 UTC\n'), 'http://repo/InRelease', now),
    /^UserError: cross: http:\/\/repo\/InRelease: the Release expired on Sat, 01 Nov 2025 00:00:00 UTC \(Valid-Until\)/,
  );
  const fresh = parseRelease(release('Valid-Until: Mon, 07 Dec 2026 00:00:00 UTC\n'), 'http://repo/InRelease', now);
  assert.equal(fresh.files.get('main/binary-armhf/Packages')?.size, 10);
  assert.equal(parseRelease(release(''), 'http://repo/InRelease', now).components[0], 'main');
});
