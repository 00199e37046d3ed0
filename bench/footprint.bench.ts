import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import zlib from 'node:zlib';
import { benchTmp, repoRoot, rkt } from './lib/paths.ts';
import { median, type CaseResult } from './lib/report.ts';
import type { BenchCase } from './lib/types.ts';
import { aptInstall, gcPods, host, installed, preparePodImages, rktDir, rktRunArgv, rktRunUnavailable, SLEEP_IMAGE } from './pod-start.bench.ts';

// What rkt costs a board: (a) the files installed for one arch (dist/rkt carrying only
// that arch's koffi native, and dist/stage1-<arch>.aci), against runc's one binary;
// (b) the memory a running pod keeps, which should be stage1's small init and no Node.
// Both are measured in setup and reported under the table; the timed case is the start
// of dist/rkt with all natives against the same bundle with only this host's.

const root = join(benchTmp, 'footprint-v1');
const ARCHES = ['armv6l', 'armv7l', 'aarch64', 'amd64'] as const;
/** koffi's build each board loads (src/sys/koffi-embedded.ts): 32-bit ARM has only armhf. */
const TRIPLET: Record<(typeof ARCHES)[number], string> = {
  armv6l: 'linux_armhf',
  armv7l: 'linux_armhf',
  aarch64: 'linux_arm64',
  amd64: 'linux_x64',
};
const SIZE_TARGET = 3e6;
const RSS_TARGET_KB = 1000;
const variantOf = (arch: string) => join(root, `rkt-${arch}`);

// ---- (a) install size ----------------------------------------------------------------

interface ArchSize {
  arch: string;
  rkt: number;
  stage1: number | null;
  /** The koffi.node written to the FFI cache on first use (not part of the install). */
  ffiCache: number;
}

interface Sizes {
  all: number;
  /** How many natives dist/rkt embeds. */
  natives: number;
  arches: ArchSize[];
  peers: { cmd: string; path: string; bytes: number }[];
}

let sizes: Sizes | undefined;
let sizeError: string | undefined;

/**
 * dist/rkt with only one arch's koffi native: scripts/bundle.mjs embeds all three as
 * `NATIVES={linux_x64:{sha256:"…",brotli:"…"},…}`, so dropping the other entries from
 * the built file gives exactly what a one-arch build would (the source map aside).
 */
