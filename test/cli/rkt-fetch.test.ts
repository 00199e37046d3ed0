import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectHostArch } from '../../src/appc/arch.ts';
import { root } from '../helpers/run.ts';
import { buildImage, discoveryPage, fileServer, makeSigner, testEnv, type BuiltImage, type Signer } from '../fetch/fixtures.ts';
import { testPki, type TestServer } from '../helpers/https-server.ts';

// rkt fetch as a script meets it: the built bundle, on this machine's own os/arch,
// against a real HTTPS server; stdout holds the image ID and nothing else.

const rkt = join(root, 'dist/rkt');
const host = detectHostArch();
let dir: string;
let signer: Signer;
let app: BuiltImage;
let server: TestServer;
let flags: string[];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rkt-fetch-cli-'));
  signer = makeSigner(dir);
  app = await buildImage(signer, dir, { name: 'example.com/app', labels: { version: '1.0', ...host } });
  const path = `/images/example.com/app-1.0-${host.os}-${host.arch}.aci`;
  server = await fileServer(true, { '/app?ac-discovery=1': discoveryPage(), [path]: { body: app.aci }, [`${path}.asc`]: { body: app.asc } });
  const { ctx } = await testEnv(signer, dir);
  flags = [`--dir=${ctx.dir}`, `--local-config=${ctx.localConfig}`, `--system-config=${ctx.systemConfig}`];
});

after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the bundle without blocking this process, whose event loop serves the images. */
function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [rkt, ...flags, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

const resolveFlag = () => `--resolve=example.com:443=127.0.0.1:${server.port}`;

test('prints the short image ID on stdout and nothing on stderr, for this host by default', async () => {
  const r = await run(['fetch', resolveFlag(), `--ca-file=${testPki().caFile}`, 'example.com/app:1.0']);
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  assert.equal(r.stdout, `${app.id.slice(0, 'sha512-'.length + 32)}\n`);
});

test('--format json prints {id, name, labels, size}', async () => {
  const r = await run(['fetch', '--pull-policy=new', resolveFlag(), `--ca-file=${testPki().caFile}`, '--format=json', 'example.com/app:1.0']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { id: app.id, name: 'example.com/app', labels: { version: '1.0', ...host }, size: app.size });
});

test('failures are one line on stderr with exit 1; misuse exits 2', async () => {
  const untrusted = await run(['fetch', '--pull-policy=update', resolveFlag(), 'example.com/app:1.0']);
  assert.equal(untrusted.status, 1);
  // Without --ca-file the test CA is unknown: discovery already fails, saying why.
  assert.match(untrusted.stderr, /^rkt: discovery: no ac-discovery meta tag for example\.com\/app found at .*\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\); the server's certificate was not trusted: pass --ca-file with its CA certificate \(or --insecure-options=tls\)\n$/);
  assert.equal(untrusted.stdout, '');
  const twice = await run(['fetch', '--signature=x.asc', 'a.aci', 'b.aci']);
  assert.equal(twice.status, 2);
  assert.equal(twice.stderr, 'rkt: fetch: --signature belongs to one image; fetch the images one at a time\n');
  const missing = await run(['fetch', '--ca-file=/nonexistent.pem', 'example.com/app']);
  assert.equal(missing.status, 2);
  assert.equal(missing.stderr, 'rkt: --ca-file /nonexistent.pem: no such file\n');
});
