import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { imageFile } from '../src/build/cross/layout.ts';
import { readSpecFile } from '../src/build/cross/spec.ts';
import { debianArchFor } from '../src/debian/arch-map.ts';
import { readDebControl } from '../src/debian/deb.ts';
import { actool, benchTmp, repoRoot } from './lib/paths.ts';
import { median, type CaseResult } from './lib/report.ts';
import type { BenchCase } from './lib/types.ts';

// `actool cross` of images/busybox for its four arches against the same for one arch,
// and against the shell floor of the same work per arch: unpack the .deb, tar, gzip.

const root = join(benchTmp, 'cross-v1');
/** The four busybox-static .debs, as a plain folder repository: the timed runs read only this. */
const debs = join(root, 'debs');
const done = join(root, 'complete');
const work = join(root, 'runs');
const specFile = join(repoRoot, 'images', 'busybox', 'spec.yaml');
const spec = readSpecFile(specFile);
const PACKAGE = 'busybox-static';
const debArches = spec.arches.map((arch) => debianArchFor(arch, { raspbian: spec.raspbian }));
const debOf = (debArch: string) => join(debs, `${PACKAGE}_${debArch}.deb`);
/** The arch of the one-arch build, and whose image the output columns compare. */
const ONE = 'armv7l';
// Fixed, so every run writes the same bytes.
const EPOCH = 1700000000;

// Debian itself rather than this host's apt sources, so every machine times the same
// bytes (a Raspberry Pi OS host has no arm64 or amd64 packages to offer).
const DEBIAN = 'http://deb.debian.org/debian bookworm main';
const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** Downloads the .debs once, through the pipeline itself (signed Release, checked hashes). */
async function prepare(): Promise<void> {
  if (!existsSync(actool)) throw new Error(`cross: ${actool} not built (npm run build)`);
  if (existsSync(done)) return;
  if (!existsSync(DEBIAN_KEYRING)) throw new Error(`cross: ${DEBIAN_KEYRING} is missing (apt-get install debian-archive-keyring)`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const cache = join(root, 'cache');
  const warm = spawnSync(
    'node',
    [actool, 'cross', specFile, '--out', join(root, 'warm-up'), '--cache-dir', cache, '--repository', DEBIAN, '--keyring', DEBIAN_KEYRING],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  if (warm.status !== 0) throw new Error(`cross: downloading ${PACKAGE} failed (actool cross exited ${warm.status})`);
  // The cache names files by SHA-256: the .debs are told from the indexes by their control file.
  mkdirSync(debs, { recursive: true });
  const store = join(cache, 'by-sha256');
  for (const name of readdirSync(store)) {
    const control = await readDebControl(join(store, name)).then(
      (d) => d.control,
      () => undefined,
    );
    if (control?.['package'] === PACKAGE) copyFileSync(join(store, name), debOf(control['architecture']!));
  }
  const missing = debArches.filter((a) => !existsSync(debOf(a)));
  if (missing.length > 0) throw new Error(`cross: no ${PACKAGE} .deb for ${missing.join(', ')} in ${store}`);
  rmSync(cache, { recursive: true, force: true });
  rmSync(join(root, 'warm-up'), { recursive: true, force: true });
  writeFileSync(done, '');
}

async function setup(): Promise<void> {
  await prepare();
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work);
  console.error(`cross: ${PACKAGE} for ${debArches.join(', ')} in ${debs}`);
}

function teardown(): void {
  rmSync(work, { recursive: true, force: true });
}

/** A timed `actool cross` from the folder of .debs into a new DIR; no network. */
function cross(dir: string, args: string): string {
  return `rm -rf ${dir} && SOURCE_DATE_EPOCH=${EPOCH} node ${actool} cross ${specFile} --out ${dir} --repository ${debs}${args}`;
}

const oneImage = (dir: string) => join(dir, imageFile(spec.name, { version: spec.version, os: 'linux', arch: ONE }));
const floorDir = join(work, 'floor');
const all = join(work, 'all');
const one = join(work, 'one');

export const notes = `
What \`actool cross\` costs for several arches at once. The spec is images/busybox/spec.yaml:
Debian bookworm's \`busybox-static\` (one .deb of 0.8-0.9 MB per arch, 1.4-2.1 MB
unpacked, about 30 paths) and a /bin/sh symlink, for armv6l, armv7l, aarch64 and amd64
(Debian's armel, armhf, arm64, amd64). Setup downloads the four .debs once by running
\`actool cross\` with \`--cache-dir\` against Debian's archive (signed Release, checked
hashes) and copies them out of the cache into a folder; the timed runs pass that folder
as \`--repository\`, a plain folder of .debs, so they build and touch no network. Each
timed \`actool cross\` writes a new DIR (four or one unsigned images and index.html)
with \`SOURCE_DATE_EPOCH\` set; it indexes the folder (reads every .deb's control file and
SHA-256) for each arch, checks the chosen .deb, unpacks its data.tar.xz in JavaScript,
writes the tar with parallelGzip and hashes it for the image ID, the arches at once.

The floor does the least the same result needs, one arch after the other in one shell
command: \`dpkg-deb -x\` of each .deb into a new directory, then \`tar cf - | gzip -6\`.
\`actool version\` is the fixed cost of starting the bundle, which both \`actool cross\`
runs pay once. The output columns compare the armv7l image with the floor's armhf
archive.

Target (from the issue, reported, not asserted): the four-arch build at most 1.5x the
one-arch build. Whether this run met it is under the table.
`;

const RATIO_TARGET = 1.5;

export function verdict([c]: CaseResult[]): string {
  const wall = (label: string) => median(c!.results.find((r) => r.runner.label === label)?.samples.map((s) => s.wallMs) ?? []);
  const ratio = wall('actool cross, 4 arches') / wall(`actool cross, 1 arch (${ONE})`);
  const floor = wall('actool cross, 4 arches') / wall(c!.results[0]!.runner.label);
  if (Number.isNaN(ratio) || Number.isNaN(floor)) return 'No verdict: a run failed or was skipped.';
  const met = ratio <= RATIO_TARGET ? 'met' : '**missed**';
  return [
    `- 4 arches: ${ratio.toFixed(2)}x the time of 1 arch; target ${RATIO_TARGET}x: ${met}.`,
    `- 4 arches: ${floor.toFixed(2)}x the floor's time for the same 4 arches.`,
  ].join('\n');
}

export const cases: BenchCase[] = [
  {
    name: 'busybox-static for 4 arches from local .debs',
    setup,
    teardown,
    baseline: {
      label: 'dpkg-deb -x; tar | gzip -6, per arch',
      cmd:
        `rm -rf ${floorDir} && mkdir ${floorDir} && cd ${floorDir} && for a in ${debArches.join(' ')};` +
        ` do dpkg-deb -x ${debOf('$a')} d$a && tar cf - -C d$a . | gzip -6 > $a.tar.gz; done`,
      output: join(floorDir, `${debianArchFor(ONE, { raspbian: spec.raspbian })}.tar.gz`),
    },
    candidates: [
      { label: 'actool cross, 4 arches', cmd: cross(all, ''), output: oneImage(all) },
      { label: `actool cross, 1 arch (${ONE})`, cmd: cross(one, ` --arch ${ONE}`), output: oneImage(one) },
      { label: 'actool version', cmd: `node ${actool} version` },
    ],
  },
];