function singleArchBundles(): Sizes {
  const text = readFileSync(rkt, 'latin1');
  const at = text.indexOf('NATIVES={');
  if (at < 0) throw new Error('no `NATIVES={` in dist/rkt: scripts/bundle.mjs embeds koffi differently now, update bench/footprint.bench.ts');
  const entry = /(linux_[a-z0-9]+):\{sha256:"([0-9a-f]{64})",brotli:"([A-Za-z0-9+/=]*)"\}/y;
  const entries = new Map<string, { text: string; brotli: string }>();
  let pos = at + 'NATIVES={'.length;
  for (;;) {
    entry.lastIndex = pos;
    const m = entry.exec(text);
    if (!m) break;
    entries.set(m[1]!, { text: m[0], brotli: m[3]! });
    pos = entry.lastIndex;
    if (text[pos] === ',') pos++;
  }
  if (text[pos] !== '}' || entries.size === 0) throw new Error('dist/rkt: NATIVES is not a list of {sha256, brotli}: update bench/footprint.bench.ts');
  mkdirSync(root, { recursive: true });
  const arches = ARCHES.map((arch): ArchSize => {
    const own = entries.get(TRIPLET[arch]);
    if (!own) throw new Error(`dist/rkt embeds no ${TRIPLET[arch]} native`);
    const variant = text.slice(0, at) + `NATIVES={${own.text}}` + text.slice(pos + 1);
    writeFileSync(variantOf(arch), variant, 'latin1');
    chmodSync(variantOf(arch), 0o755);
    const stage1 = join(repoRoot, 'dist', `stage1-${arch}.aci`);
    return {
      arch,
      rkt: statSync(variantOf(arch)).size,
      stage1: existsSync(stage1) ? statSync(stage1).size : null,
      ffiCache: zlib.brotliDecompressSync(Buffer.from(own.brotli, 'base64')).length,
    };
  });
  const peers = ['runc', 'crun'].flatMap((cmd) => {
    const path = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim();
    return path ? [{ cmd, path, bytes: statSync(path).size }] : [];
  });
  return { all: statSync(rkt).size, natives: entries.size, arches, peers };
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(2);

function sizeTable(s: Sizes): string {
  const runc = s.peers.find((p) => p.cmd === 'runc');
  const rows = s.arches.map((a) => {
    const total = a.stage1 === null ? null : a.rkt + a.stage1;
    return [
      a.arch,
      mb(a.rkt),
      a.stage1 === null ? 'not built' : mb(a.stage1),
      total === null ? '' : `**${mb(total)}**`,
      total === null ? '' : `${(total / SIZE_TARGET).toFixed(2)}x ${total <= SIZE_TARGET ? 'met' : '**missed**'}`,
      total === null || !runc ? '' : `${(total / runc.bytes).toFixed(2)}x`,
      mb(a.ffiCache),
    ];
  });
  return [
    '### install size for one arch',
    '',
    '| arch | dist/rkt, one native (MB) | dist/stage1-ARCH.aci (MB) | total MB | vs 3 MB target | vs runc | FFI cache on first use (MB) |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    `dist/rkt as built, with all ${s.natives} natives: ${mb(s.all)} MB (dist/rkt.map is not installed).` +
      (s.peers.length ? ` Peers, installed binary on this host (amd64, Debian): ${s.peers.map((p) => `${p.cmd} ${mb(p.bytes)} MB`).join(', ')}.` : ''),
  ].join('\n');
}

// ---- (b) memory of a running pod -----------------------------------------------------

interface Proc {
  role: string;
  pid: number;
  exe: string;
  rssKb: number | null;
  /** From smaps_rollup: pages shared with n processes count 1/n; and the private dirty pages. */
  pssKb: number | null;
  dirtyKb: number | null;
}

interface PodMemory {
  procs: Proc[];
  /** Processes of the pod, or naming its --dir, that are Node. */
  nodes: string[];
  /** From the command to rkt/pid appearing. */
  startMs: number;
}

let memory: PodMemory | undefined;
let memoryError: string | undefined;

function statusField(pid: number, field: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s*(.*)$`, 'm'))?.[1];
  } catch {
    return undefined;
  }
}

function kb(value: string | undefined): number | null {
  return value === undefined ? null : Number.parseInt(value, 10);
}

function rollup(pid: number, field: string): number | null {
  try {
    return kb(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').match(new RegExp(`^${field}:\\s*(\\d+)`, 'm'))?.[1]);
  } catch {
    return null;
  }
}

function exeOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '?';
  }
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

function proc(role: string, pid: number): Proc {
  return {
    role,
    pid,
    exe: exeOf(pid),
    rssKb: kb(statusField(pid, 'VmRSS')),
    pssKb: rollup(pid, 'Pss'),
    dirtyKb: rollup(pid, 'Private_Dirty'),
  };
}

async function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return Promise.race([new Promise<boolean>((resolve) => child.once('exit', () => resolve(true))), sleep(ms).then(() => false)]);
}

/** Start a pod whose app sleeps, read its processes once it runs, then stop it. */
async function podMemory(image: string): Promise<PodMemory> {
  gcPods();
  const runDir = join(rktDir, 'pods', 'run');
  const before = new Set(existsSync(runDir) ? readdirSync(runDir) : []);
  const [file, ...args] = rktRunArgv(image);
  const start = performance.now();
  const child = spawn(file!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  try {
    let pidFile: string | undefined;
    while (!pidFile) {
      const uuid = (existsSync(runDir) ? readdirSync(runDir) : []).find((u) => !before.has(u) && existsSync(join(runDir, u, 'rkt', 'pid')));
      if (uuid) pidFile = join(runDir, uuid, 'rkt', 'pid');
      else if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`rkt run exited ${child.exitCode ?? child.signalCode} before the pod ran: ${stderr.trim().split('\n').pop() ?? ''}`);
      } else if (performance.now() - start > 20_000) throw new Error('no pods/run/<uuid>/rkt/pid after 20 s');
      else await sleep(5);
    }
    const startMs = performance.now() - start;
    let pid1 = NaN;
    // stage1 writes the file; wait until it holds a whole number.
    for (let i = 0; i < 200 && !(pid1 > 0); i++, await sleep(5)) pid1 = Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
    if (!(pid1 > 0)) throw new Error(`${pidFile} holds no PID`);
    await sleep(200); // let the app start and PID 1 settle
    const outer = Number(statusField(pid1, 'PPid'));
    const pids = allPids();
    const ppid = new Map(pids.map((p) => [p, Number(statusField(p, 'PPid'))]));
    const procs = [proc(outer === child.pid ? 'outer stage1 (the `rkt run` process, exec\'d)' : 'outer stage1 (parent of PID 1)', outer), proc('pod PID 1', pid1)];
    for (const p of pids) if (ppid.get(p) === pid1) procs.push(proc(`app: ${cmdlineOf(p)}`, p));
    // Node left behind would be a descendant of the command, or name the pod's --dir.
    const tree = new Set([child.pid!]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const p of pids) if (!tree.has(p) && tree.has(ppid.get(p)!)) (tree.add(p), (grew = true));
    }
    const nodes = pids
      .filter((p) => tree.has(p) || cmdlineOf(p).includes(rktDir))
      .filter((p) => /(^|\/)node[0-9.]*$/.test(exeOf(p)) || exeOf(p) === process.execPath)
      .map((p) => `${p}: ${cmdlineOf(p)}`);
    return { procs, nodes, startMs };
  } finally {
    child.kill('SIGTERM');
    if (!(await waitExit(child, 10_000))) {
      child.kill('SIGKILL');
      await waitExit(child, 5_000);
    }
    gcPods();
  }
}

function memoryTable(m: PodMemory): string {
  const stage1 = m.procs.slice(0, 2);
  const sum = (xs: (number | null)[]) => xs.reduce<number>((a, b) => a + (b ?? 0), 0);
  const rows = m.procs.map((p) => `| ${p.role} | ${p.pid} | \`${p.exe}\` | ${p.rssKb ?? '?'} | ${p.pssKb ?? '?'} | ${p.dirtyKb ?? '?'} |`);
  const total = (f: (p: Proc) => number | null) => `**${sum(stage1.map(f))}**`;
  return [
    '### memory of a running pod (`/bin/sleep 30`)',
    '',
    '| process | host PID | executable | VmRSS kB | Pss kB | Private_Dirty kB |',
    '|---|---:|---|---:|---:|---:|',
    ...rows,
    `| **stage1 total** (outer + PID 1) | | | ${total((p) => p.rssKb)} | ${total((p) => p.pssKb)} | ${total((p) => p.dirtyKb)} |`,
  ].join('\n');
}

