import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readAciFile } from '../../src/appc/aci-reader.ts';
import { getLabel } from '../../src/appc/labels.ts';
import { discover } from '../../src/fetch/discover.ts';
import { httpGet } from '../../src/fetch/http-get.ts';
import { readPublicKeys } from '../../src/trust/pgp-key.ts';
import { verifyDetached } from '../../src/trust/signature.ts';
import { isRoot, root, runNode } from '../helpers/run.ts';
import { makeDebianRepo, serveDir, type DebianRepo } from '../helpers/debian-repo.ts';
import { closedPort, type TestServer } from '../helpers/https-server.ts';
import { Gpg } from '../trust/helpers.ts';

// actool cross as a user meets it: the bundle, a real signed Debian repository served
// over HTTP, a real gpg key, a real static web server for discovery.

const actool = path.join(root, 'dist/actool');
const EPOCH = '1700000000';
const PASSPHRASE = 'correct horse';
const NAME = 'example.com/hello';
const file = (arch: string) => `${NAME}-1.0.0-linux-${arch}.aci`;

let work: string;
let repo: DebianRepo;
let server: TestServer & { url: string };
let signKey: string;

function spec(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: NAME,
    version: '1.0.0',
    arches: ['armv7l', 'aarch64'],
    app: { exec: ['/usr/bin/app'], user: '0', group: '0' },
    files: [
      { from: 'build/app-{arch}', to: '/usr/bin/app', mode: '0755' },
      { from: 'build/conflict', to: '/usr/share/hello/conflict' },
    ],
    packages: ['hello-tool', 'hello-data'],
    repositories: [{ uri: server.url, suite: repo.suite, components: repo.components, keyring: repo.keyring }],
    annotations: { authors: 'tests <tests@example.com>' },
    ...overrides,
  };
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Writes the spec beside the build inputs and runs `actool cross` on it, as runNode
 * does but without blocking: the repository is served from this process.
 */
async function cross(name: string, specValue: Record<string, unknown>, args: string[], opts: { asNobody?: boolean } = {}): Promise<Run> {
  const specFile = path.join(work, `${name}.json`);
  fs.writeFileSync(specFile, JSON.stringify(specValue));
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', SOURCE_DATE_EPOCH: EPOCH, ACTOOL_SIGN_PASSPHRASE: PASSPHRASE };
  const argv = [process.execPath, actool, 'cross', specFile, ...args];
  const cmd = opts.asNobody ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', ...argv] : argv;
  const child = spawn(cmd[0]!, cmd.slice(1), { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { status, stdout, stderr };
}

function filesUnder(dir: string): Map<string, Buffer> {
  const names = (fs.readdirSync(dir, { recursive: true }) as string[]).filter((p) => fs.statSync(path.join(dir, p)).isFile());
  return new Map(names.sort().map((p) => [p, fs.readFileSync(path.join(dir, p))]));
}

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cross-'));
  fs.chmodSync(work, 0o777);
  const gpg = new Gpg(path.join(work, 'gnupg-repo'));
  repo = makeDebianRepo(work, {
    arches: ['armhf', 'arm64'],
    sign: gpg,
    packages: [
      { name: 'hello-dep', version: '1.0' },
      { name: 'hello-tool', version: '2.0', fields: { Depends: 'hello-dep (>= 1.0)' }, postinst: '#!/bin/sh\nexit 0\n' },
      { name: 'hello-data', version: '1.0', architecture: 'all', files: { 'usr/share/hello/conflict': 'from the package\n' } },
    ],
  });
  fs.mkdirSync(path.join(work, 'build'));
  fs.writeFileSync(path.join(work, 'build/app-armv7l'), 'app for armv7l\n', { mode: 0o600 });
  fs.writeFileSync(path.join(work, 'build/app-aarch64'), 'app for aarch64\n', { mode: 0o600 });
  fs.writeFileSync(path.join(work, 'build/conflict'), 'from the spec\n');
  for (const f of fs.readdirSync(path.join(work, 'build'))) fs.chmodSync(path.join(work, 'build', f), 0o644);
  const signer = new Gpg(path.join(work, 'gnupg-signer'));
  signer.run(['--pinentry-mode', 'loopback', '--passphrase', PASSPHRASE, '--quick-gen-key', 'Image Signer <images@example.com>', 'ed25519', 'sign', 'never']);
  signKey = path.join(work, 'sign-key.asc');
  fs.writeFileSync(signKey, signer.run(['--pinentry-mode', 'loopback', '--passphrase', PASSPHRASE, '--armor', '--export-secret-keys', 'images@example.com']));
  fs.chmodSync(signKey, 0o644);
});

