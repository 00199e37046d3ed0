import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDiscoveryMeta, resolveEndpoints } from '../../src/appc/discovery.ts';
import { baseUrl, discoveryPage, imageFile } from '../../src/build/cross/layout.ts';

describe('cross discovery layout', () => {
  test('the template in index.html resolves to the base URL plus the file the layout writes', () => {
    const name = 'example.com/apps/hello';
    const base = baseUrl(name, undefined);
    assert.equal(base, 'https://example.com/');
    const metas = parseDiscoveryMeta(discoveryPage(name, base, true));
    for (const arch of ['armv6l', 'armv7l', 'aarch64', 'amd64']) {
      const labels = { version: '1.0.0', os: 'linux', arch };
      const file = imageFile(name, labels);
      assert.equal(file, `example.com/apps/hello-1.0.0-linux-${arch}.aci`);
      assert.deepEqual(resolveEndpoints(metas, name, labels), {
        aci: [{ aci: `${base}${file}`, signature: `${base}${file}.asc` }],
        pubkeys: ['https://example.com/pubkeys.asc'],
      });
    }
  });

  test('one page serves every image of the host; without a key there is no pubkeys tag', () => {
    const metas = parseDiscoveryMeta(discoveryPage('example.com/hello', 'http://cdn.example.org/aci/', false));
    assert.deepEqual(resolveEndpoints(metas, 'example.com/other', { version: '2', os: 'linux', arch: 'amd64' }), {
      aci: [{ aci: 'http://cdn.example.org/aci/example.com/other-2-linux-amd64.aci', signature: 'http://cdn.example.org/aci/example.com/other-2-linux-amd64.aci.asc' }],
      pubkeys: [],
    });
  });

  test('--base-url must be an absolute http(s) URL; a missing slash is added', () => {
    assert.equal(baseUrl('example.com/x', 'https://example.com/images'), 'https://example.com/images/');
    assert.throws(() => baseUrl('example.com/x', 'images/'), /--base-url "images\/" is not an absolute URL/);
    assert.throws(() => baseUrl('example.com/x', 'ftp://example.com/'), /must be an http or https URL/);
  });
});
