import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, ca, discoveryPage, fileServer, imagePath, makeSigner, testEnv, type BuiltImage, type Route, type Signer } from './fixtures.ts';

// What fetch must refuse, and that a refusal leaves nothing in the store: a signature
// by an untrusted key, a tampered image, an image that is not the one asked for, one
// this board cannot run, and dependencies that are missing or not what the manifest says.

let dir: string;
let signer: Signer;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fetch-refusals-'));
  signer = makeSigner(dir);
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** Serves images by discovery: example.com/<name>, version, the image. */
async function discoverable(images: [string, string, BuiltImage][], arch = 'armv7l') {
  const routes: Record<string, Route> = { '/?ac-discovery=1': discoveryPage() };
  for (const [name, version, image] of images) {
    routes[imagePath(name, version, 'linux', arch)] = { body: image.aci };
    routes[`${imagePath(name, version, 'linux', arch)}.asc`] = { body: image.asc };
  }
  return fileServer(true, routes);
}

async function expectRefused(ref: string, server: { resolve(): Record<string, string> }, message: RegExp, opts = {}): Promise<void> {
  const env = await testEnv(signer, dir);
  await assert.rejects(env.fetch(ref, { resolve: server.resolve(), ca: ca(), ...opts }), message);
  assert.deepEqual(await env.stored(), [], 'nothing stored');
  assert.deepEqual(await env.leftovers(), [], 'nothing left in tmp/');
}

test('attack: an image signed by an untrusted key is refused, naming the key', async () => {
  const image = await buildImage(signer, dir, { name: 'example.com/app', labels: { version: '1.0' } }, signer.rogue);
  const server = await discoverable([['example.com/app', '1.0', image]]);
  try {
    // gpg's grouping: blocks of four hex digits, however spaced.
    const fpr = signer.rogue.fingerprint.toUpperCase().match(/.{4}/g)!.join('\\s*');
    await expectRefused('example.com/app:1.0', server, new RegExp(`is signed by key ${fpr}, which is not trusted for example\\.com/app`));
  } finally {
    server.close();
  }
});

test('attack: a tampered image is refused', async () => {
  const image = await buildImage(signer, dir, { name: 'example.com/app', labels: { version: '1.0' }, files: { a: 'original' } });
  const other = await buildImage(signer, dir, { name: 'example.com/app', labels: { version: '1.0' }, files: { a: 'backdoor' } });
  const server = await discoverable([['example.com/app', '1.0', { ...other, asc: image.asc }]]);
  try {
    await expectRefused('example.com/app:1.0', server, /does not match its signature .*: the image or its signature was altered or damaged/);
  } finally {
    server.close();
  }
});

test('an image whose name or version is not the one asked for is refused', async () => {
  const wrongName = await buildImage(signer, dir, { name: 'example.com/other', labels: { version: '1.0' } });
  const wrongVersion = await buildImage(signer, dir, { name: 'example.com/app', labels: { version: '2.0' } });
  const server = await discoverable([['example.com/app', '1.0', wrongName], ['example.com/app', '1.1', wrongVersion]]);
  try {
    await expectRefused('example.com/app:1.0', server, /^UserError: fetch: the image found for example\.com\/app is example\.com\/other$/);
    await expectRefused('example.com/app:1.1', server, /^UserError: fetch: example\.com\/app has version=2\.0, not version=1\.1 as asked$/);
  } finally {
    server.close();
  }
});

test('an image for another arch is refused with the arch to ask for', async () => {
  const armv7 = await buildImage(signer, dir, { name: 'example.com/app', labels: { version: '1.0', arch: 'armv7l' } });
  const server = await discoverable([['example.com/app', '1.0', armv7]], 'armv6l');
  try {
    // A Pi Zero asks for its own arch; the server hands out the ARMv7 build anyway.
    await expectRefused(
      'example.com/app:1.0',
      server,
      /^UserError: fetch: example\.com\/app is for linux\/armv7l, this board runs linux\/armv6l; fetch the armv6l image \(add ,arch=armv6l\) or build one$/,
      { host: { os: 'linux', arch: 'armv6l' } },
    );
    // Asking a Pi Zero for an ARMv7 image fails before any download.
    const before = server.requests.length;
    await expectRefused('example.com/app:1.0,arch=armv7l', server, /is for linux\/armv7l, this board runs linux\/armv6l/, { host: { os: 'linux', arch: 'armv6l' } });
    assert.equal(server.requests.length, before);
  } finally {
    server.close();
  }
});

