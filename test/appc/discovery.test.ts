import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  discoveryUrls,
  missingLabels,
  parseDiscoveryMeta,
  parseImageRef,
  resolveEndpoints,
} from '../../src/appc/discovery.ts';
import { UserError } from '../../src/util/errors.ts';

const page = (n: string): string =>
  readFileSync(new URL(`../../../shared/appc-spec/discovery-testdata/${n}.html`, import.meta.url), 'utf8');

const amd64 = { version: '1.0.0', os: 'linux', arch: 'amd64' };
const STORAGE = 'https://storage.example.com/example.com/myapp-1.0.0-linux-amd64';
const KEYS = ['https://example.com/pubkeys.gpg'];

test('parseImageRef reads name, ":version" and labels', () => {
  assert.deepEqual(parseImageRef('example.com/app:1.0,os=linux,arch=armv7l'), {
    name: 'example.com/app',
    labels: { version: '1.0', os: 'linux', arch: 'armv7l' },
  });
  assert.deepEqual(parseImageRef('example.com/app'), { name: 'example.com/app', labels: {} });
  assert.deepEqual(parseImageRef('example.com/app,channel=alpha'), { name: 'example.com/app', labels: { channel: 'alpha' } });
});

test('parseImageRef defaults fill only labels the reference lacks', () => {
  const ref = parseImageRef('example.com/app,arch=aarch64', { os: 'linux', arch: 'armv6l' });
  assert.deepEqual(ref.labels, { os: 'linux', arch: 'aarch64' });
});

test('parseImageRef rejects malformed references with one line naming the problem', () => {
  const cases: [string, RegExp][] = [
    ['Example.com/App', /name "Example.com\/App" is not an AC Identifier/],
    ['example.com/app:1:2', /more than one ":version"/],
    ['example.com/app:', /must be followed by a version/],
    ['example.com/app,os', /label os has no value/],
    ['example.com/app,os=linux,os=darwin', /label os is given twice/],
    ['example.com/app:1.0,version=2.0', /label version is given twice/],
    ['example.com/app,name=x', /"name" is not a label/],
    ['example.com/app,Bad=x', /label name "Bad" is not an AC Identifier/],
  ];
  for (const [input, why] of cases) {
    assert.throws(
      () => parseImageRef(input),
      (err: unknown) => err instanceof UserError && why.test(err.message) && !err.message.includes('\n'),
      input,
    );
  }
});

test('discovery walks from the full name up to the bare host', () => {
  assert.deepEqual(discoveryUrls('example.com/a/b', false), [
    'https://example.com/a/b?ac-discovery=1',
    'https://example.com/a?ac-discovery=1',
    'https://example.com?ac-discovery=1',
  ]);
});

test('insecure discovery tries plain HTTP right after each HTTPS URL, and a port goes on the host', () => {
  assert.deepEqual(discoveryUrls('example.com/a', true, 8443), [
    'https://example.com:8443/a?ac-discovery=1',
    'http://example.com:8443/a?ac-discovery=1',
    'https://example.com:8443?ac-discovery=1',
    'http://example.com:8443?ac-discovery=1',
  ]);
});

test('meta01: one ACI endpoint and the public keys', () => {
  const metas = parseDiscoveryMeta(page('meta01'));
  assert.deepEqual(metas, [
    { prefix: 'example.com', kind: 'ac-discovery', content: 'https://storage.example.com/{name}-{version}-{os}-{arch}.{ext}' },
    { prefix: 'example.com', kind: 'ac-discovery-pubkeys', content: 'https://example.com/pubkeys.gpg' },
  ]);
  assert.deepEqual(resolveEndpoints(metas, 'example.com/myapp', amd64), {
    aci: [{ aci: `${STORAGE}.aci`, signature: `${STORAGE}.aci.asc` }],
    pubkeys: KEYS,
  });
});

test('meta01 serves a deeper name through its prefix', () => {
  const eps = resolveEndpoints(parseDiscoveryMeta(page('meta01')), 'example.com/myapp/foobar', amd64);
  assert.deepEqual(eps.aci, [
    {
      aci: 'https://storage.example.com/example.com/myapp/foobar-1.0.0-linux-amd64.aci',
      signature: 'https://storage.example.com/example.com/myapp/foobar-1.0.0-linux-amd64.aci.asc',
    },
  ]);
});

test('meta02 has only an ACI template, meta03 only public keys', () => {
  assert.deepEqual(resolveEndpoints(parseDiscoveryMeta(page('meta02')), 'example.com/myapp', amd64), {
    aci: [{ aci: `${STORAGE}.aci`, signature: `${STORAGE}.aci.asc` }],
    pubkeys: [],
  });
  assert.deepEqual(resolveEndpoints(parseDiscoveryMeta(page('meta03')), 'example.com/myapp', amd64), { aci: [], pubkeys: KEYS });
});

