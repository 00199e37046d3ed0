import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxEntries, layerTar, writeOciLayout, type LayerEntry } from '../test/fetch/docker/fixtures.ts';
import { skopeoPush, startRegistry, whyNoRegistry, type Registry } from '../test/fetch/docker/registry-helper.ts';
import { benchTmp, rkt } from './lib/paths.ts';
import { median, type CaseResult } from './lib/report.ts';
import type { BenchCase } from './lib/types.ts';

// docker:// fetch + convert of a 50 MB image from Debian's docker-registry on loopback,
// against skopeo copy of the same image to an OCI layout plus umoci unpack (Debian 12
// packages umoci 0.4.7), in the same run.

const root = join(benchTmp, 'docker-v1');
const layout = join(root, 'layout');
const done = join(root, 'complete.json');
const work = join(root, 'runs');
const warm = join(root, 'warm-store');
let registry: Registry | undefined;
let ref = '';

/** Seeded bytes, so every machine times the same image. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function bytes(rand: () => number, size: number, compressible: number): Buffer {
  const buf = Buffer.alloc(size);
  const random = Math.floor(size * (1 - compressible));
  for (let i = 0; i < random; i++) buf[i] = Math.floor(rand() * 256);
  const text = Buffer.from('the quick brown fox jumps over the lazy dog; lorem ipsum dolor sit amet\n');
  for (let i = random; i < size; i++) buf[i] = text[i % text.length]!;
  return buf;
}

/**
 * Three layers, 50 MB of tar in all: a base of busybox and 4,000 small files (12 MB),
 * a layer of three large files, partly incompressible (35 MB), and a top layer that
 * whites out a large file and a directory and changes a few files (3 MB).
 */
async function makeLayers(): Promise<{ layers: Buffer[]; stats: { tar: number } }> {
  const rand = mulberry32(0x5eed);
  const small: LayerEntry[] = [];
  for (let i = 0; i < 4000; i++) small.push({ name: `usr/share/data/d${Math.floor(i / 50)}/f${i}.txt`, body: bytes(rand, 1000 + Math.floor(rand() * 3000), 0.8) });
  const base = await layerTar(busyboxEntries(small));
  const big = await layerTar([
    { name: 'opt/app/', type: 'directory' },
    { name: 'opt/app/blob1', body: bytes(rand, 10 << 20, 0.5) },
    { name: 'opt/app/blob2', body: bytes(rand, 12 << 20, 0.3) },
    { name: 'opt/app/blob3', body: bytes(rand, 13 << 20, 0.7) },
  ]);
  const top = await layerTar([
    { name: 'opt/app/.wh.blob3' },
    { name: 'usr/share/data/.wh.d7' },
    { name: 'etc/motd', body: 'bench\n' },
    { name: 'opt/app/new', body: bytes(rand, 3 << 20, 0.5) },
  ]);
  return { layers: [base, big, top], stats: { tar: base.length + big.length + top.length } };
}

async function prepare(): Promise<void> {
  if (!existsSync(rkt)) throw new Error(`docker: ${rkt} not built (npm run build)`);
  if (existsSync(done)) return;
  rmSync(root, { recursive: true, force: true });
  const { layers, stats } = await makeLayers();
  writeOciLayout(layout, '1', [{ platform: { os: 'linux', architecture: 'amd64' }, layers, compression: 'gzip', config: { Cmd: ['/bin/busybox', 'true'] } }]);
  writeFileSync(done, JSON.stringify(stats));
}