// ---- the bench -----------------------------------------------------------------------

async function setup(): Promise<void> {
  aptInstall({ runc: 'runc', crun: 'crun' });
  try {
    sizes = singleArchBundles();
  } catch (err) {
    sizeError = (err as Error).message;
  }
  preparePodImages();
  const why = rktRunUnavailable();
  if (why) memoryError = `not measured: ${why}`;
  else {
    try {
      memory = await podMemory(SLEEP_IMAGE);
    } catch (err) {
      memoryError = `failed: ${(err as Error).message}`;
    }
  }
}

export const notes = `
What rkt costs a board, measured in setup and tabled under the timings.

Install size: what a board of one arch needs besides Node, \`dist/rkt\` and
\`dist/stage1-<arch>.aci\`. \`dist/rkt\` as built embeds koffi's native part for every
arch (brotli, base64: about 0.28 MB each); a board needs only its own, so the size
counted is that of a one-arch variant made from the built file by dropping the other
arches' entries from its \`NATIVES\` table, which is what scripts/bundle.mjs would emit
if its target list (\`TARGETS\` in scripts/koffi-natives.mjs) could be narrowed to one
arch, e.g. by an \`RKT_ARCH\` variable or a \`--arch\` flag (it cannot yet). 32-bit ARM
boards both load koffi's armhf build. The comparison is runc's single installed binary.
On first use rkt also writes the native, uncompressed, to its FFI cache
(\`$RKT_FFI_CACHE\`, \`$XDG_CACHE_HOME/rkt\` or the temp dir): its own column, not
counted in the total. Nor is the stage1 image's copy in the store once fetched.

Memory: setup starts \`rkt run\` of an app \`/bin/sleep 30\` (the busybox rootfs of
the pod-start benchmark), waits for \`pods/run/<uuid>/rkt/pid\`, then reads VmRSS and Pss
(\`/proc/PID/status\`, \`smaps_rollup\`) of the stage1 processes, the pod's PID 1 (the PID
in \`rkt/pid\`) and its parent, the outer stage1 process that stage0 became, and of the
app, and looks for any Node process in the pod's process tree or naming its --dir.

Targets (from the issue, reported, not asserted): the install for one arch under 3 MB;
stage1's resident memory while a pod runs under 1 MB, with no Node process left.

The timed case is the start of \`rkt version\`, which loads the FFI part: the full bundle
against the one-arch variant for this host shows what parsing the other arches' natives
costs at every command.
`;

