import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { PodHmac } from '../../src/metadata/hmac.ts';
import { POD_TOKEN_FILE, newToken, preparePodMetadata, runningServiceUrl } from '../../src/metadata/registry.ts';
import { mergeAnnotations, parseRoute } from '../../src/metadata/routes.ts';
import { startMetadataService, type MetadataService } from '../../src/metadata/server.ts';
import { PodWorld, buildProbeImage, whyNotArch } from '../helpers/pods.ts';
import { emptyDir, root } from '../helpers/run.ts';
import { imageIdOf, makePod, podManifest, type FakeApp } from './fixtures.ts';

// The appc metadata service (spec/ace.md, docs/metadata.md): the service in-process on
// a free loopback port, over pods made by hand as stage0 leaves them (POD/pod,
// POD/mds-token) and image manifests in the store; then `rkt metadata-service` itself,
// and a real pod reading its UUID through AC_METADATA_URL.

const WEB: FakeApp = { name: 'web', image: 'example.com/web', version: '1.0' };
const DB: FakeApp = { name: 'db', image: 'example.com/db' };
const V1 = '/acMetadata/v1';

interface Reply {
  status: number;
  type: string | undefined;
  body: string;
  headers: http.IncomingHttpHeaders;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

function request(url: string, opts: { method?: string; form?: Record<string, string>; body?: string; type?: string } = {}): Promise<Reply> {
  const body = opts.form ? new URLSearchParams(opts.form).toString() : opts.body;
  const headers: Record<string, string | number> = {};
  if (body !== undefined) {
    headers['Content-Type'] = opts.type ?? 'application/x-www-form-urlencoded';
    headers['Content-Length'] = Buffer.byteLength(body);
  }
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? (body === undefined ? 'GET' : 'POST'), headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A pod in pods/<state>/ with annotations, its token file, and its apps' image manifests in the store. */
function metadataPod(dir: string, state: 'run' | 'prepared' = 'run') {
  const manifest = podManifest([WEB, DB]) as { apps: Array<Record<string, unknown>>; annotations?: unknown };
  manifest.annotations = [
    { name: 'ip-address', value: '10.1.2.3' },
    { name: 'example.com/owner', value: 'ops team' },
  ];
  manifest.apps[0]!.annotations = [
    { name: 'description', value: 'by the pod' },
    { name: 'pod-only', value: 'yes' },
  ];
  const { uuid, path: podPath } = makePod(dir, { stateDir: state, apps: [WEB, DB] });
  const manifestText = JSON.stringify(manifest);
  fs.writeFileSync(path.join(podPath, 'pod'), manifestText);
  const token = newToken();
  fs.writeFileSync(path.join(podPath, POD_TOKEN_FILE), `${token}\n`, { mode: 0o600 });
  const store = path.join(dir, 'cas', 'manifest');
  fs.mkdirSync(store, { recursive: true });
  for (const app of [WEB, DB]) {
    const image = {
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: app.image,
      annotations: [
        { name: 'description', value: 'by the image' },
        { name: 'authors', value: 'someone' },
      ],
    };
    fs.writeFileSync(path.join(store, imageIdOf(app.image)), JSON.stringify(image, null, 2));
  }
  return { uuid, podPath, token, manifestText };
}

async function service(t: { after(fn: () => Promise<void>): void }, dir: string): Promise<MetadataService> {
  const s = await startMetadataService({ dir, port: 0, address: '127.0.0.1' });
  t.after(() => s.close());
  return s;
}

describe('metadata service: routes (pure)', () => {
  test('parses the spec paths; a malformed token is 401, an unknown path 404, a wrong method 405', () => {
    const tok = 'A'.repeat(43);
    assert.deepEqual(parseRoute('GET', `/${tok}${V1}/pod/uuid`), { token: tok, route: { kind: 'pod-uuid' } });
    assert.deepEqual(parseRoute('GET', `/${tok}${V1}/pod/annotations/`), { token: tok, route: { kind: 'pod-annotations' } });
    assert.deepEqual(parseRoute('GET', `/${tok}${V1}/pod/annotations/example.com%2Fowner`), {
      token: tok,
      route: { kind: 'pod-annotations', name: 'example.com/owner' },
    });
    assert.deepEqual(parseRoute('GET', `/${tok}${V1}/apps/web/annotations/example.com/owner`), {
      token: tok,
      route: { kind: 'app-annotations', app: 'web', name: 'example.com/owner' },
    });
    assert.deepEqual(parseRoute('GET', `/${tok}${V1}/apps/web/image/id`), { token: tok, route: { kind: 'app-image-id', app: 'web' } });
    const status = (m: string, p: string) => {
      const r = parseRoute(m, p);
      return 'error' in r ? r.error.status : 200;
    };
    assert.equal(status('GET', `/short${V1}/pod/uuid`), 401);
    assert.equal(status('GET', '/'), 401);
    assert.equal(status('GET', `/${tok}${V1}/pod/nothing`), 404);
    assert.equal(status('GET', `/${tok}/acMetadata/v2/pod/uuid`), 404);
    assert.equal(status('GET', `/${tok}${V1}/pod/hmac/sign`), 405);
    assert.equal(status('POST', `/${tok}${V1}/pod/uuid`), 405);
    assert.equal(status('HEAD', `/${tok}${V1}/pod/uuid`), 200);
  });

  test("merges the image's annotations with the app's: the app's win in place, its others follow", () => {
    assert.deepEqual(
      mergeAnnotations(
        [
          { name: 'a', value: '1' },
          { name: 'b', value: '2' },
        ],
        [
          { name: 'c', value: '3' },
          { name: 'a', value: 'x' },
        ],
      ),
      [
        { name: 'a', value: 'x' },
        { name: 'b', value: '2' },
        { name: 'c', value: '3' },
      ],
    );
  });

  test('HMAC: per data directory key, over the UUID and the content', () => {
    const h = new PodHmac(Buffer.alloc(64, 7));
    const uuid = '6a0e3bb0-0b36-4a3c-9d4b-0e5bd2c6a8f1';
    const sig = h.sign(uuid, Buffer.from('hello'));
    assert.equal(Buffer.from(sig, 'base64').length, 64);
    assert.ok(h.verify(uuid, Buffer.from('hello'), sig));
    assert.ok(!h.verify(uuid, Buffer.from('hellO'), sig));
    assert.ok(!h.verify('6a0e3bb0-0b36-4a3c-9d4b-0e5bd2c6a8f2', Buffer.from('hello'), sig));
    assert.ok(!h.verify(uuid, Buffer.from('hello'), 'AAAA'));
    assert.ok(!new PodHmac(Buffer.alloc(64, 8)).verify(uuid, Buffer.from('hello'), sig));
  });
});

describe('metadata service over HTTP', () => {
  test('every endpoint, with the content types the spec names', async (t) => {
    const dir = emptyDir(t);
    const pod = metadataPod(dir);
    const mds = await service(t, dir);
    const base = `${mds.url}/${pod.token}${V1}`;

    let r = await request(`${base}/pod/uuid`);
    assert.deepEqual([r.status, r.type, r.body], [200, 'text/plain; charset=us-ascii', pod.uuid]);

    r = await request(`${base}/pod/manifest`);
    assert.deepEqual([r.status, r.type, r.body], [200, 'application/json', pod.manifestText]);

    for (const p of ['/pod/annotations', '/pod/annotations/']) {
      r = await request(`${base}${p}`);
      assert.equal(r.status, 200);
      assert.equal(r.type, 'application/json');
      assert.deepEqual(JSON.parse(r.body), [
        { name: 'ip-address', value: '10.1.2.3' },
        { name: 'example.com/owner', value: 'ops team' },
      ]);
    }
    r = await request(`${base}/pod/annotations/ip-address`);
    assert.deepEqual([r.status, r.body], [200, '10.1.2.3']);
    r = await request(`${base}/pod/annotations/example.com/owner`);
    assert.deepEqual([r.status, r.body], [200, 'ops team']);
    r = await request(`${base}/pod/annotations/nope`);
    assert.equal(r.status, 404);

    r = await request(`${base}/apps/web/annotations/`);
    assert.deepEqual([r.status, r.type], [200, 'application/json']);
    assert.deepEqual(JSON.parse(r.body), [
      { name: 'description', value: 'by the pod' },
      { name: 'authors', value: 'someone' },
      { name: 'pod-only', value: 'yes' },
    ]);
    r = await request(`${base}/apps/db/annotations`);
    assert.deepEqual(JSON.parse(r.body), [
      { name: 'description', value: 'by the image' },
      { name: 'authors', value: 'someone' },
    ]);
    r = await request(`${base}/apps/web/annotations/description`);
    assert.deepEqual([r.status, r.body], [200, 'by the pod']);

    r = await request(`${base}/apps/web/image/id`);
    assert.deepEqual([r.status, r.type, r.body], [200, 'text/plain; charset=us-ascii', imageIdOf(WEB.image)]);
    r = await request(`${base}/apps/db/image/manifest`);
    assert.deepEqual([r.status, r.type], [200, 'application/json']);
    assert.equal(r.body, fs.readFileSync(path.join(dir, 'cas/manifest', imageIdOf(DB.image)), 'utf8'), 'the original bytes');
    r = await request(`${base}/apps/nope/image/id`);
    assert.equal(r.status, 404);

    r = await request(`${base}/pod/uuid`, { method: 'HEAD' });
    assert.deepEqual([r.status, r.body, r.headers['content-length']], [200, '', String(pod.uuid.length)]);
    r = await request(`${base}/pod/manifest`, { method: 'DELETE' });
    assert.deepEqual([r.status, r.headers.allow], [405, 'GET, HEAD']);
    r = await request(`${base}/pod/nothing`);
    assert.equal(r.status, 404);
  });

  test('a wrong token is 401 on every path; a pod that went, or its token changed, is no longer served', async (t) => {
    const dir = emptyDir(t);
    const pod = metadataPod(dir);
    const mds = await service(t, dir);
    for (const p of ['/pod/uuid', '/pod/manifest', '/apps/web/image/id', '/no/such/path']) {
      const r = await request(`${mds.url}/${newToken()}${V1}${p}`);
      assert.equal(r.status, 401, p);
    }
    assert.equal((await request(`${mds.url}/${newToken()}${V1}/pod/hmac/sign`, { form: { content: 'x' } })).status, 401);
    assert.equal((await request(`${mds.url}/${pod.token}${V1}/pod/uuid`)).status, 200);
    fs.writeFileSync(path.join(pod.podPath, POD_TOKEN_FILE), `${newToken()}\n`);
    assert.equal((await request(`${mds.url}/${pod.token}${V1}/pod/uuid`)).status, 401);
    fs.rmSync(pod.podPath, { recursive: true });
    assert.equal((await request(`${mds.url}/${pod.token}${V1}/pod/uuid`)).status, 401);
  });

  test('pods made after the service started are found, and followed from prepared/ to run/', async (t) => {
    const dir = emptyDir(t);
    const mds = await service(t, dir);
    const pod = metadataPod(dir, 'prepared');
    assert.equal((await request(`${mds.url}/${pod.token}${V1}/pod/uuid`)).body, pod.uuid);
    fs.mkdirSync(path.join(dir, 'pods/run'), { recursive: true });
    fs.renameSync(pod.podPath, path.join(dir, 'pods/run', pod.uuid));
    assert.equal((await request(`${mds.url}/${pod.token}${V1}/pod/uuid`)).body, pod.uuid);
    const second = metadataPod(dir);
    assert.equal((await request(`${mds.url}/${second.token}${V1}/pod/uuid`)).body, second.uuid);
  });

  test('HMAC sign and verify: a round trip between pods, a tampered content or UUID is 403', async (t) => {
    const dir = emptyDir(t);
    const a = metadataPod(dir);
    const b = metadataPod(dir);
    const mds = await service(t, dir);
    const sign = await request(`${mds.url}/${a.token}${V1}/pod/hmac/sign`, { form: { content: 'I am pod a & proud' } });
    assert.deepEqual([sign.status, sign.type], [200, 'text/plain; charset=us-ascii']);
    assert.match(sign.body, /^[A-Za-z0-9+/]{86}==$/);
    const verify = (form: Record<string, string>) => request(`${mds.url}/${b.token}${V1}/pod/hmac/verify`, { form });

    let r = await verify({ content: 'I am pod a & proud', uuid: a.uuid, signature: sign.body });
    assert.deepEqual([r.status, r.type], [200, 'text/plain; charset=us-ascii']);
    r = await verify({ content: 'I am pod a & proud', uid: a.uuid, signature: sign.body });
    assert.equal(r.status, 200, 'rkt named the field uid');
    r = await verify({ content: 'I am pod a & proud!', uuid: a.uuid, signature: sign.body });
    assert.deepEqual([r.status, r.type], [403, 'text/plain; charset=us-ascii']);
    r = await verify({ content: 'I am pod a & proud', uuid: b.uuid, signature: sign.body });
    assert.equal(r.status, 403, 'signed by a, not b');
    r = await verify({ content: 'x', uuid: 'not-a-uuid', signature: sign.body });
    assert.equal(r.status, 400);
    r = await verify({ content: 'x', signature: sign.body });
    assert.equal(r.status, 400);
    r = await request(`${mds.url}/${a.token}${V1}/pod/hmac/sign`, { form: { other: 'x' } });
    assert.equal(r.status, 400);
    r = await request(`${mds.url}/${a.token}${V1}/pod/hmac/sign`, { body: '{"content":"x"}', type: 'application/json' });
    assert.equal(r.status, 415);

    // The key is the data directory's: a restarted service verifies what the last one signed.
    await mds.close();
    const again = await startMetadataService({ dir, port: 0, address: '127.0.0.1' });
    t.after(() => again.close());
    r = await request(`${again.url}/${b.token}${V1}/pod/hmac/verify`, { form: { content: 'I am pod a & proud', uuid: a.uuid, signature: sign.body } });
    assert.equal(r.status, 200);
    assert.equal((fs.statSync(path.join(dir, 'metadata-service/hmac-key')).mode & 0o777).toString(8), '600');
  });

  test('registration: prepare learns the URL only while a service runs; one service per --dir', async (t) => {
    const dir = emptyDir(t);
    const podDir = path.join(dir, 'somepod');
    fs.mkdirSync(podDir);
    assert.equal(await preparePodMetadata(dir, podDir), undefined);
    const token = fs.readFileSync(path.join(podDir, POD_TOKEN_FILE), 'utf8').trim();
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);

    const mds = await service(t, dir);
    assert.equal(await runningServiceUrl(dir), mds.url);
    const url = await preparePodMetadata(dir, podDir);
    assert.equal(url, `${mds.url}/${fs.readFileSync(path.join(podDir, POD_TOKEN_FILE), 'utf8').trim()}`);
    await assert.rejects(startMetadataService({ dir, port: 0, address: '127.0.0.1' }), /already runs/);

    await mds.close();
    assert.equal(await runningServiceUrl(dir), undefined);
    // A service killed without cleaning up leaves endpoint.json, and no lock held.
    fs.writeFileSync(path.join(dir, 'metadata-service/endpoint.json'), JSON.stringify({ url: 'http://127.0.0.1:1', pid: 1 }));
    assert.equal(await runningServiceUrl(dir), undefined);
  });

  test('answers well under 100 ms: 1000 requests', async (t) => {
    const dir = emptyDir(t);
    const pods = [metadataPod(dir), metadataPod(dir), metadataPod(dir)];
    const mds = await service(t, dir);
    const paths = ['/pod/uuid', '/pod/manifest', '/apps/web/annotations', '/apps/db/image/manifest'];
    const times: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const pod = pods[i % pods.length]!;
      const start = process.hrtime.bigint();
      const r = await request(`${mds.url}/${pod.token}${V1}${paths[i % paths.length]!}`);
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
      assert.equal(r.status, 200);
    }
    times.sort((x, y) => x - y);
    const p50 = times[499]!;
    const p99 = times[989]!;
    t.diagnostic(`1000 GETs: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${times[999]!.toFixed(2)} ms`);
    assert.ok(p50 < 20, `p50 ${p50} ms`);
    assert.ok(p99 < 100, `p99 ${p99} ms`);
  });
});

