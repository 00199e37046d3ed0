import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, test } from 'node:test';
import { readAci } from '../../../src/appc/aci-reader.ts';
import { getLabel } from '../../../src/appc/labels.ts';
import { fetchImage, type FetchOptions } from '../../../src/fetch/fetcher.ts';
import { Store } from '../../../src/store/store.ts';
import { busyboxEntries, imageConfig, layerTar, sha256, testContext, writeDockerArchive, writeOciLayout, type ImageSpec, type LayerEntry } from './fixtures.ts';

// oci: layouts and docker-archive: tars fetched in process (no registry): conversion,
// platform choice, the conversion cache, the signature rule and hostile layers.

const amd64 = { os: 'linux', architecture: 'amd64' };
let root: string;
let base: Buffer;
let top: Buffer;

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'docker-local-'));
  base = await layerTar(busyboxEntries([{ name: 'var/lib/old/a', body: 'a' }, { name: 'etc/motd', body: 'old' }, { name: 'srv/x', body: 'x' }]));
  top = await layerTar([
    { name: 'etc/.wh.motd' },
    { name: 'var/lib/old/.wh..wh..opq' },
    { name: 'var/lib/old/b', body: 'b' },
    { name: 'srv/y', type: 'link', linkname: 'srv/x' },
    { name: 'usr/bin/hello', body: '#!/bin/sh\necho hi\n', mode: 0o755 },
  ]);
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

let n = 0;
function world(insecure = 'image') {
  const dir = path.join(root, `w${n++}`);
  fs.mkdirSync(dir);
  const ctx = testContext(dir, insecure);
  const opts = (host = { os: 'linux', arch: 'amd64' }): FetchOptions => ({ pullPolicy: 'update', progress: false, host });
  return { dir, ctx, opts, fetch: (ref: string, host?: { os: string; arch: string }) => fetchImage(ref, ctx, opts(host)) };
}

const spec = (layers: Buffer[], extra: Partial<ImageSpec> = {}): ImageSpec => ({
  platform: amd64,
  layers,
  config: { Entrypoint: ['/bin/busybox'], Cmd: ['echo', 'hello'], Env: ['PATH=/bin'], User: 'www', WorkingDir: '/srv', ExposedPorts: { '80/tcp': {} }, Volumes: { '/data': {} }, Labels: { 'org.example.k': 'v' } },
  ...extra,
});

async function contents(ctx: ReturnType<typeof testContext>, id: string): Promise<Map<string, { type: string; body?: string; linkname?: string; mode: number }>> {
  const store = await Store.open(ctx.dir);
  const out = new Map<string, { type: string; body?: string; linkname?: string; mode: number }>();
  await readAci(await store.openBlob(id), async (entry, body) => {
    const text = entry.type === 'file' && entry.size < 4096 ? (await buffer(body)).toString() : undefined;
    out.set(entry.path, { type: entry.type, mode: entry.mode, ...(text !== undefined ? { body: text } : {}), ...(entry.linkname ? { linkname: entry.linkname } : {}) });
  });
  return out;
}

