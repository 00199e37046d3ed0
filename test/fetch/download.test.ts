import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { download, parseMaxAge } from '../../src/fetch/download.ts';
import { buildImage, ca, fileServer, makeSigner, testEnv, type Signer } from './fixtures.ts';

// Flaky links: a body cut short is retried and resumed with Range; a server that
// always cuts gives up after a bounded number of tries with one clear line, and a
// fetch that gives up leaves nothing in the store or in its temporary area.

let dir: string;
let signer: Signer;
const body = randomBytes(256 * 1024);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fetch-download-'));
  signer = makeSigner(dir);
});

after(() => rmSync(dir, { recursive: true, force: true }));

const fast = { retryDelayMs: 10, timeoutMs: 2000, ca: ca() };

test('a connection dropped mid-body is retried and resumed from where it stopped', async () => {
  const server = await fileServer(true, { '/big': { body, etag: '"b1"', dropAfter: 100_000, drops: 1 } });
  try {
    const dest = join(dir, 'resumed');
    const got = await download('https://example.com/big', dest, { ...fast, resolve: server.resolve() });
    assert.deepEqual(got, { notModified: false, url: 'https://example.com/big', bytes: body.length, etag: '"b1"', maxAge: undefined });
    assert.ok(readFileSync(dest).equals(body));
    assert.equal(server.requests.length, 2);
    assert.equal(server.requests[0]!.headers.range, undefined);
    // From what reached the disk: at most what the server sent before it dropped.
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(server.requests[1]!.headers.range ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 100_000, `resumed at ${resumedAt}`);
    assert.equal(server.requests[1]!.headers['if-range'], '"b1"');
  } finally {
    server.close();
  }
});

test('without a validator to resume against, a retry starts over', async () => {
  const server = await fileServer(true, { '/big': { body, dropAfter: 100_000, drops: 2 } });
  try {
    const dest = join(dir, 'restarted');
    await download('https://example.com/big', dest, { ...fast, resolve: server.resolve() });
    assert.ok(readFileSync(dest).equals(body));
    assert.deepEqual(server.requests.map((r) => r.headers.range), [undefined, undefined, undefined]);
  } finally {
    server.close();
  }
});

test('a body changed between tries (If-Range fails) is downloaded whole again', async () => {
  const server = await fileServer(true, { '/big': { body, etag: '"old"', dropAfter: 100_000, drops: 1 } });
  try {
    const changed = randomBytes(body.length);
    server.requests.length = 0;
    const dest = join(dir, 'changed');
    const pending = download('https://example.com/big', dest, { ...fast, retryDelayMs: 200, resolve: server.resolve() });
    await new Promise((r) => setTimeout(r, 100));
    server.routes['/big'] = { body: changed, etag: '"new"' };
    await pending;
    assert.ok(readFileSync(dest).equals(changed));
    assert.equal(server.requests[1]!.headers['if-range'], '"old"');
  } finally {
    server.close();
  }
});

test('a server that always drops gives a clear error after 3 tries', async () => {
  const server = await fileServer(true, { '/big': { body, etag: '"b1"', dropAfter: 1000 } });
  try {
    await assert.rejects(
      download('https://example.com/big', join(dir, 'never'), { ...fast, resolve: server.resolve() }),
      /^UserError: fetch: https:\/\/example\.com\/big: .* \(tried 3 times\); check the network and the server, then run the command again$/,
    );
    assert.equal(server.requests.length, 3);
  } finally {
    server.close();
  }
});

test('a fetch whose download always drops leaves nothing in the store or its tmp/', async () => {
  const image = await buildImage(signer, dir, { name: 'example.com/app', files: { big: randomBytes(200_000) } });
  const server = await fileServer(true, { '/app.aci': { body: image.aci, etag: '"a"', dropAfter: 50_000 }, '/app.aci.asc': { body: image.asc } });
  try {
    const env = await testEnv(signer, dir);
    await assert.rejects(env.fetch('https://example.com/app.aci', { resolve: server.resolve(), ca: ca() }), /\(tried 3 times\)/);
    assert.equal(server.requests.length, 3);
    assert.deepEqual(await env.stored(), []);
    assert.deepEqual(await env.leftovers(), []);
  } finally {
    server.close();
  }
});

test('a 404 is not retried', async () => {
  const server = await fileServer(true, {});
  try {
    await assert.rejects(
      download('https://example.com/nothing', join(dir, 'nothing'), { ...fast, resolve: server.resolve() }),
      /^UserError: fetch: https:\/\/example\.com\/nothing: the server answered 404 Not Found$/,
    );
    assert.equal(server.requests.length, 1);
  } finally {
    server.close();
  }
});

test('attack: endless data past maxBytes is cut off, not retried, announced or not', async () => {
  const server = await fileServer(true, { '/announced': { body }, '/streamed': { body, chunked: true } });
  try {
    for (const path of ['/announced', '/streamed']) {
      const dest = join(dir, `capped${path.slice(1)}`);
      await assert.rejects(
        download(`https://example.com${path}`, dest, { ...fast, maxBytes: 1000, resolve: server.resolve() }),
        new RegExp(`^UserError: fetch: https://example\\.com${path} is larger than the 1000 bytes expected`),
      );
      assert.ok(statSync(dest, { throwIfNoEntry: false }) === undefined || statSync(dest).size <= 1000);
    }
    assert.equal(server.requests.length, 2);
  } finally {
    server.close();
  }
});

test('Cache-Control: max-age counts, no-cache and no-store mean revalidate', () => {
  assert.equal(parseMaxAge(undefined), undefined);
  assert.equal(parseMaxAge('public, max-age=600'), 600);
  assert.equal(parseMaxAge('max-age="60"'), 60);
  assert.equal(parseMaxAge('max-age=600, no-cache'), 0);
  assert.equal(parseMaxAge('no-store'), 0);
  assert.equal(parseMaxAge('private'), undefined);
  assert.equal(parseMaxAge('max-age=abc'), undefined);
});