describe('rkt metadata-service', () => {
  test('listens, registers, serves, and unregisters on SIGTERM', async (t) => {
    const dir = emptyDir(t);
    const data = path.join(dir, 'data');
    const pod = metadataPod(data);
    const tsx = pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href;
    const child = spawn(
      process.execPath,
      ['--import', tsx, path.join(root, 'src/cli/rkt.ts'), 'metadata-service', '--listen-port=0', `--dir=${data}`, `--local-config=${dir}/etc`, `--system-config=${dir}/lib`],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    t.after(() => void child.kill('SIGKILL'));
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        const m = /listening on (http:\/\/\S+)/.exec(stderr);
        if (m) resolve(m[1]!);
      });
      child.on('exit', () => reject(new Error(`exited: ${stderr}`)));
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await runningServiceUrl(data), url);
    assert.equal((await request(`${url}/${pod.token}${V1}/pod/uuid`)).body, pod.uuid);
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exit, 0, stderr);
    assert.ok(!fs.existsSync(path.join(data, 'metadata-service/endpoint.json')));
  });
});

const skip = whyNotArch('amd64');

describe('a real pod', { skip }, () => {
  test('an app reads its own UUID through AC_METADATA_URL (--net=host)', async (t) => {
    const w = new PodWorld(t);
    const mds = await service(t, w.data);
    const img = buildProbeImage('amd64', path.join(w.dir, 'mds.aci'), {
      name: 'example.com/mds-reader',
      busybox: true,
      exec: ['/bin/busybox', 'sh', '-c', 'echo "url=$AC_METADATA_URL"; echo "uuid=$(busybox wget -qO- "$AC_METADATA_URL/acMetadata/v1/pod/uuid")"'],
    });
    const uuidFile = path.join(w.dir, 'uuid');
    // In the background: this process serves the app's request, so it must not block on rkt.
    const r = await w.start(['run', '--net=host', `--uuid-file-save=${uuidFile}`, img], { timeoutMs: 60_000 }).exited;
    assert.equal(r.status, 0, r.stderr);
    const uuid = fs.readFileSync(uuidFile, 'utf8').trim();
    assert.match(r.stdout, new RegExp(`^url=${mds.url}/[A-Za-z0-9_-]{43}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^uuid=${uuid}$`, 'm'), r.stdout);
  });
});

test('PodsByToken.imageManifest reads only a well-formed image ID from the store', async (t) => {
  const { PodsByToken } = await import('../../src/metadata/registry.ts');
  const dir = emptyDir(t);
  // The store's manifest directory, and a manifest-shaped file outside it.
  fs.mkdirSync(path.join(dir, 'cas', 'manifest'), { recursive: true });
  const outside = JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/outside' });
  fs.writeFileSync(path.join(dir, 'secret'), outside);
  const pods = new PodsByToken(dir);
  assert.equal(await pods.imageManifest('sha512-/../../../secret'), undefined);
});