describe('oci: layouts', () => {
  test('layers are squashed with their whiteouts, the config becomes the app', async () => {
    const w = world();
    const layout = path.join(w.dir, 'hello');
    writeOciLayout(layout, '1.0', [spec([base, top])]);
    const record = await w.fetch(`oci:${layout}:1.0`);
    assert.equal(record.name, 'hello');
    assert.deepEqual(Object.fromEntries(record.labels.map((l) => [l.name, l.value])), { version: '1.0', os: 'linux', arch: 'amd64' });
    const files = await contents(w.ctx, record.id);
    assert.ok(!files.has('rootfs/etc/motd'), 'whited out');
    assert.ok(!files.has('rootfs/var/lib/old/a'), 'hidden by the opaque directory');
    assert.equal(files.get('rootfs/var/lib/old/b')?.body, 'b');
    assert.equal(files.get('rootfs/srv/x')?.body, 'x');
    assert.deepEqual(files.get('rootfs/srv/y'), { type: 'link', mode: 0o644, linkname: 'rootfs/srv/x' });
    assert.equal(files.get('rootfs/bin/sh')?.linkname, 'busybox');
    assert.equal(files.get('rootfs/tmp')?.mode, 0o1777);
    assert.equal(files.get('rootfs/usr/bin/hello')?.mode, 0o755);
    const manifest = await (await Store.open(w.ctx.dir)).manifest(record.id);
    assert.deepEqual(manifest.app?.exec, ['/bin/busybox', 'echo', 'hello']);
    assert.equal(manifest.app?.user, 'www');
    assert.equal(manifest.app?.group, '33');
    assert.equal(manifest.app?.workingDirectory, '/srv');
    assert.deepEqual(manifest.app?.ports.map((p) => p.name), ['80-tcp']);
    assert.deepEqual(manifest.app?.mountPoints.map((m) => m.path), ['/data']);
    const ann = Object.fromEntries(manifest.annotations.map((a) => [a.name, a.value]));
    assert.equal(ann['org.example.k'], 'v');
    assert.equal(ann['created'], '2024-01-02T03:04:05Z');
    assert.match(ann['appc.io/docker/manifesthash']!, /^sha256:/);
    assert.deepEqual(w.ctx.warnings, ['warning: --insecure-options=image: image signatures are not verified']);
  });

  test('a second fetch of the same manifest digest is the stored conversion; a changed layout converts again', async () => {
    const w = world();
    const layout = path.join(w.dir, 'app');
    writeOciLayout(layout, 'v1', [spec([base, top])]);
    const first = await w.fetch(`oci:${layout}:v1`);
    const started = Date.now();
    const again = await w.fetch(`oci:${layout}:v1`);
    assert.equal(again.id, first.id);
    assert.equal(again.importedAt, first.importedAt, 'not stored again');
    assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
    // The same layers converted again give the same image: the ACI is reproducible.
    const w2 = world();
    writeOciLayout(path.join(w2.dir, 'app'), 'v1', [spec([base, top])]);
    assert.equal((await w2.fetch(`oci:${path.join(w2.dir, 'app')}:v1`)).id, first.id);
    writeOciLayout(layout, 'v1', [spec([base])]);
    assert.notEqual((await w.fetch(`oci:${layout}:v1`)).id, first.id);
  });

  test('an index: each board gets its platform; a Pi Zero never gets arm/v7', async () => {
    const w = world();
    const layout = path.join(w.dir, 'multi');
    const layer = (arch: string) => layerTar([{ name: 'arch', body: arch }]);
    writeOciLayout(layout, 'latest', [
      spec([await layer('amd64')]),
      spec([await layer('v6')], { platform: { os: 'linux', architecture: 'arm', variant: 'v6' }, configWithoutVariant: true }),
      spec([await layer('v7')], { platform: { os: 'linux', architecture: 'arm', variant: 'v7' } }),
      spec([await layer('arm64')], { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }),
    ]);
    const armOf = async (arch: string) => {
      const r = await w.fetch(`oci:${layout}`, { os: 'linux', arch });
      return [getLabel(r.labels, 'arch'), (await contents(w.ctx, r.id)).get('rootfs/arch')?.body];
    };
    assert.deepEqual(await armOf('armv6l'), ['armv6l', 'v6']);
    assert.deepEqual(await armOf('armv7l'), ['armv7l', 'v7']);
    assert.deepEqual(await armOf('aarch64'), ['aarch64', 'arm64']);
    assert.deepEqual(await armOf('amd64'), ['amd64', 'amd64']);

    const v7only = path.join(w.dir, 'v7only');
    writeOciLayout(v7only, 'latest', [spec([await layer('v7')], { platform: { os: 'linux', architecture: 'arm', variant: 'v7' } }), spec([await layer('amd64')])]);
    await assert.rejects(
      w.fetch(`oci:${v7only}:latest`, { os: 'linux', arch: 'armv6l' }),
      /has no image this linux\/armv6l board can run: it has linux\/arm\/v7, linux\/amd64; this board runs linux\/arm\/v6, linux\/arm\/v5/,
    );
  });

  test('zstd and plain layers', async () => {
    const w = world();
    for (const compression of ['zstd', 'none'] as const) {
      const layout = path.join(w.dir, compression);
      writeOciLayout(layout, 'x', [spec([base, top], { compression })]);
      const files = await contents(w.ctx, (await w.fetch(`oci:${layout}`)).id);
      assert.equal(files.get('rootfs/var/lib/old/b')?.body, 'b', compression);
    }
  });

  test('unsigned images need --insecure-options=image, unless pinned by digest', async () => {
    const w = world('none');
    const layout = path.join(w.dir, 'pin');
    const top1 = writeOciLayout(layout, '1', [spec([base])]);
    await assert.rejects(
      w.fetch(`oci:${layout}:1`),
      /^UserError: fetch: oci:.*pin:1: Docker and OCI images carry no appc signature; pass --insecure-options=image to fetch it unverified, or pin it by digest \(oci:.*pin@sha256:\.\.\.\)$/,
    );
    const record = await w.fetch(`oci:${layout}@${top1.digest}`);
    assert.equal(record.name, 'pin');
    assert.deepEqual(w.ctx.warnings, []);
  });

  test('a blob that is not what its digest says is refused, and nothing is stored', async () => {
    const w = world();
    const layout = path.join(w.dir, 'bad');
    writeOciLayout(layout, '1', [spec([base, top])]);
    const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
    const manifest = JSON.parse(fs.readFileSync(path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    const layerFile = path.join(layout, 'blobs/sha256', manifest.layers[1].digest.slice(7));
    const bytes = fs.readFileSync(layerFile);
    fs.writeFileSync(layerFile, Buffer.concat([bytes.subarray(0, bytes.length - 1), Buffer.from([bytes[bytes.length - 1]! ^ 1])]));
    await assert.rejects(w.fetch(`oci:${layout}:1`), /layer 2\/2 \(sha256:[0-9a-f]{12}\): (the blob has digest sha256:[0-9a-f]+, not sha256:|invalid gzip data)/);
    assert.deepEqual(await (await Store.open(w.ctx.dir)).list(), []);
    assert.deepEqual(fs.readdirSync(path.join(w.ctx.dir, 'cas/tmp')).filter((f) => !f.startsWith('.')), [], 'the temporary directory is gone');
  });

  test('names that are not in the layout are listed', async () => {
    const w = world();
    const layout = path.join(w.dir, 'named');
    writeOciLayout(layout, '2.0', [spec([base])]);
    await assert.rejects(w.fetch(`oci:${layout}:3.0`), /no image named "3.0" in the layout; it has "2.0"/);
    await assert.rejects(w.fetch(`oci:${path.join(w.dir, 'nothing')}`), /is not an OCI image layout \(it has no oci-layout file\)/);
  });
});

describe('hostile layers are refused', () => {
  const cases: [string, LayerEntry[][], RegExp][] = [
    ['a symlink climbing out, then a file through it', [[{ name: 'esc', type: 'symlink', linkname: '../../../../../tmp' }], [{ name: 'esc/pwned', body: 'x' }]], /goes through symlink "\/esc" -> "..\/..\/..\/..\/..\/tmp", which escapes the image root/],
    ['a whiteout through an escaping symlink', [[{ name: 'up', type: 'symlink', linkname: '..' }], [{ name: 'up/.wh.etc' }]], /escapes the image root/],
    ['a whiteout naming ".."', [[{ name: 'a/', type: 'directory' }], [{ name: 'a/.wh...' }]], /whiteout "a\/.wh..." names "..", outside its directory/],
    ['a name with ".."', [[{ name: '../../etc/passwd', body: 'x' }]], /entry "..\/..\/etc\/passwd" escapes the image root/],
    ['a hard link out of the tree', [[{ name: 'shadow', type: 'link', linkname: '../../../etc/shadow' }]], /hard link "shadow" points to "..\/..\/..\/etc\/shadow", which escapes the image root/],
    ['a hard link to a file not in the image', [[{ name: 'shadow', type: 'link', linkname: 'etc/shadow' }]], /which is not in the image: refusing a link out of the tree/],
    ['a file below a file', [[{ name: 'f', body: 'x' }], [{ name: 'f/g', body: 'y' }]], /"f\/g" lies beneath file "\/f"/],
  ];
  for (const [what, layers, message] of cases) {
    test(what, async () => {
      const w = world();
      const layout = path.join(w.dir, 'evil');
      writeOciLayout(layout, 'x', [spec(await Promise.all(layers.map((l) => layerTar(l))))]);
      await assert.rejects(w.fetch(`oci:${layout}`), message);
      assert.deepEqual(await (await Store.open(w.ctx.dir)).list(), []);
    });
  }
});

describe('docker-archive:', () => {
  test('a docker save archive is named by its tag; symlinked layers and diff IDs are followed and checked', async () => {
    const w = world();
    const file = path.join(w.dir, 'saved.tar');
    await writeDockerArchive(file, ['registry.example:5000/team/app:2.1'], spec([base, top, top]), { symlinkLayer: true });
    const record = await w.fetch(`docker-archive:${file}`);
    assert.equal(record.name, 'registry.example-5000/team/app');
    assert.equal(getLabel(record.labels, 'version'), '2.1');
    const files = await contents(w.ctx, record.id);
    assert.equal(files.get('rootfs/var/lib/old/b')?.body, 'b');
    assert.ok(!files.has('rootfs/etc/motd'));
    const again = await w.fetch(`docker-archive:${file}:registry.example:5000/team/app:2.1`);
    assert.equal(again.id, record.id);
    assert.equal(again.importedAt, record.importedAt);
    await assert.rejects(w.fetch(`docker-archive:${file}:other:1`), /no image tagged other:1 in the archive; it has registry.example:5000\/team\/app:2.1/);
  });

  test('a layer that is not its diff ID is refused', async () => {
    const w = world();
    const file = path.join(w.dir, 'lying.tar');
    const s = spec([base, top]);
    await writeDockerArchive(file, ['busybox:latest'], s);
    // Rewrite the archive with a different second layer but the same config.
    const tampered = path.join(w.dir, 'tampered.tar');
    const config = imageConfig(s);
    const configName = `${sha256(config).slice(7)}.json`;
    fs.writeFileSync(
      tampered,
      await layerTar([
        { name: 'l0/layer.tar', body: base },
        { name: 'l1/layer.tar', body: await layerTar([{ name: 'evil', body: 'x' }]) },
        { name: configName, body: config },
        { name: 'manifest.json', body: JSON.stringify([{ Config: configName, RepoTags: ['busybox:latest'], Layers: ['l0/layer.tar', 'l1/layer.tar'] }]) },
      ]),
    );
    await assert.rejects(w.fetch(`docker-archive:${tampered}`), /layer 2\/2 \(l1\/layer.tar\): the uncompressed tar has digest sha256:[0-9a-f]+, not sha256:/);
    assert.deepEqual(await (await Store.open(w.ctx.dir)).list(), []);
  });
});
