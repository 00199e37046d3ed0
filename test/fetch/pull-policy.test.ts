import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, ca, discoveryPage, fileServer, imagePath, makeSigner, testEnv, type BuiltImage, type Signer } from './fixtures.ts';

// --pull-policy as in rkt: never = the store only, new = the store first, update = ask
// the server, which may answer 304 to the stored ETag or be skipped within max-age.
// The server counts requests, so "no request" is checked, not assumed.

let dir: string;
let signer: Signer;
let v1: BuiltImage;
let v2: BuiltImage;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fetch-policy-'));
  signer = makeSigner(dir);
  v1 = await buildImage(signer, dir, { name: 'example.com/app', labels: { version: '1.0' }, files: { v: '1' } });
  v2 = await buildImage(signer, dir, { name: 'example.com/app', labels: { version: '1.0' }, files: { v: '2' } });
});

after(() => rmSync(dir, { recursive: true, force: true }));

const IMAGE = imagePath('example.com/app', '1.0');

async function appServer(image: BuiltImage, extra: { etag?: string; cacheControl?: string } = {}) {
  return fileServer(true, {
    '/app?ac-discovery=1': discoveryPage(),
    [IMAGE]: { body: image.aci, ...extra },
    [`${IMAGE}.asc`]: { body: image.asc },
  });
}

test('never: nothing stored is a clear error, and no request is made', async () => {
  const server = await appServer(v1);
  try {
    const env = await testEnv(signer, dir);
    const opts = { pullPolicy: 'never' as const, resolve: server.resolve(), ca: ca() };
    await assert.rejects(
      env.fetch('example.com/app:1.0', opts),
      /^UserError: fetch: example\.com\/app:1\.0 is not in the store, and --pull-policy=never forbids discovering it$/,
    );
    await assert.rejects(env.fetch('https://example.com/app.aci', opts), /^UserError: fetch: https:\/\/example\.com\/app\.aci is not in the store, and --pull-policy=never/);
    assert.equal(server.requests.length, 0);
    await env.fetch('example.com/app:1.0', { resolve: server.resolve(), ca: ca() });
    assert.equal((await env.fetch('example.com/app:1.0', opts)).id, v1.id);
  } finally {
    server.close();
  }
});

test('new: a stored image is used without a single request', async () => {
  const server = await appServer(v1);
  try {
    const env = await testEnv(signer, dir);
    const opts = { pullPolicy: 'new' as const, resolve: server.resolve(), ca: ca() };
    assert.equal((await env.fetch('example.com/app:1.0', opts)).id, v1.id);
    const made = server.requests.length;
    assert.ok(made >= 3, 'the first fetch discovered and downloaded');
    assert.equal((await env.fetch('example.com/app:1.0', opts)).id, v1.id);
    assert.equal((await env.fetch('example.com/app', opts)).id, v1.id, 'no version asked: the newest stored one');
    assert.equal(server.requests.length, made);
    // Another version is not "stored": new fetches it.
    await assert.rejects(env.fetch('example.com/app:2.0', opts), /404 Not Found/);
  } finally {
    server.close();
  }
});

test('update: the stored ETag goes out as If-None-Match, and a 304 keeps the stored image', async () => {
  const server = await appServer(v1, { etag: '"v1"' });
  try {
    const env = await testEnv(signer, dir);
    const opts = { resolve: server.resolve(), ca: ca() };
    const first = await env.fetch('example.com/app:1.0', opts);
    const downloadedAt = first.remote!.downloadedAt;
    const second = await env.fetch('example.com/app:1.0', opts);
    assert.equal(second.id, v1.id);
    const revalidation = server.requests.filter((r) => r.url === IMAGE).at(-1)!;
    assert.equal(revalidation.headers['if-none-match'], '"v1"');
    assert.ok(second.remote!.downloadedAt >= downloadedAt);
    assert.deepEqual((await env.stored()).map((r) => r.id), [v1.id]);
    assert.equal(server.requests.filter((r) => r.url === `${IMAGE}.asc`).length, 1, 'no signature needed for a 304');
    // The publisher replaces the image: a new ETag, a new image.
    server.routes[IMAGE] = { body: v2.aci, etag: '"v2"' };
    server.routes[`${IMAGE}.asc`] = { body: v2.asc };
    const third = await env.fetch('example.com/app:1.0', opts);
    assert.equal(third.id, v2.id);
    assert.equal(third.remote?.etag, '"v2"');
  } finally {
    server.close();
  }
});

test('update: within Cache-Control max-age the image is not asked for again', async () => {
  const server = await appServer(v1, { cacheControl: 'public, max-age=3600' });
  try {
    const env = await testEnv(signer, dir);
    const opts = { resolve: server.resolve(), ca: ca() };
    assert.equal((await env.fetch('example.com/app:1.0', opts)).remote?.maxAge, 3600);
    const images = () => server.requests.filter((r) => r.url === IMAGE).length;
    assert.equal(images(), 1);
    assert.equal((await env.fetch('example.com/app:1.0', opts)).id, v1.id);
    assert.equal(images(), 1);
  } finally {
    server.close();
  }
});

test('each fetch marks the image used, so image gc keeps what a script keeps fetching', async () => {
  const server = await appServer(v1);
  try {
    const env = await testEnv(signer, dir);
    const opts = { pullPolicy: 'new' as const, resolve: server.resolve(), ca: ca() };
    await env.fetch('example.com/app:1.0', opts);
    const [first] = await env.stored();
    await new Promise((r) => setTimeout(r, 20));
    await env.fetch('example.com/app:1.0', opts);
    const [second] = await env.stored();
    assert.equal(second!.importedAt, first!.importedAt);
    assert.ok(second!.lastUsedAt > first!.lastUsedAt, `${second!.lastUsedAt} after ${first!.lastUsedAt}`);
  } finally {
    server.close();
  }
});