export function verdict(results: CaseResult[]): string {
  const lines: string[] = [];
  if (installed.length) lines.push(`Setup installed ${installed.join(', ')} with apt-get for this run.`, '');
  if (sizes) lines.push(sizeTable(sizes), '');
  else lines.push(`Install size not measured: ${sizeError ?? 'setup did not run'}.`, '');
  if (memory) {
    lines.push(memoryTable(memory), '', `\`rkt run\` took ${(memory.startMs / 1000).toFixed(3)} s from the command to \`rkt/pid\`.`, '');
  } else lines.push(`Memory of a running pod ${memoryError ?? 'not measured: setup did not run'}.`, '');
  if (sizes) {
    for (const a of sizes.arches) {
      if (a.stage1 === null) lines.push(`- Size, ${a.arch}: no verdict, dist/stage1-${a.arch}.aci is not built.`);
      else {
        const total = a.rkt + a.stage1;
        lines.push(`- Size, ${a.arch}: ${mb(total)} MB; target 3 MB: ${total <= SIZE_TARGET ? 'met' : '**missed**'}.`);
      }
    }
  }
  if (memory) {
    const stage1 = memory.procs.slice(0, 2);
    const sum = (f: (p: Proc) => number | null) => stage1.reduce((a, p) => a + (f(p) ?? 0), 0);
    const met = (kB: number) => (kB < RSS_TARGET_KB ? 'met' : '**missed**');
    const each = Math.max(...stage1.map((p) => p.rssKb ?? Infinity));
    lines.push(
      `- Memory, target under 1 MB (${RSS_TARGET_KB} kB): each stage1 process at most ${each} kB VmRSS: ${met(each)}; ` +
        `both together ${sum((p) => p.rssKb)} kB VmRSS: ${met(sum((p) => p.rssKb))}, which counts twice the pages of \`/init\` ` +
        `they share; ${sum((p) => p.pssKb)} kB Pss (shared pages split between them): ${met(sum((p) => p.pssKb))}. ` +
        `Of that, ${sum((p) => p.dirtyKb)} kB is private dirty memory; the rest is the binary's own pages, from the page cache.`,
    );
    lines.push(
      memory.nodes.length
        ? `- Node processes left while the pod runs: **${memory.nodes.length}** (${memory.nodes.map((n) => `\`${n}\``).join(', ')}).`
        : '- No Node process left while the pod runs: met.',
    );
  }
  const c = results[0];
  if (c) {
    const wall = (label: string) => median(c.results.find((r) => r.runner.label === label)?.samples.map((s) => s.wallMs) ?? []);
    const ratio = wall('rkt version') / wall(`rkt version, ${host.arch} native only`);
    if (!Number.isNaN(ratio)) {
      lines.push(`- Start: the bundle with every native took ${ratio.toFixed(2)}x the time of the one-arch variant${Math.abs(ratio - 1) < 0.1 ? ': no difference beyond this VM\'s noise' : ''}.`);
    }
  }
  return lines.join('\n');
}

export const cases: BenchCase[] = [
  {
    name: 'start dist/rkt (rkt version)',
    setup,
    baseline: { label: 'node -e 0', cmd: 'node -e 0' },
    candidates: [
      { label: 'rkt version', cmd: `node ${rkt} version` },
      {
        label: `rkt version, ${host.arch} native only`,
        cmd: `node ${variantOf(host.arch)} version`,
        unavailable: () => (existsSync(variantOf(host.arch)) ? null : `no one-arch variant: ${sizeError ?? 'not made'}`),
      },
    ],
  },
];
