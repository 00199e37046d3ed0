import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { getLabel } from '../../../src/appc/labels.ts';
import { fetchImage, type FetchOptions } from '../../../src/fetch/fetcher.ts';
import { Store } from '../../../src/store/store.ts';
import { PodWorld, whyNotArch } from '../../helpers/pods.ts';
import { busyboxEntries, layerTar, testContext, writeOciLayout, type ImageSpec } from './fixtures.ts';
import { skopeoPush, startProxy, startRegistry, startTokenService, whyNoRegistry, type Registry } from './registry-helper.ts';

// docker:// against Debian's docker-registry on a loopback port, with images pushed by
// skopeo from OCI layouts made here: pulls (plain HTTP, as for any loopback registry),
// platform choice from an index, the conversion cache, digest pins, token auth with
// and without credentials, resumed and corrupted blobs, and `rkt run` of the result.

const skip = whyNoRegistry();
const amd64 = { os: 'linux', architecture: 'amd64' };
const config = { Entrypoint: ['/bin/busybox'], Cmd: ['echo', 'hello from the registry'], Env: ['PATH=/bin'] };

let root: string;
let registry: Registry;
let layouts: { single: string; multi: string; v7: string };

describe('docker:// from a registry', { skip }, () => {
  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'docker-registry-'));
    registry = await startRegistry(path.join(root, 'registry'));
    const base = await layerTar(busyboxEntries());
    const top = await layerTar([{ name: 'etc/.wh.group' }, { name: 'etc/motd', body: 'pushed\n' }]);
    const marker = async (m: string) => layerTar([{ name: 'platform', body: m }]);
    const spec = (platform: ImageSpec['platform'], layers: Buffer[]): ImageSpec => ({ platform, layers, config });
    layouts = { single: path.join(root, 'single'), multi: path.join(root, 'multi'), v7: path.join(root, 'v7') };
    writeOciLayout(layouts.single, '1.0', [spec(amd64, [base, top])]);
    writeOciLayout(layouts.multi, 'latest', [
      spec(amd64, [base, await marker('amd64')]),
      spec({ os: 'linux', architecture: 'arm', variant: 'v6' }, [base, await marker('arm/v6')]),
      spec({ os: 'linux', architecture: 'arm', variant: 'v7' }, [base, await marker('arm/v7')]),
      spec({ os: 'linux', architecture: 'arm64', variant: 'v8' }, [base, await marker('arm64')]),
    ]);
    writeOciLayout(layouts.v7, 'latest', [spec({ os: 'linux', architecture: 'arm', variant: 'v7' }, [base]), spec({ os: 'linux', architecture: 'arm64', variant: 'v8' }, [base])]);
    await skopeoPush(layouts.single, '1.0', `${registry.host}/busybox:1.0`);
    await skopeoPush(layouts.multi, 'latest', `${registry.host}/multi:latest`, { all: true });
    await skopeoPush(layouts.v7, 'latest', `${registry.host}/v7only:latest`, { all: true });
    await skopeoPush(layouts.multi, 'latest', `${registry.host}/multi-docker:latest`, { all: true, dockerFormat: true });
    const evil = path.join(root, 'evil');
    const big = await layerTar([{ name: 'big', body: Buffer.alloc(8 << 20, 7) }]);
    writeOciLayout(evil, '1', [spec(amd64, [await layerTar([{ name: 'esc', type: 'symlink', linkname: '../../..' }]), await layerTar([{ name: 'esc/etc/x', body: 'x' }]), big])]);
    await skopeoPush(evil, '1', `${registry.host}/evil:1`);
  });

  after(async () => {
    await registry?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  let n = 0;
  function world(insecure = 'image') {
    const dir = path.join(root, `w${n++}`);
    fs.mkdirSync(dir);
    const ctx = testContext(dir, insecure);
    const opts = (extra: Partial<FetchOptions> = {}): FetchOptions => ({ pullPolicy: 'update', progress: false, host: { os: 'linux', arch: 'amd64' }, retryDelayMs: 10, ...extra });
    return { dir, ctx, fetch: (ref: string, extra?: Partial<FetchOptions>) => fetchImage(ref, ctx, opts(extra)) };
  }

  test('an image is pulled over plain HTTP from a loopback registry and converted', async () => {
    const w = world();
    const record = await w.fetch(`docker://${registry.host}/busybox:1.0`);
    assert.equal(record.name, `127.0.0.1-${registry.port}/busybox`);
    assert.equal(getLabel(record.labels, 'version'), '1.0');
    assert.equal(getLabel(record.labels, 'arch'), 'amd64');
    assert.equal(record.remote?.url, `docker://${registry.host}/busybox:1.0`);
    assert.match(record.remote?.etag ?? '', /^sha256:[0-9a-f]{64}$/);
    const manifest = await (await Store.open(w.ctx.dir)).manifest(record.id);
    assert.deepEqual(manifest.app?.exec, ['/bin/busybox', 'echo', 'hello from the registry']);
    const ann = Object.fromEntries(manifest.annotations.map((a) => [a.name, a.value]));
    assert.equal(ann['appc.io/docker/registryurl'], registry.host);
    assert.equal(ann['appc.io/docker/manifesthash'], record.remote?.etag);
    assert.deepEqual(w.ctx.warnings, ['warning: --insecure-options=image: image signatures are not verified']);
  });

  test('a second fetch of the same digest is the stored conversion', async () => {
    const w = world();
    const first = await w.fetch(`docker://${registry.host}/busybox:1.0`);
    const started = Date.now();
    const again = await w.fetch(`docker://${registry.host}/busybox:1.0`);
    const ms = Date.now() - started;
    assert.equal(again.id, first.id);
    assert.equal(again.importedAt, first.importedAt);
    assert.ok(ms < 1000, `${ms} ms`);
    // --pull-policy=new asks nothing at all.
    await registry.stop().then(async () => {
      const stored = await w.fetch(`docker://${registry.host}/busybox:1.0`, { pullPolicy: 'new' });
      assert.equal(stored.id, first.id);
    });
    registry = await startRegistry(path.join(root, 'registry'), undefined, registry.port);
  });

  test('from an index, each board gets its own platform; a Pi Zero is told what there is', async () => {
    const w = world();
    const marker = async (arch: string) => {
      const record = await w.fetch(`docker://${registry.host}/multi`, { host: { os: 'linux', arch } });
      const store = await Store.open(w.ctx.dir);
      const tree = await store.renderTree(record.id);
      return [getLabel(record.labels, 'arch'), fs.readFileSync(path.join(tree.path, 'rootfs/platform'), 'utf8')];
    };
    assert.deepEqual(await marker('armv6l'), ['armv6l', 'arm/v6']);
    assert.deepEqual(await marker('armv7l'), ['armv7l', 'arm/v7']);
    assert.deepEqual(await marker('aarch64'), ['aarch64', 'arm64']);
    assert.deepEqual(await marker('amd64'), ['amd64', 'amd64']);
    await assert.rejects(
      w.fetch(`docker://${registry.host}/v7only:latest`, { host: { os: 'linux', arch: 'armv6l' } }),
      /has no image this linux\/armv6l board can run: it has linux\/arm\/v7, linux\/arm64\/v8; this board runs linux\/arm\/v6, linux\/arm\/v5/,
    );
  });

  test('Docker media types: a manifest list of schema 2 manifests', async () => {
    const w = world();
    const record = await w.fetch(`docker://${registry.host}/multi-docker:latest`, { host: { os: 'linux', arch: 'armv6l' } });
    assert.equal(getLabel(record.labels, 'arch'), 'armv6l');
    const tree = await (await Store.open(w.ctx.dir)).renderTree(record.id);
    assert.equal(fs.readFileSync(path.join(tree.path, 'rootfs/platform'), 'utf8'), 'arm/v6');
  });

  test('a hostile layer stops the fetch, downloads under way included, and leaves nothing', async () => {
    const w = world();
    await assert.rejects(w.fetch(`docker://${registry.host}/evil:1`), /layer 2\/3 \(sha256:[0-9a-f]{12}\): "esc\/etc\/x" goes through symlink "\/esc" -> "..\/..\/..", which escapes the image root/);
    assert.deepEqual(await (await Store.open(w.ctx.dir)).list(), []);
    assert.deepEqual(fs.readdirSync(path.join(w.ctx.dir, 'cas/tmp')), []);
  });

  test('without --insecure-options=image only a digest pin is accepted', async () => {
    const w = world('none');
    await assert.rejects(
      w.fetch(`docker://${registry.host}/busybox:1.0`),
      new RegExp(`fetch: docker://${registry.host}/busybox:1.0: Docker and OCI images carry no appc signature; pass --insecure-options=image to fetch it unverified, or pin it by digest \\(docker://${registry.host}/busybox@sha256:\\.\\.\\.\\)`),
    );
    const digest = (await world().fetch(`docker://${registry.host}/busybox:1.0`)).remote!.etag!;
    const pinned = await w.fetch(`docker://${registry.host}/busybox@${digest}`);
    assert.equal(pinned.remote?.etag, digest);
    assert.deepEqual(w.ctx.warnings, []);
    await assert.rejects(w.fetch(`docker://${registry.host}/busybox@sha256:${'0'.repeat(64)}`), /not found on 127\.0\.0\.1:\d+ \(MANIFEST_UNKNOWN/);
  });

  test('a missing image or tag says so', async () => {
    const w = world();
    await assert.rejects(w.fetch(`docker://${registry.host}/busybox:9.9`), /docker:\/\/127\.0\.0\.1:\d+\/busybox:9\.9: .*not found on 127\.0\.0\.1:\d+ \(MANIFEST_UNKNOWN: manifest unknown\)/);
    await assert.rejects(w.fetch(`docker://127.0.0.1:1/busybox:1.0`), /127\.0\.0\.1:1: connection refused; is the registry running there\?/);
  });

  test('a dropped blob download is resumed with a Range request', async () => {
    const proxy = await startProxy(registry.port, { cutAfter: 50_000 });
    try {
      const w = world();
      const record = await w.fetch(`docker://127.0.0.1:${proxy.port}/busybox:1.0`);
      assert.ok(proxy.ranges.some((r) => /^bytes=[1-9]\d*-$/.test(r)), `ranges: ${proxy.ranges.join(' ')}`);
      const direct = await world().fetch(`docker://${registry.host}/busybox:1.0`);
      assert.equal(getLabel(record.labels, 'version'), '1.0');
      // Same layers, same config: the same image but for its name (the port is in it).
      assert.notEqual(record.name, direct.name);
    } finally {
      await proxy.stop();
    }
  });

  test('a blob whose bytes are not its digest is refused, and nothing is stored', async () => {
    const proxy = await startProxy(registry.port, { corrupt: true });
    try {
      const w = world();
      await assert.rejects(w.fetch(`docker://127.0.0.1:${proxy.port}/busybox:1.0`), /blob sha256:[0-9a-f]{64}.*(arrived with digest|content has digest)/);
      assert.deepEqual(await (await Store.open(w.ctx.dir)).list(), []);
    } finally {
      await proxy.stop();
    }
  });

  describe('token auth', () => {
    let tokens: Awaited<ReturnType<typeof startTokenService>>;
    let secured: Registry;
    before(async () => {
      const dir = path.join(root, 'secured');
      fs.mkdirSync(dir);
      tokens = await startTokenService(dir, 'pi', 'raspberry');
      secured = await startRegistry(dir, tokens.auth);
      await skopeoPush(layouts.single, '1.0', `${secured.host}/team/app:1.0`, { creds: 'pi:raspberry' });
    });
    after(async () => {
      await secured?.stop();
      await tokens?.stop();
    });

    test('anonymous pulls get a token without access and are refused, saying credentials may be needed', async () => {
      const w = world();
      await assert.rejects(w.fetch(`docker://${secured.host}/team/app:1.0`), /access to team\/app denied \(401: UNAUTHORIZED: authentication required\); it does not exist, or it needs credentials: see docs\/docker.md/);
      assert.ok(tokens.requests.includes('anonymous repository:team/app:pull'), tokens.requests.join('; '));
    });

    test('credentials from an auth.d file (rkt dockerAuth) or a Docker config.json', async () => {
      const w = world();
      fs.mkdirSync(path.join(w.ctx.localConfig, 'auth.d'), { recursive: true });
      const file = path.join(w.ctx.localConfig, 'auth.d', 'registry.json');
      fs.writeFileSync(file, JSON.stringify({ rktKind: 'dockerAuth', rktVersion: 'v1', registries: [secured.host], credentials: { user: 'pi', password: 'raspberry' } }));
      const record = await w.fetch(`docker://${secured.host}/team/app:1.0`);
      assert.equal(record.name, `127.0.0.1-${secured.port}/team/app`);
      assert.ok(tokens.requests.includes('pi repository:team/app:pull'), tokens.requests.join('; '));

      const w2 = world();
      fs.mkdirSync(path.join(w2.ctx.systemConfig, 'auth.d'), { recursive: true });
      fs.writeFileSync(path.join(w2.ctx.systemConfig, 'auth.d', 'docker-config.json'), JSON.stringify({ auths: { [`http://${secured.host}`]: { auth: Buffer.from('pi:raspberry').toString('base64') } } }));
      assert.equal((await w2.fetch(`docker://${secured.host}/team/app:1.0`)).id, record.id);

      const w3 = world();
      fs.mkdirSync(path.join(w3.ctx.localConfig, 'auth.d'), { recursive: true });
      fs.writeFileSync(path.join(w3.ctx.localConfig, 'auth.d', 'registry.json'), JSON.stringify({ rktKind: 'dockerAuth', rktVersion: 'v1', registries: [secured.host], credentials: { user: 'pi', password: 'wrong' } }));
      await assert.rejects(w3.fetch(`docker://${secured.host}/team/app:1.0`), /the token service http:\/\/127\.0\.0\.1:\d+ answered 401 to the credentials from auth\.d: wrong user or password/);
    });
  });

  describe('rkt run', { skip: whyNotArch('amd64') }, () => {
    test('runs /bin/busybox echo from a registry image, fetched with --insecure-options=image', (t) => {
      const w = new PodWorld(t);
      const r = w.rkt(['run', `docker://${registry.host}/busybox:1.0`]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'hello from the registry\n');
      const again = w.rkt(['run', `docker://${registry.host}/busybox:1.0`, '--exec=/bin/busybox', '--', 'cat', '/etc/motd']);
      assert.equal(again.status, 0, again.stderr);
      assert.equal(again.stdout, 'pushed\n');
    });

    test('runs an oci: layout and a docker-archive: without a registry', async (t) => {
      const w = new PodWorld(t);
      const oci = w.rkt(['run', `oci:${layouts.single}:1.0`]);
      assert.equal(oci.status, 0, oci.stderr);
      assert.equal(oci.stdout, 'hello from the registry\n');
      const { writeDockerArchive } = await import('./fixtures.ts');
      const archive = path.join(w.dir, 'saved.tar');
      await writeDockerArchive(archive, ['busybox:saved'], { platform: amd64, layers: [await layerTar(busyboxEntries())], config: { Cmd: ['/bin/busybox', 'echo', 'from docker save'] } });
      const saved = w.rkt(['run', `docker-archive:${archive}`]);
      assert.equal(saved.status, 0, saved.stderr);
      assert.equal(saved.stdout, 'from docker save\n');
    });
  });
});

