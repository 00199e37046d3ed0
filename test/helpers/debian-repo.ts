import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, normalize, relative, sep } from 'node:path';
import type { Gpg } from '../trust/helpers.ts';
import { serve, type TestServer } from './https-server.ts';

// Real Debian repositories for the tests: .deb files built by dpkg-deb, indexes by
// dpkg-scanpackages, a Release with SHA-256 lines, clearsigned and detach-signed by
// real gpg. The layout is Debian's: dists/testing/main/binary-<arch>/, pool/main/.

export interface FakePackage {
  name: string;
  version: string;
  /** A Debian arch, `all`, or undefined for one build per repository arch. */
  architecture?: string;
  /** More control fields: { Depends: 'libc6 (>= 2.36)', 'Multi-Arch': 'same' }. */
  fields?: Record<string, string>;
  /** Files to ship besides the usual ones, path -> content. */
  files?: Record<string, string>;
  postinst?: string;
  compression?: 'gzip' | 'xz' | 'zstd';
}

export interface DebianRepo {
  root: string;
  /** The binary keyring (every public key of the signing GnuPG home), or null for an unsigned repository. */
  keyring: string | null;
  suite: 'testing';
  components: ['main'];
}

export interface RepoOptions {
  arches: string[];
  packages: FakePackage[];
  sign: Gpg | null;
  /** Which Packages files to write and list in Release (default all three). */
  indexes?: ('xz' | 'gz' | 'none')[];
  /** Also write binary-all/ with the arch:all packages, as Debian does. */
  binaryAll?: boolean;
}

const SIGNER = 'rkt test repository <repo@example.com>';

/**
 * A .deb of `pkg` for `arch` in `outDir`: usr/bin/<name> (setuid, 4755), a symlink to
 * it, a hard link to it, usr/share/<name>/README and `pkg.files`. Returns its path.
 */
export function buildDeb(outDir: string, pkg: FakePackage, arch: string): string {
  const tree = join(outDir, `.build-${pkg.name}-${arch}`);
  const put = (path: string, content: string, mode = 0o644) => {
    mkdirSync(join(tree, path, '..'), { recursive: true });
    writeFileSync(join(tree, path), content);
    chmodSync(join(tree, path), mode);
  };
  const control = {
    Package: pkg.name,
    Version: pkg.version,
    Architecture: arch,
    Maintainer: 'rkt tests <tests@example.com>',
    ...pkg.fields,
    Description: `test package ${pkg.name}\n a package made by test/helpers/debian-repo.ts`,
  };
  put('DEBIAN/control', Object.entries(control).map(([k, v]) => `${k}: ${v}\n`).join(''));
  if (pkg.postinst !== undefined) put('DEBIAN/postinst', pkg.postinst, 0o755);
  put(`usr/bin/${pkg.name}`, `#!/bin/sh\necho ${pkg.name} ${pkg.version} ${arch}\n`, 0o4755);
  symlinkSync(pkg.name, join(tree, `usr/bin/${pkg.name}-link`));
  mkdirSync(join(tree, `usr/lib/${pkg.name}`), { recursive: true });
  linkSync(join(tree, `usr/bin/${pkg.name}`), join(tree, `usr/lib/${pkg.name}/hardlink`));
  put(`usr/share/${pkg.name}/README`, `${pkg.name} for ${arch}\n`);
  for (const [path, content] of Object.entries(pkg.files ?? {})) put(path, content);
  const deb = join(outDir, `${pkg.name}_${pkg.version}_${arch}.deb`);
  execFileSync('dpkg-deb', ['--build', '--root-owner-group', `-Z${pkg.compression ?? 'xz'}`, tree, deb], { stdio: 'ignore' });
  execFileSync('rm', ['-rf', tree]);
  return deb;
}

/** A repository in `dir`/repo, with the keyring beside it. */
export function makeDebianRepo(dir: string, opts: RepoOptions): DebianRepo {
  const root = join(dir, 'repo');
  const pool = join(root, 'pool', 'main');
  mkdirSync(pool, { recursive: true });
  for (const pkg of opts.packages) {
    for (const arch of pkg.architecture === undefined ? opts.arches : [pkg.architecture]) buildDeb(pool, pkg, arch);
  }
  const dists = join(root, 'dists', 'testing');
  const indexArches = opts.binaryAll ? [...opts.arches, 'all'] : opts.arches;
  const listed: string[] = [];
  for (const arch of indexArches) {
    const rel = `main/binary-${arch}`;
    mkdirSync(join(dists, rel), { recursive: true });
    // With --arch all only the arch:all packages are listed; with another arch, those and its own.
    const packages = execFileSync('dpkg-scanpackages', ['--arch', arch, 'pool', '/dev/null'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] });
    const plain = join(dists, rel, 'Packages');
    writeFileSync(plain, packages);
    const indexes = opts.indexes ?? ['xz', 'gz', 'none'];
    if (indexes.includes('xz')) writeFileSync(`${plain}.xz`, execFileSync('xz', ['-c', plain]));
    if (indexes.includes('gz')) writeFileSync(`${plain}.gz`, execFileSync('gzip', ['-9nc', plain]));
    listed.push(...indexes.map((c) => `${rel}/Packages${c === 'none' ? '' : `.${c}`}`));
  }
  writeFileSync(join(dists, 'Release'), releaseText(dists, opts.arches, listed));
  let keyring: string | null = null;
  if (opts.sign) {
    const gpg = opts.sign;
    if (gpg.run(['--list-secret-keys', '--with-colons']).length === 0) gpg.genKey(SIGNER);
    writeFileSync(join(dists, 'InRelease'), gpg.run(['--clearsign', '--output', '-', join(dists, 'Release')]));
    writeFileSync(join(dists, 'Release.gpg'), gpg.run(['--armor', '--detach-sign', '--output', '-', join(dists, 'Release')]));
    keyring = join(dir, 'keyring.gpg');
    writeFileSync(keyring, gpg.run(['--export']));
  }
  return { root, keyring, suite: 'testing', components: ['main'] };
}

function releaseText(dists: string, arches: string[], listed: string[]): string {
  const lines = listed.map((rel) => {
    const bytes = readFileSync(join(dists, rel));
    return ` ${createHash('sha256').update(bytes).digest('hex')} ${String(bytes.length).padStart(8)} ${rel}`;
  });
  return [
    'Origin: rkt tests',
    'Label: rkt tests',
    'Suite: testing',
    'Codename: testing',
    `Date: ${new Date().toUTCString()}`,
    `Architectures: ${arches.join(' ')}`,
    'Components: main',
    'Description: a repository made by test/helpers/debian-repo.ts',
    'SHA256:',
    ...lines,
    '',
  ].join('\n');
}

/** A plain HTTP server on 127.0.0.1 serving the files under `root`. */
export async function serveDir(root: string): Promise<TestServer & { url: string }> {
  const server = await serve(false, (req, res) => {
    const path = normalize(join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    if (relative(root, path).split(sep).includes('..')) {
      res.writeHead(403).end();
      return;
    }
    readFile(path).then(
      (body) => res.writeHead(200, { 'content-length': body.length }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  return { ...server, url: `http://127.0.0.1:${server.port}/` };
}
