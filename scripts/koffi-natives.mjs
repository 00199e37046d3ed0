// koffi's prebuilt native parts for the boards rkt runs on, taken from the npm packages
// at exactly the installed koffi version and checked against package-lock.json's
// integrity. npm skips foreign-CPU optional dependencies at install, so the packages
// are fetched once with `npm pack` into .cache/koffi and reused (offline) after that.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import tar from 'tar-stream';

const root = path.resolve(import.meta.dirname, '..');
const cache = path.join(root, '.cache', 'koffi');

// glibc builds only: musl boards are rare and each build adds ~0.3 MB to dist/rkt.
const TARGETS = [
  { triplet: 'linux_x64', pkg: '@koromix/koffi-linux-x64' },
  { triplet: 'linux_armhf', pkg: '@koromix/koffi-linux-arm' },
  { triplet: 'linux_arm64', pkg: '@koromix/koffi-linux-arm64' },
];

export function koffiVersion() {
  return readJson(path.join(root, 'node_modules/koffi/package.json')).version;
}

/** { triplet: { sha256, brotli (base64) } } for every target, as src/sys/koffi-embedded.ts expects. */
export async function koffiNatives() {
  const version = koffiVersion();
  const lock = readJson(path.join(root, 'package-lock.json'));
  fs.mkdirSync(cache, { recursive: true });
  const natives = {};
  for (const { triplet, pkg } of TARGETS) {
    const entry = lock.packages?.[`node_modules/${pkg}`];
    if (entry?.version !== version) {
      throw new Error(`package-lock.json lists ${pkg}@${entry?.version}, not ${version} like koffi: run npm install`);
    }
    const tgz = packed(pkg, version, entry.integrity);
    const raw = await extract(tgz, `package/${triplet}/koffi.node`);
    natives[triplet] = compressed(raw);
  }
  return natives;
}

function packed(pkg, version, integrity) {
  const file = path.join(cache, `${pkg.slice(1).replace('/', '-')}-${version}.tgz`);
  if (!fs.existsSync(file)) {
    execFileSync('npm', ['pack', `${pkg}@${version}`, '--loglevel=error', '--pack-destination', cache, '--cache', path.join(cache, 'npm')], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  const bytes = fs.readFileSync(file);
  const [algo, want] = integrity.split('-');
  if (createHash(algo).update(bytes).digest('base64') !== want) {
    fs.rmSync(file);
    throw new Error(`${file} does not match package-lock.json's integrity; removed it, build again`);
  }
  return bytes;
}

async function extract(tgz, name) {
  const entries = tar.extract();
  Readable.from([tgz]).pipe(zlib.createGunzip()).pipe(entries);
  let found;
  for await (const entry of entries) {
    const chunks = [];
    for await (const chunk of entry) chunks.push(chunk);
    if (entry.header.name === name) found = Buffer.concat(chunks);
  }
  if (!found) throw new Error(`no ${name} in the koffi package: its layout changed, update scripts/koffi-natives.mjs`);
  return found;
}

// Brotli at quality 11 makes these 40% smaller than gzip, but takes ~2 s each: the
// result is cached under the raw file's hash.
function compressed(raw) {
  const sha256 = createHash('sha256').update(raw).digest('hex');
  const file = path.join(cache, `${sha256}.br`);
  if (fs.existsSync(file)) {
    const br = fs.readFileSync(file);
    const back = createHash('sha256').update(zlib.brotliDecompressSync(br)).digest('hex');
    if (back === sha256) return { sha256, brotli: br.toString('base64') };
  }
  const br = zlib.brotliCompressSync(raw, {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length },
  });
  fs.writeFileSync(`${file}.${process.pid}.tmp`, br);
  fs.renameSync(`${file}.${process.pid}.tmp`, file);
  return { sha256, brotli: br.toString('base64') };
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}