test('meta04 points at another storage host', () => {
  const eps = resolveEndpoints(parseDiscoveryMeta(page('meta04')), 'example.com/myapp', amd64);
  assert.equal(eps.aci[0]?.aci, 'https://another.storage.example.com/example.com/myapp-1.0.0-linux-amd64.aci');
});

test('meta05: a template missing a label is skipped, and version defaults to latest', () => {
  const metas = parseDiscoveryMeta(page('meta05'));
  assert.deepEqual(resolveEndpoints(metas, 'example.com/myapp', { version: '1.0.0' }).aci, [
    {
      aci: 'https://storage.example.com/example.com/myapp-1.0.0.aci',
      signature: 'https://storage.example.com/example.com/myapp-1.0.0.aci.asc',
    },
  ]);
  assert.deepEqual(resolveEndpoints(metas, 'example.com/myapp', {}).aci, [
    {
      aci: 'https://storage.example.com/example.com/myapp-latest.aci',
      signature: 'https://storage.example.com/example.com/myapp-latest.aci.asc',
    },
  ]);
  assert.deepEqual(missingLabels(metas, 'example.com/myapp', {}), ['arch', 'os']);
});

test('meta05: a label called "name" does not replace the image name', () => {
  const eps = resolveEndpoints(parseDiscoveryMeta(page('meta05')), 'example.com/myapp', { name: 'labelcalledname', version: '1.0.0' });
  assert.equal(eps.aci[0]?.aci, 'https://storage.example.com/example.com/myapp-1.0.0.aci');
});

test('meta06: every template that fills gives an endpoint, in page order', () => {
  const eps = resolveEndpoints(parseDiscoveryMeta(page('meta06')), 'example.com/myapp', amd64);
  assert.deepEqual(
    eps.aci.map((e) => e.aci),
    [
      `${STORAGE}.aci`,
      'https://storage.example.com/example.com/myapp-1.0.0.aci',
      'hdfs://storage.example.com/example.com/myapp-1.0.0-linux-amd64.aci',
    ],
  );
  assert.deepEqual(eps.pubkeys, KEYS);
});

test('a tag whose prefix does not start the name is ignored', () => {
  const metas = parseDiscoveryMeta(page('meta01'));
  assert.deepEqual(resolveEndpoints(metas, 'other.org/myapp', amd64), { aci: [], pubkeys: [] });
});

test('any other label fills its own placeholder', () => {
  const metas = parseDiscoveryMeta('<meta name="ac-discovery" content="example.com https://s/{channel}/{name}.{ext}">');
  assert.deepEqual(resolveEndpoints(metas, 'example.com/a', { channel: 'beta' }).aci, [
    { aci: 'https://s/beta/example.com/a.aci', signature: 'https://s/beta/example.com/a.aci.asc' },
  ]);
  assert.deepEqual(resolveEndpoints(metas, 'example.com/a', {}).aci, []);
});

test('a label value that looks like a placeholder is not expanded again', () => {
  const metas = parseDiscoveryMeta('<meta name="ac-discovery" content="example.com https://s/{name}-{version}.{ext}">');
  assert.deepEqual(resolveEndpoints(metas, 'example.com/a', { version: '{ext}' }).aci, [
    { aci: 'https://s/example.com/a-{ext}.aci', signature: 'https://s/example.com/a-{ext}.aci.asc' },
  ]);
});

test('meta scanning tolerates attribute order, quoting, case, self-closing tags and entities', () => {
  const html = [
    `<META CONTENT='example.com https://a/{name}.{ext}' NAME='ac-discovery'/>`,
    '<meta content="example.com https://b/{name}.{ext}?x=1&amp;y=2" name=ac-discovery >',
    '<meta\tname="AC-Discovery-Pubkeys"\ncontent="  example.com   https://k/keys.gpg ">',
    '<!-- <meta name="ac-discovery" content="example.com https://commented/{ext}"> -->',
    '<meta name="description" content="example.com https://not/{ext}">',
    '<meta name="ac-discovery" content="example.com">',
    '<metadata name="ac-discovery" content="example.com https://not-meta/{ext}">',
  ].join('\n');
  assert.deepEqual(parseDiscoveryMeta(html), [
    { prefix: 'example.com', kind: 'ac-discovery', content: 'https://a/{name}.{ext}' },
    { prefix: 'example.com', kind: 'ac-discovery', content: 'https://b/{name}.{ext}?x=1&y=2' },
    { prefix: 'example.com', kind: 'ac-discovery-pubkeys', content: 'https://k/keys.gpg' },
  ]);
});
