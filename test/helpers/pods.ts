import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { emptyDir, isRoot, root } from './run.ts';

// Real pods for the integration tests under test/pod/: the probe program
// (test/fixtures/probe/probe.c) compiled statically for each arch, ACIs of it built with
// the bundled actool, and the bundled rkt (dist/rkt) run on them in a throw-away --dir.
// Every arch's image holds the same program, so a check runs the same way on each.

export type Arch = 'amd64' | 'armv6l' | 'armv7l' | 'aarch64';

export interface ArchInfo {
  arch: Arch;
  /** The C compiler for this arch on this host (scripts/lib/cross-cc.sh). */
  cc: string;
  cflags: string[];
  /** The binfmt_misc handler that runs it on this host, when it is emulated. */
  binfmt?: string;
  /** The qemu CPU model the pod runs under (QEMU_CPU), when one is needed. */
  cpu?: string;
}

/** The compiler and flags per arch, from the table the build scripts use, so the probe is built as stage1 is. */
function crossCompilers(): Map<string, Pick<ArchInfo, 'cc' | 'cflags'>> {
  const r = spawnSync('bash', [path.join(root, 'scripts/lib/cross-cc.sh')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scripts/lib/cross-cc.sh: ${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
  return new Map(lines.map((line) => {
    const [arch, cc, ...cflags] = line.trim().split(/\s+/);
    return [arch!, { cc: cc!, cflags }];
  }));
}

const CROSS = crossCompilers();

export const ARCHES: Record<Arch, ArchInfo> = {
  amd64: { arch: 'amd64', ...CROSS.get('amd64')! },
  // Debian's armel libc with ARMv6 code: what a Pi Zero (ARM1176) runs.
  armv6l: { arch: 'armv6l', ...CROSS.get('armv6l')!, binfmt: 'qemu-arm', cpu: 'arm1176' },
  armv7l: { arch: 'armv7l', ...CROSS.get('armv7l')!, binfmt: 'qemu-arm' },
  aarch64: { arch: 'aarch64', ...CROSS.get('aarch64')!, binfmt: 'qemu-aarch64' },
};

export const RKT = path.join(root, 'dist/rkt');
export const ACTOOL = path.join(root, 'dist/actool');
export const PROBE_SOURCE = path.join(root, 'test/fixtures/probe/probe.c');
export const PROBE_CACHE = path.join(root, '.cache/test-probe');
export const BUSYBOX = '/bin/busybox';
/** spec/ace.md's default PATH, which every app gets unless something sets another. */
export const ACE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** The environment rkt runs with: PATH only, unless a test adds to it. */
export const HOST_PATH = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';

export const stage1Of = (arch: Arch) => path.join(root, 'dist', `stage1-${arch}.aci`);

/** Whether a command is on PATH. */
export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function binfmtEnabled(handler: string): boolean {
  try {
    return fs.readFileSync(`/proc/sys/fs/binfmt_misc/${handler}`, 'utf8').startsWith('enabled');
  } catch {
    return false;
  }
}

/** Why pods of `arch` cannot run here (a skip message), or false when they can. */
export function whyNotArch(arch: Arch): string | false {
  const info = ARCHES[arch];
  if (!isRoot) return 'needs root: pods use namespaces and mounts';
  if (!fs.existsSync(RKT) || !fs.existsSync(ACTOOL)) return 'no dist/rkt or dist/actool: run npm run build';
  if (!fs.existsSync(stage1Of(arch))) return `no ${path.relative(root, stage1Of(arch))}: run npm run build (with ${info.cc} installed)`;
  if (!hasCommand(info.cc)) return `no ${info.cc} to build the probe for ${arch}`;
  if (info.binfmt && !binfmtEnabled(info.binfmt)) return `/proc/sys/fs/binfmt_misc/${info.binfmt} is not enabled (bash scripts/install-test-deps.sh)`;
  return false;
}

const CNI_PLUGINS = ['ptp', 'host-local', 'portmap'].map((p) => `/usr/lib/cni/${p}`);

/** Why amd64 pods on CNI networks cannot be tested here, or false when they can. */
export function whyNotCni(): string | false {
  const arch = whyNotArch('amd64');
  if (arch) return arch;
  const missing = CNI_PLUGINS.filter((p) => !fs.existsSync(p));
  if (missing.length) return `no CNI plugins ${missing.join(', ')}: apt-get install containernetworking-plugins (bash scripts/install-test-deps.sh)`;
  for (const cmd of ['ip', 'iptables-save', 'unshare', 'umount']) {
    if (!hasCommand(cmd)) return `no ${cmd}: bash scripts/install-test-deps.sh`;
  }
  return false;
}

/** Writes `file` through a temporary name in the same directory, so a concurrent reader sees all of it or nothing. */
function replaceAtomically(file: string, make: (tmp: string) => void): void {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    make(tmp);
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true, recursive: true });
  }
}

