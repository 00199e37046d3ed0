import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import { discover, type DiscoverOptions } from '../../src/fetch/discover.ts';
import { UserError } from '../../src/util/errors.ts';
import { closedPort, serve as serveHandler, testPki, type TestServer } from '../helpers/https-server.ts';

// Real servers on 127.0.0.1 serve the spec's discovery pages as example.com; the
// `resolve` option points example.com at them, and HTTPS uses a certificate for
// example.com signed by a test CA (test/helpers/https-server.ts).

const page = (n: string): string =>
  readFileSync(new URL(`../../../shared/appc-spec/discovery-testdata/${n}.html`, import.meta.url), 'utf8');

type Route = { body: string } | { redirect: string };

async function serve(secure: boolean, routes: Record<string, Route>): Promise<TestServer> {
  const table = new Map(Object.entries(routes));
  const handler: http.RequestListener = (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = url.searchParams.get('ac-discovery') === '1' ? table.get(url.pathname) : undefined;
    if (route === undefined) res.writeHead(404).end();
    else if ('redirect' in route) res.writeHead(302, { location: route.redirect }).end();
    else res.writeHead(200, { 'content-type': 'text/html' }).end(route.body);
  };
  return serveHandler(secure, handler);
}

const amd64 = { version: '1.0.0', os: 'linux', arch: 'amd64' };
const myapp = { name: 'example.com/myapp', labels: amd64 };
const STORAGE = 'https://storage.example.com/example.com/myapp-1.0.0-linux-amd64';
const KEYS = ['https://example.com/pubkeys.gpg'];

async function withHttps<T>(routes: Record<string, Route>, run: (s: TestServer, opts: DiscoverOptions) => Promise<T>): Promise<T> {
  const s = await serve(true, routes);
  try {
    return await run(s, { resolve: s.resolve(), ca: testPki().ca });
  } finally {
    s.close();
  }
}

test('discovers over HTTPS, naming the host in the request and the certificate check', async () => {
  await withHttps({ '/myapp': { body: page('meta01') } }, async (s, opts) => {
    assert.deepEqual(await discover(myapp, opts), { aci: [{ aci: `${STORAGE}.aci`, signature: `${STORAGE}.aci.asc` }], pubkeys: KEYS });
    assert.deepEqual(s.seen, ['example.com /myapp']);
  });
});

test('walks up the name until a page has meta tags', async () => {
  await withHttps({ '/': { body: page('meta01') } }, async (s, opts) => {
    const eps = await discover({ name: 'example.com/myapp/foobar', labels: amd64 }, opts);
    assert.equal(eps.aci[0]?.aci, 'https://storage.example.com/example.com/myapp/foobar-1.0.0-linux-amd64.aci');
    assert.deepEqual(s.seen, ['example.com /myapp/foobar', 'example.com /myapp', 'example.com /']);
  });
});

test('image templates and public keys may come from different levels', async () => {
  await withHttps({ '/': { body: page('meta03') }, '/myapp': { body: page('meta02') } }, async (_s, opts) => {
    assert.deepEqual(await discover(myapp, opts), { aci: [{ aci: `${STORAGE}.aci`, signature: `${STORAGE}.aci.asc` }], pubkeys: KEYS });
  });
  await withHttps({ '/': { body: page('meta02') }, '/myapp': { body: page('meta03') } }, async (_s, opts) => {
    assert.deepEqual(await discover(myapp, opts), { aci: [{ aci: `${STORAGE}.aci`, signature: `${STORAGE}.aci.asc` }], pubkeys: KEYS });
  });
});

test('the deepest page with image templates wins; keys still come from above', async () => {
  await withHttps({ '/': { body: page('meta04') }, '/myapp': { body: page('meta02') } }, async (s, opts) => {
    const eps = await discover(myapp, opts);
    assert.deepEqual(eps.aci.map((e) => e.aci), [`${STORAGE}.aci`]);
    assert.deepEqual(eps.pubkeys, KEYS);
    assert.deepEqual(s.seen, ['example.com /myapp', 'example.com /']);
  });
});

test('public keys may be missing; the walk stops at the host', async () => {
  await withHttps({ '/': { body: page('meta02') } }, async (_s, opts) => {
    assert.deepEqual((await discover(myapp, opts)).pubkeys, []);
  });
});