async function setup(): Promise<void> {
  const why = whyNoRegistry();
  if (why) throw new Error(`docker: ${why}`);
  await prepare();
  const { tar } = JSON.parse(readFileSync(done, 'utf8')) as { tar: number };
  registry = await startRegistry(join(root, 'registry'));
  process.on('exit', () => void registry?.stop());
  ref = `${registry.host}/bench:1`;
  await skopeoPush(layout, '1', ref);
  const blobs = spawnSync('du', ['-sb', join(layout, 'blobs')], { encoding: 'utf8' }).stdout.split('\t')[0];
  console.error(`docker: ${(tar / 1e6).toFixed(1)} MB of layer tars, ${(Number(blobs) / 1e6).toFixed(1)} MB of blobs, served by docker-registry at ${registry.host}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  // A store that already holds the conversion: the second fetch of the same digest.
  rmSync(warm, { recursive: true, force: true });
  const first = spawnSync('node', [rkt, '--dir', warm, '--insecure-options=image', 'fetch', `docker://${ref}`], { encoding: 'utf8' });
  if (first.status !== 0) throw new Error(`docker: rkt fetch: ${first.stderr}`);
}

async function teardown(): Promise<void> {
  await registry?.stop();
  registry = undefined;
  rmSync(work, { recursive: true, force: true });
  rmSync(warm, { recursive: true, force: true });
}

const rktCmd = (dir: string) => `node ${rkt} --dir ${dir} --insecure-options=image`;

export const notes = `
What \`rkt fetch docker://\` costs against the usual tools doing the same work. The image
(made once, seeded, by bench/docker.bench.ts) has three gzip layers, 50 MB of tar in all:
busybox and 4,000 small files; three large, partly incompressible files; a top layer
that whites out one large file and a directory of 50 files and adds one more. It is pushed
with \`skopeo copy\` to Debian's docker-registry on 127.0.0.1 (plain HTTP, storage on
disk) and pulled from there by every runner, each into a new directory.

- \`skopeo copy docker:// oci: && umoci unpack\`: the floor. skopeo downloads and
  verifies the blobs into an OCI layout, umoci (Debian 12 packages 0.4.7) applies the
  layers with their whiteouts into a runtime bundle's rootfs directory.
- \`rkt fetch\`: downloads (three layers at once), verifies, squashes the layers into one
  ACI and stores it (the tar hashed for the image ID, synced): ready for \`rkt run\`,
  which renders it on first use.
- \`rkt fetch && rkt image render\`: the same plus that rendering, so its end state (a
  directory tree) is the floor's.
- \`skopeo copy\` alone: how much of the floor is the download.
- \`rkt fetch\`, stored: the same digest fetched again into a store that holds its
  conversion (one manifest request): the conversion cache.
`;

export function verdict([c]: CaseResult[]): string {
  const wall = (label: string) => median(c!.results.find((r) => r.runner.label === label)?.samples.map((s) => s.wallMs) ?? []);
  const floor = wall(c!.results[0]!.runner.label);
  const lines: string[] = [];
  for (const label of ['rkt fetch', 'rkt fetch && rkt image render', 'rkt fetch, stored']) {
    const ratio = wall(label) / floor;
    if (!Number.isNaN(ratio)) lines.push(`- ${label}: ${ratio.toFixed(2)}x the floor's time.`);
  }
  return lines.length > 0 ? lines.join('\n') : 'No verdict: a run failed or was skipped.';
}

export const cases: BenchCase[] = [
  {
    name: 'fetch and unpack a 50 MB 3-layer image from a loopback registry',
    setup,
    teardown,
    baseline: {
      label: 'skopeo copy docker:// oci: && umoci unpack',
      unavailable: () => (spawnSync('sh', ['-c', 'command -v umoci']).status === 0 ? null : 'no umoci (apt-get install umoci)'),
      get cmd() {
        return (
          `d=$(mktemp -d -p ${work}) && skopeo copy --quiet --insecure-policy --src-tls-verify=false docker://${ref} oci:$d/layout:1` +
          ` && umoci unpack --image $d/layout:1 $d/bundle >/dev/null`
        );
      },
    },
    candidates: [
      {
        label: 'rkt fetch',
        get cmd() {
          return `d=$(mktemp -d -p ${work}) && ${rktCmd('$d/rkt')} fetch docker://${ref} >/dev/null`;
        },
      },
      {
        label: 'rkt fetch && rkt image render',
        get cmd() {
          return `d=$(mktemp -d -p ${work}) && id=$(${rktCmd('$d/rkt')} fetch --full docker://${ref}) && ${rktCmd('$d/rkt')} image render $id $d/out`;
        },
      },
      {
        label: 'skopeo copy',
        get cmd() {
          return `d=$(mktemp -d -p ${work}) && skopeo copy --quiet --insecure-policy --src-tls-verify=false docker://${ref} oci:$d/layout:1`;
        },
      },
      {
        label: 'rkt fetch, stored',
        get cmd() {
          return `${rktCmd(warm)} fetch docker://${ref} >/dev/null 2>&1`;
        },
      },
    ],
  },
];