const isNewer = (file: string, than: string) => fs.existsSync(file) && fs.statSync(file).mtimeMs >= fs.statSync(than).mtimeMs;

/** The static probe for `arch`, in .cache/test-probe/<arch>/probe, built when missing or older than probe.c. */
export function probeBinary(arch: Arch): string {
  const { cc, cflags } = ARCHES[arch];
  const out = path.join(PROBE_CACHE, arch, 'probe');
  if (isNewer(out, PROBE_SOURCE)) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  replaceAtomically(out, (tmp) => {
    const r = spawnSync(cc, ['-std=c11', '-Os', '-static', '-s', '-Wall', '-Wextra', '-Werror', ...cflags, '-o', tmp, PROBE_SOURCE], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cc} probe.c for ${arch}: ${r.error?.message ?? r.stderr}`);
  });
  return out;
}

export interface ProbeImageOptions {
  /** Default example.com/probe-<arch>. */
  name?: string;
  /** The app's exec; default ["/bin/probe", "info"]. */
  exec?: string[];
  /** More of the image manifest's app: eventHandlers, mountPoints, user, group... */
  app?: Record<string, unknown>;
  /** Add the host's static x86 busybox (as /bin/busybox and /bin/sh); default: for amd64 only. */
  busybox?: boolean;
  /** Extra bytes in the rootfs, in /data/blob: a large image that takes a while to copy. */
  blobBytes?: number;
}

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n';
const GROUP = 'root:x:0:\nstaff:x:50:app\napp:x:1000:\n';

/** Builds a probe image for `arch` at `out` (an .aci path) with the bundled actool. */
export function buildProbeImage(arch: Arch, out: string, opts: ProbeImageOptions = {}): string {
  const layout = fs.mkdtempSync(path.join(os.tmpdir(), 'rkt-probe-layout-'));
  try {
    const rootfs = path.join(layout, 'rootfs');
    for (const d of ['bin', 'etc', 'root', 'home/app', 'data']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
    fs.mkdirSync(path.join(rootfs, 'tmp'));
    fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);
    fs.chownSync(path.join(rootfs, 'home/app'), 1000, 1000);
    fs.copyFileSync(probeBinary(arch), path.join(rootfs, 'bin/probe'));
    fs.chmodSync(path.join(rootfs, 'bin/probe'), 0o755);
    fs.writeFileSync(path.join(rootfs, 'etc/passwd'), PASSWD);
    fs.writeFileSync(path.join(rootfs, 'etc/group'), GROUP);
    if (opts.busybox ?? arch === 'amd64') {
      fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin/busybox'));
      fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
      fs.symlinkSync('busybox', path.join(rootfs, 'bin/sh'));
    }
    if (opts.blobBytes) {
      // Not compressible, so the ACI and the copy are as large as asked.
      const fd = fs.openSync(path.join(rootfs, 'data/blob'), 'w');
      const chunk = Buffer.alloc(1 << 20);
      for (let left = opts.blobBytes; left > 0; left -= chunk.length) fs.writeSync(fd, randomFillSync(chunk), 0, Math.min(left, chunk.length));
      fs.closeSync(fd);
    }
    const manifest = {
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: opts.name ?? `example.com/probe-${arch}`,
      labels: [
        { name: 'version', value: '1.0.0' },
        { name: 'os', value: 'linux' },
        { name: 'arch', value: arch },
      ],
      app: { exec: opts.exec ?? ['/bin/probe', 'info'], user: '0', group: '0', ...opts.app },
    };
    fs.writeFileSync(path.join(layout, 'manifest'), JSON.stringify(manifest, null, 2));
    fs.mkdirSync(path.dirname(out), { recursive: true });
    replaceAtomically(out, (tmp) => {
      const r = spawnSync(process.execPath, [ACTOOL, 'build', '--overwrite', '--owner-root', layout, tmp], { encoding: 'utf8', env: { PATH: HOST_PATH } });
      if (r.status !== 0) throw new Error(`actool build for ${arch}: ${r.stderr}`);
    });
    return out;
  } finally {
    fs.rmSync(layout, { recursive: true, force: true });
  }
}

/**
 * A probe image of `arch` cached in .cache/test-probe/<arch>/<name>.aci, rebuilt when
 * the probe, actool or this file is newer: `probe` is the default image.
 */
export function probeImage(arch: Arch, name = 'probe', opts: ProbeImageOptions = {}): string {
  const out = path.join(PROBE_CACHE, arch, `${name}.aci`);
  const bin = probeBinary(arch);
  if (isNewer(out, bin) && isNewer(out, ACTOOL) && isNewer(out, HELPER_FILE)) return out;
  return buildProbeImage(arch, out, opts);
}

const HELPER_FILE = import.meta.filename;

// ---- pods -------------------------------------------------------------------------

export interface RktResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RktOptions {
  /** Added to the environment of rkt, which otherwise has PATH only. */
  env?: Record<string, string>;
  timeoutMs?: number;
  input?: string;
}

/** A running `rkt run` (or run-prepared): stage0, then, from its exec on, stage1's outer process. */
export interface PodProcess {
  /** The child's PID: node, then the stage1 init that replaced it. */
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves once the process has exited and its output is read. */
  exited: Promise<RktResult>;
  /** Waits until stdout matches. */
  waitForStdout(pattern: RegExp, ms?: number): Promise<void>;
}

/** A pod world: a fresh --dir (and config dirs), and rkt run on it. */
export class PodWorld {
  readonly dir: string;
  readonly data: string;
  readonly #children: PodProcess[] = [];

  constructor(t: { after(fn: () => void | Promise<void>): void; diagnostic?(msg: string): void }) {
    // Registered before emptyDir's removal, so it runs first: no pod may outlive its test,
    // and no mount may be under the directory being removed.
    t.after(async () => {
      for (const child of this.#children) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // gone
        }
        await child.exited;
      }
      for (const pid of stage1Processes(this.data)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      const leaked = mountsUnder(this.dir);
      for (const m of leaked.reverse()) spawnSync('umount', ['-l', m]);
    });
    this.dir = emptyDir(t);
    this.data = path.join(this.dir, 'data');
  }

  argv(args: string[]): string[] {
    return [
      RKT,
      `--dir=${this.data}`,
      `--local-config=${path.join(this.dir, 'etc')}`,
      `--system-config=${path.join(this.dir, 'lib')}`,
      '--insecure-options=image',
      ...args,
    ];
  }

  /** `rkt ARGS` to completion. */
  rkt(args: string[], opts: RktOptions = {}): RktResult {
    const r: SpawnSyncReturns<string> = spawnSync(process.execPath, this.argv(args), {
      cwd: this.dir,
      env: { PATH: HOST_PATH, ...opts.env },
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 60_000,
      input: opts.input ?? '',
    });
    if (r.error) throw r.error;
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  }

  /** `rkt ARGS` in the background, stdin empty (/dev/null), output collected. */
  start(args: string[], opts: RktOptions = {}): PodProcess {
    const child = spawn(process.execPath, this.argv(args), {
      cwd: this.dir,
      env: { PATH: HOST_PATH, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    const exited = new Promise<RktResult>((resolve) =>
      child.on('close', (status, signal) => {
        clearTimeout(timer);
        resolve({ status, signal, stdout, stderr });
      }),
    );
    let done = false;
    void exited.then(() => (done = true));
    const proc: PodProcess = {
      pid: child.pid!,
      stdout: () => stdout,
      stderr: () => stderr,
      exited,
      async waitForStdout(pattern, ms = 30_000) {
        for (const end = Date.now() + ms; !pattern.test(stdout); await sleep(20)) {
          if (done) throw new Error(`rkt exited before its output matched ${pattern}: stdout ${JSON.stringify(stdout)}, stderr ${JSON.stringify(stderr)}`);
          if (Date.now() > end) throw new Error(`timed out waiting for ${pattern} in ${JSON.stringify(stdout)} (stderr ${JSON.stringify(stderr)})`);
        }
      },
    };
    this.#children.push(proc);
    return proc;
  }

  /** pods/<state>/<uuid>, wherever the pod is. */
  podPath(uuid: string): string | undefined {
    for (const state of ['embryo', 'prepare', 'prepared', 'run', 'exited-garbage', 'garbage']) {
      const p = path.join(this.data, 'pods', state, uuid);
      if (fs.existsSync(p)) return p;
    }
    return undefined;
  }

  /** Every pod directory: "<state>/<uuid>". */
  pods(): string[] {
    const base = path.join(this.data, 'pods');
    if (!fs.existsSync(base)) return [];
    return fs.readdirSync(base).flatMap((state) => fs.readdirSync(path.join(base, state)).map((u) => `${state}/${u}`));
  }

  /** The host PID of a running pod's PID 1 (rkt/pid), waiting for stage1 to write it. */
  async podPid(uuid: string, ms = 30_000): Promise<number> {
    const file = path.join(this.data, 'pods/run', uuid, 'rkt/pid');
    for (const end = Date.now() + ms; ; await sleep(20)) {
      const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
      if (/^\d+\n$/.test(text)) return Number(text);
      if (Date.now() > end) throw new Error(`timed out waiting for ${file}`);
    }
  }

  /** The UUID a --uuid-file-save file holds, waiting for it. */
  async uuidFrom(file: string, ms = 30_000): Promise<string> {
    for (const end = Date.now() + ms; ; await sleep(20)) {
      const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
      if (text !== '') return text;
      if (Date.now() > end) throw new Error(`timed out waiting for ${file}`);
    }
  }
}

/** What `probe info` printed: its key=value fields, its devices and its environment. */
export interface ProbeInfo {
  fields: Record<string, string>;
  dev: Record<string, string>;
  env: Record<string, string>;
}

export function parseInfo(stdout: string): ProbeInfo {
  const info: ProbeInfo = { fields: {}, dev: {}, env: {} };
  for (const line of stdout.split('\n')) {
    const kv = (s: string) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)] as const;
    if (line.startsWith('env:')) {
      const [k, v] = kv(line.slice(4));
      info.env[k] = v;
    } else if (line.startsWith('dev:')) {
      const [k, v] = kv(line.slice(4));
      info.dev[k] = v;
    } else if (line.includes('=')) {
      const [k, v] = kv(line);
      info.fields[k] = v;
    }
  }
  return info;
}

// ---- the host's view ----------------------------------------------------------------

/** Mount points (in this process's namespace) at or under `dir`, in mountinfo order. */
export function mountsUnder(dir: string): string[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => unescape(l.split(' ')[4]!))
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

export interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  cmdline: string[];
}

export function procInfo(pid: number): ProcInfo | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
    return { pid, ppid, comm, cmdline };
  } catch {
    return undefined;
  }
}

export function allProcesses(): ProcInfo[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map((e) => procInfo(Number(e)))
    .filter((p): p is ProcInfo => p !== undefined);
}

/** A /proc/<pid>/status field, e.g. VmRSS -> "1234 kB". */
export function procStatus(pid: number, field: string): string | undefined {
  try {
    const line = fs
      .readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${field}:`));
    return line?.slice(field.length + 1).trim();
  } catch {
    return undefined;
  }
}