test('a 64-bit board runs 32-bit ARM images it asks for by arch', async () => {
  const armv7 = await buildImage(signer, dir, { name: 'example.com/app', labels: { version: '1.0', arch: 'armv7l' } });
  const server = await discoverable([['example.com/app', '1.0', armv7]]);
  try {
    const env = await testEnv(signer, dir);
    const record = await env.fetch('example.com/app:1.0,arch=armv7l', { resolve: server.resolve(), ca: ca(), host: { os: 'linux', arch: 'aarch64' } });
    assert.equal(record.id, armv7.id);
  } finally {
    server.close();
  }
});

test('dependencies are fetched by name and labels, recursively, and stored first', async () => {
  const base = await buildImage(signer, dir, { name: 'example.com/base', labels: { version: '3' } });
  const mid = await buildImage(signer, dir, {
    name: 'example.com/mid',
    labels: { version: '2' },
    dependencies: [{ imageName: 'example.com/base', labels: { version: '3' }, imageID: base.id, size: base.size }],
  });
  const app = await buildImage(signer, dir, {
    name: 'example.com/app',
    labels: { version: '1.0' },
    dependencies: [{ imageName: 'example.com/mid', labels: { version: '2' } }],
  });
  const server = await discoverable([['example.com/app', '1.0', app], ['example.com/mid', '2', mid], ['example.com/base', '3', base]]);
  try {
    const env = await testEnv(signer, dir);
    const record = await env.fetch('example.com/app:1.0', { resolve: server.resolve(), ca: ca() });
    assert.equal(record.id, app.id);
    const stored = await env.stored();
    assert.deepEqual(new Set(stored.map((r) => r.id)), new Set([app.id, mid.id, base.id]));
    // Dependencies first: an image is never in the store without what it needs.
    const order = [...stored].sort((a, b) => Date.parse(a.importedAt) - Date.parse(b.importedAt)).map((r) => r.name);
    assert.deepEqual(order, ['example.com/base', 'example.com/mid', 'example.com/app']);
  } finally {
    server.close();
  }
});

test('attack: a dependency whose image ID is not the one the manifest names is refused, and nothing is stored', async () => {
  const base = await buildImage(signer, dir, { name: 'example.com/base', labels: { version: '3' }, files: { f: 'expected' } });
  const swapped = await buildImage(signer, dir, { name: 'example.com/base', labels: { version: '3' }, files: { f: 'swapped' } });
  const app = await buildImage(signer, dir, {
    name: 'example.com/app',
    labels: { version: '1.0' },
    dependencies: [{ imageName: 'example.com/base', labels: { version: '3' }, imageID: base.id }],
  });
  const server = await discoverable([['example.com/app', '1.0', app], ['example.com/base', '3', swapped]]);
  try {
    await expectRefused(
      'example.com/app:1.0',
      server,
      new RegExp(`^UserError: fetch: dependency example\\.com/base,version=3 of example\\.com/app: the image has ID ${swapped.id} where the manifest requires ${base.id}; the server has another image under that name$`),
    );
  } finally {
    server.close();
  }
});

test('attack: a dependency larger than its declared size is refused without reading it all', async () => {
  const big = await buildImage(signer, dir, { name: 'example.com/base', labels: { version: '3' }, files: { big: Buffer.alloc(1 << 20, 1) } });
  const app = await buildImage(signer, dir, {
    name: 'example.com/app',
    labels: { version: '1.0' },
    dependencies: [{ imageName: 'example.com/base', labels: { version: '3' }, size: 10_240 }],
  });
  const server = await discoverable([['example.com/app', '1.0', app], ['example.com/base', '3', big]]);
  try {
    await expectRefused('example.com/app:1.0', server, /^UserError: fetch: dependency example\.com\/base,version=3 of example\.com\/app: the image is more than 10240 bytes where the manifest says 10240;/);
  } finally {
    server.close();
  }
});

test('a missing dependency is a one-line error naming it', async () => {
  const app = await buildImage(signer, dir, {
    name: 'example.com/app',
    labels: { version: '1.0' },
    dependencies: [{ imageName: 'example.com/gone', labels: { version: '9' } }],
  });
  const server = await discoverable([['example.com/app', '1.0', app]]);
  try {
    await expectRefused('example.com/app:1.0', server, /^UserError: fetch: dependency example\.com\/gone,version=9 of example\.com\/app: .*404 Not Found$/);
  } finally {
    server.close();
  }
});
