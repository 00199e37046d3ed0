import { existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

// A synthetic image layout shaped like a small distro rootfs: many small text-like
// files and a few large, partly incompressible ones. Seeded, so every machine times
// the same bytes; cached, since writing it takes longer than one timed run.

export interface TreeStats {
  files: number;
  bytes: number;
}

const SMALL_FILES = 20_000;
const FILES_PER_DIR = 50;
/** MiB and the compressible share of each large file (the rest is random bytes). */
const LARGE_FILES: [number, number][] = [
  [12, 0.5],
  [15, 0.3],
  [18, 0.7],
];
const MTIME = new Date('2020-01-01T00:00:00Z');
const MANIFEST = '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/bench"}\n';

/** Make (once) the layout in `root`/layout and return its path and size. */
export function ensureImageLayout(root: string): { dir: string } & TreeStats {
  const dir = join(root, 'layout');
  const done = join(root, 'complete.json');
  if (existsSync(done)) return { dir, ...(JSON.parse(readFileSync(done, 'utf8')) as TreeStats) };
  rmSync(root, { recursive: true, force: true });
  const stats = generate(dir);
  writeFileSync(done, JSON.stringify(stats));
  return { dir, ...stats };
}

function generate(dir: string): TreeStats {
  const rand = mulberry32(0x5eed);
  const words = vocabulary(rand);
  const dirs = new Set<string>();
  let bytes = 0;
  const put = (path: string, data: Buffer | string) => {
    mkdirSync(dirname(path), { recursive: true });
    for (let d = dirname(path); d.startsWith(dir); d = dirname(d)) dirs.add(d);
    writeFileSync(path, data);
    utimesSync(path, MTIME, MTIME);
    bytes += data.length;
  };
  put(join(dir, 'manifest'), MANIFEST);
  for (let i = 0; i < SMALL_FILES; i++) {
    const size = Math.round(512 * 16 ** rand.float()); // log-uniform, 0.5 to 8 KiB
    put(join(dir, 'rootfs/usr/share', `pkg${Math.floor(i / FILES_PER_DIR)}`, `file${i}.txt`), text(rand, words, size));
  }
  for (const [mib, compressible] of LARGE_FILES) {
    const parts: Buffer[] = [];
    for (let left = mib << 20; left > 0; left -= 256 << 10) {
      const n = Math.min(left, 256 << 10);
      parts.push(rand.float() < compressible ? text(rand, words, n) : randomBytes(rand, n));
    }
    put(join(dir, 'rootfs/opt/data', `blob-${mib}m.bin`), Buffer.concat(parts));
  }
  // Deepest first, so setting a parent's time is not undone by touching its child.
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) utimesSync(d, MTIME, MTIME);
  return { files: SMALL_FILES + LARGE_FILES.length + 1, bytes };
}

type Rand = (() => number) & { float: () => number };

function mulberry32(seed: number): Rand {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  return Object.assign(next, { float: () => next() / 2 ** 32 });
}

function vocabulary(rand: Rand): Buffer[] {
  return Array.from({ length: 4000 }, () => {
    const len = 2 + (rand() % 10);
    return Buffer.from(Array.from({ length: len }, () => String.fromCharCode(97 + (rand() % 26))).join(''));
  });
}

/** Words with a skewed frequency (a few very common, a long tail), spaces and newlines. */
function text(rand: Rand, words: Buffer[], n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let at = 0;
  while (at < n) {
    const word = words[Math.floor(words.length * rand.float() ** 3)]!;
    at += word.copy(out, at);
    if (at < n) out[at++] = rand() % 9 ? 0x20 : 0x0a;
  }
  return out;
}

function randomBytes(rand: Rand, n: number): Buffer {
  const words = new Uint32Array(Math.ceil(n / 4));
  for (let i = 0; i < words.length; i++) words[i] = rand();
  return Buffer.from(words.buffer, 0, n);
}
