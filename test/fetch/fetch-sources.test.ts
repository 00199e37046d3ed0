import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, ca, discoveryPage, fileServer, imagePath, makeSigner, testEnv, type BuiltImage, type Signer } from './fixtures.ts';

// The three kinds of source: a side-loaded file with its .asc, an https:// URL, and an
// appc name found by discovery; plain HTTP only when the user allows it.

let dir: string;
let signer: Signer;
let app: BuiltImage;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fetch-sources-'));
  signer = makeSigner(dir);
  app = await buildImage(signer, dir, { name: 'example.com/app', labels: { version: '1.0' }, files: { 'bin/app': 'x' } });
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('a local file is verified with FILE.asc and stored under its image ID', async () => {
  const env = await testEnv(signer, dir);
  const file = join(dir, 'app.aci');
  writeFileSync(file, app.aci);
  writeFileSync(`${file}.asc`, app.asc);
  const record = await env.fetch(file);
  assert.equal(record.id, app.id);
  assert.equal(record.name, 'example.com/app');
  assert.equal(record.size, app.size);
  assert.deepEqual((await env.stored()).map((r) => r.id), [app.id]);
  assert.deepEqual(await env.leftovers(), []);
});

test('--signature names the signature of a local file kept elsewhere', async () => {
  const env = await testEnv(signer, dir);
  const file = join(dir, 'lonely.aci');
  writeFileSync(file, app.aci);
  await assert.rejects(env.fetch(file), /^UserError: fetch: no signature .*lonely\.aci\.asc for .*; pass --signature FILE, or --insecure-options=image/);
  writeFileSync(join(dir, 'elsewhere.sig'), app.asc);
  assert.equal((await env.fetch(file, { signature: join(dir, 'elsewhere.sig') })).id, app.id);
});

test('an https URL is downloaded with its URL.asc, trusting the private CA given', async () => {
  const server = await fileServer(true, { '/app.aci': { body: app.aci, etag: '"v1"' }, '/app.aci.asc': { body: app.asc } });
  try {
    const env = await testEnv(signer, dir);
    await assert.rejects(
      env.fetch('https://example.com/app.aci', { resolve: server.resolve() }),
      /^UserError: fetch: https:\/\/example\.com\/app\.aci: the server's certificate is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\); pass --ca-file/,
    );
    const record = await env.fetch('https://example.com/app.aci', { resolve: server.resolve(), ca: ca() });
    assert.equal(record.id, app.id);
    assert.equal(record.remote?.url, 'https://example.com/app.aci');
    assert.equal(record.remote?.etag, '"v1"');
    assert.deepEqual(server.seen.slice(-2), ['example.com /app.aci', 'example.com /app.aci.asc']);
    assert.deepEqual(await env.leftovers(), []);
  } finally {
    server.close();
  }
});

test('an appc name is found by discovery, with version and the host os/arch in the template', async () => {
  const server = await fileServer(true, {
    '/app?ac-discovery=1': discoveryPage(),
    [imagePath('example.com/app', '1.0')]: { body: app.aci },
    [`${imagePath('example.com/app', '1.0')}.asc`]: { body: app.asc },
  });
  try {
    const env = await testEnv(signer, dir);
    const record = await env.fetch('example.com/app:1.0', { resolve: server.resolve(), ca: ca() });
    assert.equal(record.id, app.id);
    // Discovery goes on up to "/" looking for public keys, as the spec's walk does.
    assert.deepEqual(server.seen, [
      'example.com /app',
      'example.com /',
      'example.com /images/example.com/app-1.0-linux-armv7l.aci',
      'example.com /images/example.com/app-1.0-linux-armv7l.aci.asc',
    ]);
  } finally {
    server.close();
  }
});

test('plain HTTP is refused before any request, and allowed (with a warning) by --insecure-options=http', async () => {
  const server = await fileServer(false, { '/app.aci': { body: app.aci }, '/app.aci.asc': { body: app.asc } });
  try {
    const refused = await testEnv(signer, dir);
    await assert.rejects(
      refused.fetch('http://example.com/app.aci', { resolve: server.resolve() }),
      /^UserError: fetch: http:\/\/example\.com\/app\.aci is plain HTTP; use https, or pass --insecure-options=http to allow it$/,
    );
    assert.equal(server.requests.length, 0);
    const allowed = await testEnv(signer, dir, ['http']);
    assert.equal((await allowed.fetch('http://example.com/app.aci', { resolve: server.resolve() })).id, app.id);
    assert.deepEqual(allowed.warnings, ['warning: --insecure-options=http: plain HTTP is allowed']);
  } finally {
    server.close();
  }
});

test('docker:// without --insecure-options=image is refused before any download, saying how (test/fetch/docker/ has the rest)', async () => {
  const env = await testEnv(signer, dir);
  await assert.rejects(
    env.fetch('docker://busybox'),
    /^UserError: fetch: docker:\/\/busybox: Docker and OCI images carry no appc signature; pass --insecure-options=image to fetch it unverified, or pin it by digest \(docker:\/\/busybox@sha256:\.\.\.\)$/,
  );
});

test('an image ID is taken from the store, and an unknown one is an error', async () => {
  const env = await testEnv(signer, dir);
  const file = join(dir, 'byid.aci');
  writeFileSync(file, app.aci);
  writeFileSync(`${file}.asc`, app.asc);
  await assert.rejects(env.fetch(app.id.slice(0, 20)), /no image in the store has an ID starting with sha512-/);
  await env.fetch(file);
  assert.equal((await env.fetch(app.id.slice(0, 20), { pullPolicy: 'never' })).id, app.id);
});
