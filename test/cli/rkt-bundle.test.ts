import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectHostArch } from '../../src/appc/arch.ts';
import { root } from '../helpers/run.ts';
import { buildImage, makeSigner, testEnv, type BuiltImage, type Signer } from '../fetch/fixtures.ts';
import { gzipped, imageTar } from '../store/fixtures/images.ts';

// Offline side-loading as a fleet script does it: images fetched signed on one --dir,
// exported to a bundle, imported on another --dir whose keystore trusts nothing.

const rkt = join(root, 'dist/rkt');
const host = detectHostArch();
let dir: string;
let signer: Signer;
let base: BuiltImage;
let web: BuiltImage;
let source: string[];
let bundle: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rkt-bundle-'));
  signer = makeSigner(dir);
  base = await buildImage(signer, dir, { name: 'example.com/base', labels: { version: '1.0', ...host }, files: { 'etc/motd': 'base\n' } });
  web = await buildImage(signer, dir, {
    name: 'example.com/web',
    labels: { version: '1.0', ...host },
    dependencies: [{ imageName: 'example.com/base', labels: { version: '1.0' } }],
    files: { 'srv/index.html': 'web\n' },
  });
  for (const [name, image] of [['base', base], ['web', web]] as const) {
    writeFileSync(join(dir, `${name}.aci`), image.aci);
    writeFileSync(join(dir, `${name}.aci.asc`), image.asc);
  }
  const { ctx } = await testEnv(signer, dir);
  source = [`--dir=${ctx.dir}`, `--local-config=${ctx.localConfig}`, `--system-config=${ctx.systemConfig}`];
  for (const name of ['base', 'web']) {
    const f = await run(source, ['fetch', '--pull-policy=new', join(dir, `${name}.aci`)]);
    assert.equal(f.status, 0, f.stderr);
  }
  bundle = join(dir, 'web.bundle');
  const r = await run(source, ['image', 'export-bundle', '--with-keys', 'example.com/web', bundle]);
  assert.equal(r.status, 0, r.stderr);
});

after(() => rmSync(dir, { recursive: true, force: true }));

function run(flags: string[], args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [rkt, ...flags, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

/** A board that has never seen the key: an empty keystore and store. */
function freshBoard(): string[] {
  const board = mkdtempSync(join(dir, 'board-'));
  return [`--dir=${join(board, 'data')}`, `--local-config=${join(board, 'etc')}`, `--system-config=${join(board, 'lib')}`];
}

const stored = async (flags: string[]) => JSON.parse((await run(flags, ['image', 'list', '--format=json'])).stdout) as { id: string }[];

test('the bundle is a plain tar: index first, dependencies first, signatures and the key', () => {
  const members = execFileSync('tar', ['-tf', bundle]).toString().trim().split('\n');
  assert.deepEqual(members, [
    'bundle.json',
    `images/${base.id}.aci`,
    `images/${base.id}.aci.asc`,
    `images/${web.id}.aci`,
    `images/${web.id}.aci.asc`,
    `keys/${signer.trusted.fingerprint}.asc`,
  ]);
});

test('exporting twice writes the same bytes; an existing file needs --overwrite', async () => {
  const again = join(dir, 'again.bundle');
  assert.equal((await run(source, ['image', 'export-bundle', '--with-keys', 'example.com/web', again])).status, 0);
  assert.deepEqual(execFileSync('sha256sum', [again]).toString().split(' ')[0], execFileSync('sha256sum', [bundle]).toString().split(' ')[0]);
  const r = await run(source, ['image', 'export-bundle', 'example.com/web', again]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /exists \(use --overwrite to replace it\)\n$/);
});

test('a fresh board refuses the bundle without trust, naming the fingerprint and --trust-keys', async () => {
  const board = freshBoard();
  const r = await run(board, ['image', 'import-bundle', bundle]);
  assert.equal(r.status, 1);
  const fp = signer.trusted.fingerprint.toUpperCase().replace(/(.{4})/g, '$1 ').trim().replace(/(.{24}) /, '$1  ');
  assert.ok(r.stderr.includes(fp), r.stderr);
  assert.match(r.stderr, /^rkt: import-bundle: example\.com\/base is signed by key .*--trust-keys/);
  assert.deepEqual(await stored(board), []);
  const noTty = await run(board, ['image', 'import-bundle', '--trust-keys', bundle]);
  assert.equal(noTty.status, 2);
  assert.match(noTty.stderr, /no terminal to review key .*--skip-fingerprint-review\n$/);
  assert.deepEqual(await stored(board), []);
});

test('--trust-keys --skip-fingerprint-review imports dependencies first; a second import says already stored', async () => {
  const board = freshBoard();
  const r = await run(board, ['image', 'import-bundle', '--trust-keys', '--skip-fingerprint-review', '--format=json', bundle]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [
    { id: base.id, name: 'example.com/base', labels: { version: '1.0', ...host }, status: 'imported' },
    { id: web.id, name: 'example.com/web', labels: { version: '1.0', ...host }, status: 'imported' },
  ]);
  // Trusted for the names it signs, not wider.
  const keys = JSON.parse((await run(board, ['trust', '--list', '--format=json'])).stdout) as { scope: unknown }[];
  assert.deepEqual(keys.map((k) => k.scope).sort(), [{ prefix: 'example.com/base' }, { prefix: 'example.com/web' }]);
  assert.deepEqual((await stored(board)).map((i) => i.id).sort(), [base.id, web.id].sort());

  const again = await run(board, ['image', 'import-bundle', bundle]);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(again.stdout, `${base.id.slice(0, 39)}\n${web.id.slice(0, 39)}\n`);
  assert.match(again.stderr, /already stored/);
});

test('a tampered image inside the bundle is refused and nothing is stored', async () => {
  const work = mkdtempSync(join(dir, 'tamper-'));
  execFileSync('tar', ['-xf', bundle, '-C', work]);
  // Same name and labels, other content: what an attacker with the USB stick could put there.
  const evil = await gzipped(await imageTar({ name: 'example.com/web', labels: { version: '1.0', ...host }, files: { 'srv/index.html': 'evil\n' } }));
  writeFileSync(join(work, 'images', `${web.id}.aci`), evil);
  const tampered = join(dir, 'tampered.bundle');
  execFileSync('tar', ['-cf', tampered, '-C', work, 'bundle.json', 'images', 'keys']);
  const board = freshBoard();
  const r = await run(board, ['image', 'import-bundle', '--trust-keys', '--skip-fingerprint-review', tampered]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /is not the image its name says .*nothing was imported\n$/);
  assert.deepEqual(await stored(board), []);
  assert.deepEqual(readdirSync(join(board[0]!.slice('--dir='.length), 'cas', 'tmp')), []);
});

test('a member the index does not name is refused', async () => {
  const work = mkdtempSync(join(dir, 'extra-'));
  execFileSync('tar', ['-xf', bundle, '-C', work]);
  writeFileSync(join(work, 'images', 'extra'), 'x');
  const extra = join(dir, 'extra.bundle');
  execFileSync('tar', ['-cf', extra, '-C', work, 'bundle.json', 'images', 'keys']);
  const r = await run(freshBoard(), ['image', 'import-bundle', extra]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not in bundle\.json/);
});
