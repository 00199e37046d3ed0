import assert from 'node:assert/strict';
import { test } from 'node:test';
import { installOrder } from '../../src/build/cross/install-order.ts';
import type { PackageInfo } from '../../src/debian/types.ts';

function pkg(name: string, depends: string[][] = [], provides: string[] = []): PackageInfo {
  return {
    name,
    version: '1',
    architecture: 'armhf',
    depends: depends.map((alts) => alts.map((n) => ({ name: n }))),
    preDepends: [],
    provides: provides.map((n) => ({ name: n })),
    essential: false,
    filename: `pool/${name}.deb`,
    size: 1,
  };
}

test('dependencies come before their dependents, through alternatives and virtual packages; cycles are broken', () => {
  const order = installOrder([
    pkg('app', [['libfoo'], ['mail-transport-agent']]),
    pkg('libfoo', [['base-files']]),
    pkg('base-files'),
    pkg('tiny-mta', [['app']], ['mail-transport-agent']),
  ]);
  assert.deepEqual(order.map((p) => p.name), ['base-files', 'libfoo', 'tiny-mta', 'app']);
});