test('no meta tag anywhere is a one-line error listing what was tried', async () => {
  await withHttps({ '/': { body: page('meta03') } }, async (_s, opts) => {
    await assert.rejects(
      discover({ name: 'example.com/myapp/foobar', labels: amd64 }, opts),
      (err: unknown) =>
        err instanceof UserError &&
        err.message ===
          'discovery: no ac-discovery meta tag for example.com/myapp/foobar found at ' +
            'https://example.com/myapp/foobar?ac-discovery=1 (404), https://example.com/myapp?ac-discovery=1 (404), ' +
            'https://example.com?ac-discovery=1',
    );
  });
});

test('templates that need labels the reference lacks say which', async () => {
  await withHttps({ '/myapp': { body: page('meta01') } }, async (_s, opts) => {
    await assert.rejects(
      discover({ name: 'example.com/myapp', labels: {} }, opts),
      /^UserError: discovery: the ac-discovery templates for example\.com\/myapp at https:\/\/example\.com\/myapp\?ac-discovery=1 need labels arch, os \(example\.com\/myapp,arch=\.\.\.,os=\.\.\.\)$/,
    );
  });
});

test('an untrusted certificate fails, and without insecure plain HTTP is never tried', async () => {
  const plain = await serve(false, { '/myapp': { body: page('meta01') } });
  try {
    await withHttps({ '/myapp': { body: page('meta01') } }, async (s, opts) => {
      const resolve = { ...opts.resolve, 'example.com:80': `127.0.0.1:${plain.port}` };
      await assert.rejects(discover(myapp, { resolve }), /found at https:\/\/example\.com\/myapp\?ac-discovery=1 \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\), https:\/\/example\.com\?ac-discovery=1 \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\); the server's certificate was not trusted: pass --ca-file with its CA certificate \(or --insecure-options=tls\)$/);
      assert.deepEqual(s.seen, []);
      assert.deepEqual(plain.seen, []);
    });
  } finally {
    plain.close();
  }
});

test('insecure discovery falls back to plain HTTP when HTTPS does not answer', async () => {
  const plain = await serve(false, { '/myapp': { body: page('meta01') } });
  try {
    const resolve = { 'example.com:443': `127.0.0.1:${await closedPort()}`, 'example.com:80': `127.0.0.1:${plain.port}` };
    await assert.rejects(discover(myapp, { resolve }), /\(ECONNREFUSED\)/);
    assert.deepEqual(plain.seen, []);
    assert.deepEqual((await discover(myapp, { resolve, insecure: true })).pubkeys, KEYS);
    assert.deepEqual(plain.seen, ['example.com /myapp']);
  } finally {
    plain.close();
  }
});

test('redirects are followed, but never from HTTPS down to HTTP unless insecure', async () => {
  const plain = await serve(false, { '/elsewhere': { body: page('meta01') } });
  try {
    await withHttps(
      { '/myapp': { redirect: '/moved?ac-discovery=1' }, '/moved': { body: page('meta02') }, '/': { redirect: `http://example.com/elsewhere?ac-discovery=1` } },
      async (s, opts) => {
        const resolve = { ...opts.resolve, 'example.com:80': `127.0.0.1:${plain.port}` };
        const secure = await discover(myapp, { ...opts, resolve });
        assert.deepEqual(secure, { aci: [{ aci: `${STORAGE}.aci`, signature: `${STORAGE}.aci.asc` }], pubkeys: [] });
        assert.deepEqual(plain.seen, []);
        // The walk goes on to "/" for keys, whose redirect to http needs insecure.
        assert.deepEqual(s.seen, ['example.com /myapp', 'example.com /moved', 'example.com /']);
        const insecure = await discover(myapp, { ...opts, resolve, insecure: true });
        assert.deepEqual(insecure.pubkeys, KEYS);
        assert.deepEqual(plain.seen, ['example.com /elsewhere']);
      },
    );
  } finally {
    plain.close();
  }
});

test('a port option puts the port on the discovery URLs', async () => {
  await withHttps({ '/myapp': { body: page('meta01') } }, async (s, opts) => {
    const resolve = { 'example.com:8443': `127.0.0.1:${s.port}` };
    assert.deepEqual((await discover(myapp, { ...opts, resolve, port: 8443 })).pubkeys, KEYS);
    assert.deepEqual(s.seen, ['example.com:8443 /myapp']);
  });
});