/** Whether `pid` runs with its cwd (stage1's outer process, in the pod dir's stage1 root) or root under `dir`. */
function rootedUnder(pid: number, dir: string): boolean {
  for (const link of ['cwd', 'root']) {
    try {
      const target = fs.readlinkSync(`/proc/${pid}/${link}`);
      if (target === dir || target.startsWith(`${dir}/`)) return true;
    } catch {
      // gone, or a kernel thread
    }
  }
  return false;
}

/**
 * The processes of the pods under `dir` as the host sees them: after pivot_root a pod's
 * processes have their root in a mount namespace of their own, which /proc/<pid>/root
 * shows as "/". So a pod process is found by what it is: a stage1 init (cmdline
 * "/init run", possibly after a qemu interpreter) whose open pod lock (an fd) or pid
 * file points under `dir`, and its descendants.
 */
export function stage1Processes(dir: string): number[] {
  const procs = allProcesses();
  const mine = new Set<number>();
  for (const p of procs) {
    if (!isStage1(p)) continue;
    if (holdsUnder(p.pid, dir) || rootedUnder(p.pid, dir)) mine.add(p.pid);
  }
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) {
      if (!mine.has(p.pid) && mine.has(p.ppid)) {
        mine.add(p.pid);
        grew = true;
      }
    }
  }
  return [...mine];
}

export function isStage1(p: ProcInfo): boolean {
  const args = p.cmdline.join(' ');
  return /(^|\s)\/init run$/.test(args);
}

/** Whether one of `pid`'s open files (the pod lock) is under `dir`. */
function holdsUnder(pid: number, dir: string): boolean {
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        const target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target === dir || target.startsWith(`${dir}/`)) return true;
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // gone
  }
  return false;
}

/** Polls `cond` every 20 ms until it is true, or throws after `ms`. */
export async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await sleep(20)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
  }
}