before(async () => {
  server = await serveDir(repo.root);
});

after(() => {
  server.close();
  fs.rmSync(work, { recursive: true, force: true });
});

describe('actool cross', () => {
  let out: string;
  let port: number;
  let first: Run;

  before(async () => {
    out = path.join(work, 'site');
    port = await closedPort();
    first = await cross('hello', spec(), ['--out', 'site', '--sign-key', signKey, '--base-url', `http://example.com:${port}/`]);
  });

  test('builds every arch and prints one line per arch; warns of maintainer scripts not run', () => {
    assert.equal(first.status, 0, first.stderr);
    const lines = first.stdout.trim().split('\n');
    assert.deepEqual(
      lines.map((l) => l.replace(/sha512-[0-9a-f]{128}/, 'ID')),
      [`armv7l ID site/${file('armv7l')}`, `aarch64 ID site/${file('aarch64')}`],
    );
    assert.match(first.stderr, /^actool: warning: armv7l: package hello-tool: maintainer scripts not run: postinst$/m);
    assert.deepEqual([...filesUnder(out).keys()], [
      `${file('aarch64')}`,
      `${file('aarch64')}.asc`,
      `${file('armv7l')}`,
      `${file('armv7l')}.asc`,
      'index.html',
      'pubkeys.asc',
    ]);
  });

  test('actool validate accepts the images, which carry the name and the version, os and arch labels', async () => {
    const r = runNode(actool, ['validate', file('armv7l'), file('aarch64')], { cwd: out });
    assert.equal(r.status, 0, r.stderr);
    for (const arch of ['armv7l', 'aarch64']) {
      const image = await readAciFile(path.join(out, file(arch)));
      assert.equal(image.manifest.name, NAME);
      assert.deepEqual(['version', 'os', 'arch'].map((l) => getLabel(image.manifest.labels, l)), ['1.0.0', 'linux', arch]);
      assert.deepEqual(image.manifest.annotations.find((a) => a.name === 'created'), { name: 'created', value: '2023-11-14T22:13:20Z' });
      assert.equal(first.stdout.includes(`${arch} ${image.imageId} `), true, 'the printed ID is the image ID');
    }
  });

  test('package files keep modes, owners, symlinks and hard links; spec files are root-owned and win', () => {
    const listing = execFileSync('tar', ['--numeric-owner', '-tvzf', file('armv7l')], { cwd: out, encoding: 'utf8' });
    const line = (p: string) => listing.split('\n').find((l) => l.endsWith(` ${p}`) || l.includes(` ${p} `)) ?? `no ${p}`;
    assert.match(line('rootfs/usr/bin/hello-tool'), /^-rwsr-xr-x 0\/0 /);
    assert.match(line('rootfs/usr/bin/hello-tool-link'), /^lrwxrwxrwx 0\/0 .* -> hello-tool$/);
    assert.match(line('rootfs/usr/lib/hello-tool/hardlink'), /^h.* link to rootfs\/usr\/bin\/hello-tool$/);
    assert.match(line('rootfs/usr/bin/hello-dep'), /^-rwsr-xr-x 0\/0 /, 'a dependency is installed too');
    assert.match(line('rootfs/usr/bin/app'), /^-rwxr-xr-x 0\/0 /);
    const conflict = execFileSync('tar', ['-xzOf', file('armv7l'), 'rootfs/usr/share/hello/conflict'], { cwd: out, encoding: 'utf8' });
    assert.equal(conflict, 'from the spec\n');
    const app = execFileSync('tar', ['-xzOf', file('aarch64'), 'rootfs/usr/bin/app'], { cwd: out, encoding: 'utf8' });
    assert.equal(app, 'app for aarch64\n');
    const readme = execFileSync('tar', ['-xzOf', file('aarch64'), 'rootfs/usr/share/hello-tool/README'], { cwd: out, encoding: 'utf8' });
    assert.equal(readme, 'hello-tool for arm64\n', 'the aarch64 image has the arm64 package');
  });

  test('building again gives identical bytes, signatures included (SOURCE_DATE_EPOCH)', async () => {
    const r = await cross('hello', spec(), ['--out', 'site-again', '--sign-key', signKey, '--base-url', `http://example.com:${port}/`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.replaceAll('site-again/', 'site/'), first.stdout);
    assert.deepEqual(filesUnder(path.join(work, 'site-again')), filesUnder(out));
  });

  test('building into the existing DIR again changes nothing; a differing file is refused without --overwrite', async () => {
    const before = filesUnder(out);
    const again = await cross('hello', spec(), ['--out', 'site', '--sign-key', signKey, '--base-url', `http://example.com:${port}/`]);
    assert.equal(again.status, 0, again.stderr);
    const other = await cross('hello', spec(), ['--out', 'site', '--base-url', 'https://elsewhere.example/']);
    assert.equal(other.status, 1);
    assert.equal(other.stderr.trim().split('\n').at(-1), `actool: cross: ${path.join(work, 'site/index.html')} already exists and differs; pass --overwrite to replace it`);
    assert.deepEqual(filesUnder(out), before);
    assert.deepEqual(leftovers(), []);
  });

  test('gpg --verify and the rkt verifier accept the signatures with the key in pubkeys.asc', async () => {
    const gpg = new Gpg(path.join(work, 'gnupg-verify'));
    gpg.run(['--import', path.join(out, 'pubkeys.asc')]);
    for (const arch of ['armv7l', 'aarch64']) {
      gpg.run(['--verify', path.join(out, `${file(arch)}.asc`), path.join(out, file(arch))]);
    }
    const [key] = await readPublicKeys(fs.readFileSync(path.join(out, 'pubkeys.asc')), 'pubkeys.asc');
    const trusted = { key: key!, fingerprint: key!.getFingerprint(), userIds: key!.getUserIDs(), scope: { prefix: NAME }, layer: 'local' as const, path: '' };
    const signer = await verifyDetached(path.join(out, file('armv7l')), fs.readFileSync(path.join(out, `${file('armv7l')}.asc`)), [trusted], NAME);
    assert.deepEqual(signer.userIds, ['Image Signer <images@example.com>']);
  });

  test('a static web server on DIR makes discovery find every arch, its signature and the key', async (t) => {
    const python = spawn('python3', ['-m', 'http.server', '--bind', '127.0.0.1', '--directory', out, String(port)], { stdio: 'ignore' });
    t.after(() => python.kill());
    const resolve = { [`example.com:${port}`]: `127.0.0.1:${port}` };
    await waitForServer(`http://example.com:${port}/`, resolve);
    for (const arch of ['armv7l', 'aarch64']) {
      const found = await discover({ name: NAME, labels: { version: '1.0.0', os: 'linux', arch } }, { insecure: true, port, resolve });
      const base = `http://example.com:${port}/`;
      assert.deepEqual(found, { aci: [{ aci: `${base}${file(arch)}`, signature: `${base}${file(arch)}.asc` }], pubkeys: [`${base}pubkeys.asc`] });
      for (const [url, local] of [[found.aci[0]!.aci, file(arch)], [found.aci[0]!.signature, `${file(arch)}.asc`], [found.pubkeys[0]!, 'pubkeys.asc']] as const) {
        assert.deepEqual(await body(url, resolve), fs.readFileSync(path.join(out, local)), url);
      }
    }
  });

  test('--arch builds a subset of the spec\'s arches; an arch the spec lacks is a usage error', async () => {
    const one = await cross('hello', spec(), ['--out', 'site-one', '--arch', 'aarch64']);
    assert.equal(one.status, 0, one.stderr);
    assert.deepEqual([...filesUnder(path.join(work, 'site-one')).keys()], [file('aarch64'), 'index.html']);
    const wrong = await cross('hello', spec(), ['--out', 'site-wrong', '--arch', 'aarch64,amd64']);
    assert.equal(wrong.status, 2);
    assert.equal(wrong.stderr, "actool: cross: --arch amd64 is not among the spec's arches (armv7l, aarch64)\n");
    assert.equal(fs.existsSync(path.join(work, 'site-wrong')), false);
  });

  test('--repository takes a plain directory of .deb files instead of the spec\'s repositories', async () => {
    const r = await cross('hello', spec({ repositories: [] }), ['--out', 'site-debs', '--repository', path.join(repo.root, 'pool/main')]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.replaceAll('site-debs/', 'site/'), first.stdout, 'the same images as from the repository');
  });

  test('runs as nobody', { skip: !isRoot && 'needs root to switch to nobody' }, async () => {
    const r = await cross('hello', spec(), ['--out', 'site-nobody', '--sign-key', signKey, '--base-url', `http://example.com:${port}/`], { asNobody: true });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(filesUnder(path.join(work, 'site-nobody')), filesUnder(out));
    assert.equal(fs.statSync(path.join(work, 'site-nobody', file('armv7l'))).uid, 65534);
  });
});

describe('actool cross refuses bad input with one line, and leaves no DIR', () => {
  const refused = async (name: string, specValue: Record<string, unknown>, expected: RegExp) => {
    const r = await cross(name, specValue, ['--out', `out-${name}`, '--sign-key', signKey]);
    assert.equal(r.status, 1, r.stdout);
    const lines = r.stderr.trim().split('\n').filter((l) => !l.includes('warning:'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, expected);
    assert.equal(fs.existsSync(path.join(work, `out-${name}`)), false, 'DIR was created');
    assert.deepEqual(leftovers(), []);
  };

  test('a file missing for one arch', async () => {
    const app = path.join(work, 'build/app-aarch64');
    fs.renameSync(app, `${app}.away`);
    try {
      await refused('missing', spec(), /^actool: cross: aarch64: files\[0\]: from "build\/app-aarch64" does not exist \(.*\/build\/app-aarch64\)$/);
    } finally {
      fs.renameSync(`${app}.away`, app);
    }
  });

  test('an unknown package', async () => {
    await refused('unknown', spec({ packages: ['hello-tool', 'no-such-package'] }), /^actool: cross: armv7l: .*no-such-package/);
  });

  test('a repository signed by a key not in its keyring', async () => {
    const stranger = new Gpg(path.join(work, 'gnupg-stranger'));
    stranger.genKey('Stranger <stranger@example.com>');
    const keyring = path.join(work, 'stranger.gpg');
    fs.writeFileSync(keyring, stranger.run(['--export']));
    const repositories = [{ uri: server.url, suite: repo.suite, components: repo.components, keyring }];
    await refused('badsig', spec({ repositories }), /^actool: cross: armv7l: .*InRelease/);
  });

  test('a package whose checksum does not match the index', async () => {
    const deb = path.join(repo.root, 'pool/main/hello-dep_1.0_arm64.deb');
    const original = fs.readFileSync(deb);
    const tampered = Buffer.from(original);
    tampered[tampered.length - 1] ^= 0xff;
    fs.writeFileSync(deb, tampered);
    try {
      await refused('checksum', spec(), /^actool: cross: aarch64: package hello-dep: .*hello-dep_1\.0_arm64\.deb/);
    } finally {
      fs.writeFileSync(deb, original);
    }
  });

  test('a source without the arch is skipped, as apt does (bookworm-security has no armel); no source with it is an error', async () => {
    const armOnly = makeDebianRepo(path.join(work, 'arm64-only'), {
      arches: ['arm64'],
      sign: new Gpg(path.join(work, 'gnupg-arm64-only')),
      packages: [{ name: 'unrelated', version: '1.0' }],
    });
    const second = { uri: armOnly.root, suite: armOnly.suite, components: armOnly.components, keyring: armOnly.keyring };
    const both = [{ uri: server.url, suite: repo.suite, components: repo.components, keyring: repo.keyring }, second];
    const built = await cross('skip', spec({ arches: ['armv7l'], repositories: both }), ['--out', 'site-skip']);
    assert.equal(built.status, 0, built.stderr);
    await refused('none', spec({ arches: ['armv7l'], repositories: [second] }), /^actool: cross: armv7l: armhf: .*has no armhf packages \(it has arm64\)/);
  });
});

/** Staging directories left beside the outputs. */
function leftovers(): string[] {
  return fs.readdirSync(work).filter((n) => n.includes('.tmp-'));
}

async function body(url: string, resolve: Record<string, string>): Promise<Buffer> {
  const { res } = await httpGet(url, { resolve });
  assert.equal(res.statusCode, 200, url);
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function waitForServer(url: string, resolve: Record<string, string>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const { res } = await httpGet(url, { resolve });
      res.resume();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`${url} did not come up`);
}
