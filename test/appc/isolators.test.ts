import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseImageManifest } from '../../src/appc/image-manifest.ts';
import { isKnownIsolator } from '../../src/appc/isolators.ts';
import { parseQuantity } from '../../src/appc/quantity.ts';
import type { Isolator } from '../../src/appc/types.ts';

describe('parseQuantity', () => {
  it('reads the spec\'s forms exactly', () => {
    const cases: [string, number][] = [
      ['128974848', 128974848],
      ['125952Ki', 128974848],
      ['123Mi', 128974848],
      ['20m', 0.02],
      ['250m', 0.25],
      ['0.3', 0.3],
      ['1G', 1e9],
      ['1.1G', 1.1e9],
      ['500Mi', 500 * 2 ** 20],
      ['0.5Gi', 2 ** 29],
      ['2M', 2e6],
      ['1K', 1000],
      ['1k', 1000],
      ['1E', 1e18],
      ['1e3', 1000],
      ['5E-1', 0.5],
      ['.5', 0.5],
      ['1.', 1],
      ['+7', 7],
      ['-2', -2],
    ];
    for (const [text, value] of cases) assert.equal(parseQuantity(text), value, text);
  });

  it('rejects what is not a quantity, naming it in one line', () => {
    for (const text of ['', 'G', '.', '1GB', '1 G', '1mi', '0x10', '1,5', 'Infinity']) {
      assert.throws(() => parseQuantity(text), { name: 'UserError', message: new RegExp(`^invalid quantity ${JSON.stringify(text).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: [^\\n]+$`) }, text);
    }
  });
});

function isolatorsOf(isolators: unknown[]): Isolator[] {
  const text = JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'x', app: { exec: ['/x'], user: '0', group: '0', isolators } });
  return parseImageManifest(text).app?.isolators ?? [];
}

describe('isolator values', () => {
  it('are read into a canonical shape, with numeric quantities as strings', () => {
    assert.deepEqual(isolatorsOf([{ name: 'resource/memory', value: { LIMIT: 1073741824, default: false, extra: 1 } }]), [
      { name: 'resource/memory', value: { limit: '1073741824' } },
    ]);
    assert.deepEqual(isolatorsOf([{ name: 'os/linux/seccomp-retain-set', value: { set: ['read'], errno: '' } }]), [
      { name: 'os/linux/seccomp-retain-set', value: { set: ['read'] } },
    ]);
  });

  it('keep unknown isolators as they came, even without a value', () => {
    assert.equal(isKnownIsolator('example.com/gpu'), false);
    assert.equal(isKnownIsolator('resource/cpu'), true);
    assert.deepEqual(isolatorsOf([{ name: 'example.com/gpu', value: { Count: 2 } }, { name: 'example.com/flag' }]), [
      { name: 'example.com/gpu', value: { Count: 2 } },
      { name: 'example.com/flag', value: null },
    ]);
  });

  it('allow several capability sets and no-new-privileges, as the reference does', () => {
    const caps = { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_CHOWN'] } };
    const nnp = { name: 'os/linux/no-new-privileges', value: false };
    assert.equal(isolatorsOf([caps, caps, nnp, nnp]).length, 4);
  });

  it('refuse a capability retain set together with a remove set', () => {
    const isolators = [
      { name: 'os/linux/capabilities-remove-set', value: { set: ['CAP_CHOWN'] } },
      { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_KILL'] } },
    ];
    assert.throws(() => isolatorsOf(isolators), {
      message: 'manifest: app.isolators[1].name "os/linux/capabilities-retain-set" cannot be used with os/linux/capabilities-remove-set',
    });
  });

  it('accept a port range that ends exactly at 65535', () => {
    const text = JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'x', app: { user: '0', group: '0', ports: [{ name: 'p', protocol: 'udp', port: 65000, count: 536 }] } });
    assert.equal(parseImageManifest(text).app?.ports[0]?.count, 536);
  });
});
