import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { emptyDir, isRoot, root } from '../helpers/run.ts';

// The stage1 init (native/) against docs/stage1-interface.md. A stage1 root is built by
// hand: /init from .cache/native/<arch>/init (scripts/build-stage1.sh), /rkt/stage1.conf,
// and per app /opt/stage2/<app>/rootfs holding the host's static busybox. stage0 would
// pivot_root into it; `unshare --mount --uts --ipc chroot ROOT /init run` is enough for
// the init. The apps are x86 busybox even for the ARM inits, which run under qemu-user.

const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'env', 'id', 'cat', 'sleep', 'grep', 'pwd', 'kill', 'true'];
const HOST_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
const UNSHARE = ['--mount', '--uts', '--ipc', '--propagation', 'private', 'chroot'];
const HOST_ARCH = ({ x64: 'amd64', arm64: 'aarch64', arm: 'armv7l' } as Record<string, string>)[process.arch] ?? process.arch;

const initOf = (arch: string) => path.join(root, '.cache/native', arch, 'init');
const whyNot = !isRoot
  ? 'needs root: namespaces, chroot and mounts'
  : !fs.existsSync(BUSYBOX)
    ? `needs ${BUSYBOX} (apt-get install busybox-static)`
    : !fs.existsSync(initOf(HOST_ARCH))
      ? `no ${initOf(HOST_ARCH)}: run bash scripts/build-stage1.sh`
      : false;

interface AppConf {
  name: string;
  exec: string[];
  env?: string[];
  uid?: number;
  gid?: number;
  groups?: number[];
  cwd?: string;
  caps?: string;
  nnp?: boolean;
  preStart?: string[];
  postStop?: string[];
}

/** stage1.conf: NUL-terminated key, value, key, value...; `podKeys` go before the first app. */
function stage1Conf(apps: AppConf[], podKeys: string[] = []): Buffer {
  const kv = ['version', '1', 'interactive', '0', ...podKeys];
  for (const app of apps) {
    kv.push('app', app.name, 'root', `/opt/stage2/${app.name}/rootfs`);
    for (const arg of app.exec) kv.push('exec', arg);
    for (const e of app.env ?? ['PATH=/bin']) kv.push('env', e);
    if (app.uid !== undefined) kv.push('uid', String(app.uid));
    if (app.gid !== undefined) kv.push('gid', String(app.gid));
    if (app.groups) kv.push('groups', app.groups.join(','));
    if (app.cwd) kv.push('cwd', app.cwd);
    if (app.caps) kv.push('caps', app.caps);
    if (app.nnp) kv.push('nnp', '1');
    for (const arg of app.preStart ?? []) kv.push('pre-start', arg);
    for (const arg of app.postStop ?? []) kv.push('post-stop', arg);
  }
  return Buffer.from(kv.map((s) => `${s}\0`).join(''));
}

/** A stage1 root with `arch`'s init, the conf and a busybox rootfs per app. */
function podRoot(t: TestContext, apps: AppConf[], opts: { arch?: string; podKeys?: string[] } = {}): string {
  const dir = emptyDir(t);
  fs.copyFileSync(initOf(opts.arch ?? HOST_ARCH), path.join(dir, 'init'));
  fs.chmodSync(path.join(dir, 'init'), 0o755);
  for (const d of ['rkt', 'proc']) fs.mkdirSync(path.join(dir, d));
  fs.writeFileSync(path.join(dir, 'rkt/stage1.conf'), stage1Conf(apps, opts.podKeys));
  for (const app of apps) {
    const rootfs = appRoot(dir, app.name);
    fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
    fs.mkdirSync(path.join(rootfs, 'tmp'), { mode: 0o1777 });
    fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);
    fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin/busybox'));
    fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
    for (const applet of APPLETS) fs.symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  }
  return dir;
}

const appRoot = (dir: string, app: string) => path.join(dir, 'opt/stage2', app, 'rootfs');
const status = (dir: string, app: string) => fs.readFileSync(path.join(dir, 'rkt/status', app), 'utf8').trim();
const sh = (script: string) => ['/bin/sh', '-c', script];
const podEnv = (env: Record<string, string>) => ({ PATH: HOST_PATH, ...env });

function runPod(dir: string, env: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync('unshare', [...UNSHARE, dir, '/init', 'run'], { encoding: 'utf8', timeout: 20_000, env: podEnv(env) });
}

interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The pod in the background: unshare and chroot exec, so `pid` is stage1's outer process. */
function startPod(dir: string, extraFd?: number) {
  const stdio: ('ignore' | 'pipe' | number)[] = ['ignore', 'pipe', 'pipe'];
  if (extraFd !== undefined) stdio.push(extraFd);
  const child = spawn('unshare', [...UNSHARE, dir, '/init', 'run'], { stdio, env: podEnv({}) });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<Exited>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  void exited.then(() => clearTimeout(timer));
  return { pid: child.pid!, exited };
}

async function waitForFile(file: string, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !fs.existsSync(file); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${file}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The app traps TERM and exits 42; /ready in its root says the trap is set. */
const TRAPS_TERM = sh('trap "exit 42" TERM; echo > /ready; while true; do sleep 0.05; done');

/** Starts a pod whose app `a` runs `exec`, and waits until its root holds /ready. */
async function readyPod(t: TestContext, exec: string[], more: Partial<AppConf> = {}) {
  const dir = podRoot(t, [{ name: 'a', exec, ...more }]);
  const pod = startPod(dir);
  await waitForFile(path.join(appRoot(dir, 'a'), 'ready'));
  const pid = fs.readFileSync(path.join(dir, 'rkt/pid'), 'utf8').trim();
  return { dir, pod, pid };
}

describe('stage1 init', { skip: whyNot }, () => {
  it('exits with the app status and writes /rkt/status/<app>, /rkt/started/<app> and /rkt/pid', (t) => {
    const dir = podRoot(t, [{ name: 'a', exec: sh('exit 7') }]);
    const r = runPod(dir);
    assert.equal(r.status, 7, r.stderr);
    assert.equal(status(dir, 'a'), '7');
    assert.ok(fs.existsSync(path.join(dir, 'rkt/started/a')));
    assert.match(fs.readFileSync(path.join(dir, 'rkt/pid'), 'utf8'), /^\d+\n$/);
  });

  it('runs the app in a new PID namespace whose PID 1 is the init', (t) => {
    const dir = podRoot(t, [{ name: 'a', exec: sh('echo $$; cat /proc/1/cmdline') }]);
    const r = runPod(dir);
    assert.equal(r.status, 0, r.stderr);
    const [pid, cmdline] = r.stdout.split('\n');
    assert.ok(Number(pid) < 10, `app pid ${pid}`);
    assert.equal(cmdline, '/init\0run\0');
  });

  it('gives the app exactly its env', (t) => {
    const env = ['A=1', 'B=with space', 'EMPTY=', 'PATH=/nowhere'];
    const dir = podRoot(t, [{ name: 'a', exec: ['/bin/env'], env }]);
    const r = runPod(dir, { LEAK: 'host' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), env.sort());
  });

  it('applies uid, gid, supplementary groups and the working directory', (t) => {
    const dir = podRoot(t, [{ name: 'a', exec: sh('id -u; id -g; id -G; pwd'), uid: 65534, gid: 65533, groups: [1, 2], cwd: '/tmp' }]);
    const r = runPod(dir);
    assert.equal(r.status, 0, r.stderr);
    const [uid, gid, groups, cwd] = r.stdout.split('\n');
    assert.deepEqual([uid, gid, cwd], ['65534', '65533', '/tmp']);
    assert.deepEqual(groups!.split(' ').sort(), ['1', '2', '65533']);
  });

  it('bounds the capabilities to caps and sets no-new-privileges', (t) => {
    const exec = ['/bin/grep', '-E', '^(CapInh|CapPrm|CapEff|CapBnd|NoNewPrivs)', '/proc/self/status'];
    const dir = podRoot(t, [{ name: 'a', exec, caps: 'a80425fb', nnp: true }]);
    const r = runPod(dir);
    assert.equal(r.status, 0, r.stderr);
    const fields = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/:\s+/)));
    assert.equal(fields['CapBnd'], '00000000a80425fb');
    assert.equal(fields['CapEff'], '00000000a80425fb');
    assert.equal(fields['CapPrm'], '00000000a80425fb');
    assert.equal(BigInt(`0x${fields['CapInh']}`) & ~0xa80425fbn, 0n);
    assert.equal(fields['NoNewPrivs'], '1');
  });

  it('runs pre-start, then the app, then post-stop, in the app root as the app user', (t) => {
    const log = (what: string) => sh(`echo ${what} $(id -u) >> /tmp/log`);
    const dir = podRoot(t, [{ name: 'a', exec: log('app'), preStart: log('pre'), postStop: log('post'), uid: 65534, gid: 65534 }]);
    const r = runPod(dir);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(appRoot(dir, 'a'), 'tmp/log'), 'utf8'), 'pre 65534\napp 65534\npost 65534\n');
  });

  it('does not start an app whose pre-start fails, and takes its status', (t) => {
    const dir = podRoot(t, [{ name: 'a', exec: sh('echo > /ran'), preStart: sh('exit 9') }]);
    const r = runPod(dir);
    assert.equal(r.status, 9, r.stderr);
    assert.equal(status(dir, 'a'), '9');
    assert.ok(!fs.existsSync(path.join(appRoot(dir, 'a'), 'ran')));
    assert.ok(!fs.existsSync(path.join(dir, 'rkt/started/a')));
  });

  it('exits with the status of the first failing app in manifest order, not in time', (t) => {
    const dir = podRoot(t, [
      { name: 'a', exec: sh('exit 0') },
      { name: 'b', exec: sh('sleep 0.3; exit 4') },
      { name: 'c', exec: sh('exit 5') },
    ]);
    const r = runPod(dir);
    assert.equal(r.status, 4, r.stderr);
    assert.deepEqual(['a', 'b', 'c'].map((a) => status(dir, a)), ['0', '4', '5']);
  });

  it('reaps orphans: no zombie is left in the pod', (t) => {
    // The inner sh exits at once, leaving its sleep to PID 1, which must reap it.
    const script = 'sh -c "sleep 0.1 &"; sleep 0.5; cat /proc/[0-9]*/stat';
    const dir = podRoot(t, [{ name: 'a', exec: sh(script) }]);
    const r = runPod(dir);
    assert.equal(r.status, 0, r.stderr);
    const states = r.stdout.trim().split('\n').map((l) => l.slice(l.lastIndexOf(')') + 2, l.lastIndexOf(')') + 3));
    assert.ok(states.length >= 2, r.stdout);
    assert.ok(!states.includes('Z'), r.stdout);
  });

  it('exits 254 with one line naming an unknown stage1.conf key', (t) => {
    const dir = podRoot(t, [{ name: 'a', exec: sh('exit 0') }], { podKeys: ['bogus', '1'] });
    const r = runPod(dir);
    assert.equal(r.status, 254);
    assert.match(r.stderr, /^stage1: parse \/rkt\/stage1\.conf: unknown key "bogus"\n$/);
  });

  it('forwards SIGTERM from the outer process to the app', async (t) => {
    const { dir, pod } = await readyPod(t, TRAPS_TERM);
    process.kill(pod.pid, 'SIGTERM');
    const { code, stderr } = await pod.exited;
    assert.equal(code, 42, stderr);
    assert.equal(status(dir, 'a'), '42');
  });

  it('stop PID sends SIGTERM to the pod; --force kills it', async (t) => {
    const soft = await readyPod(t, TRAPS_TERM);
    assert.equal(spawnSync(initOf(HOST_ARCH), ['stop', soft.pid]).status, 0);
    assert.equal((await soft.pod.exited).code, 42);

    const hard = await readyPod(t, sh('trap "" TERM; echo > /ready; sleep 30'));
    assert.equal(spawnSync(initOf(HOST_ARCH), ['stop', hard.pid, '--force']).status, 0);
    assert.equal((await hard.pod.exited).code, 128 + 9);
  });

  it('enter PID APP CMD runs CMD in the app root, its PID namespace and cwd, with its env', async (t) => {
    const { dir, pod, pid } = await readyPod(t, TRAPS_TERM, { cwd: '/tmp' });
    try {
      fs.writeFileSync(path.join(appRoot(dir, 'a'), 'marker'), 'in the app root');
      const r = spawnSync(initOf(HOST_ARCH), ['enter', pid, 'a', '/bin/sh', '-c', 'cat /marker; echo; cat /proc/1/cmdline; echo; echo $$; pwd; env'], {
        encoding: 'utf8',
        env: { LEAK: 'host' },
      });
      assert.equal(r.status, 0, r.stderr);
      const [marker, cmdline, ownPid, cwd, ...env] = r.stdout.trim().split('\n');
      assert.equal(marker, 'in the app root');
      assert.equal(cmdline, '/init\0run\0');
      assert.ok(Number(ownPid) < 100, `pid ${ownPid}`);
      assert.equal(cwd, '/tmp');
      assert.ok(env.includes('PATH=/bin') && !env.some((e) => e.startsWith('LEAK=')), env.join(' '));
      const exit = spawnSync(initOf(HOST_ARCH), ['enter', pid, 'a', '/bin/sh', '-c', 'exit 3']);
      assert.equal(exit.status, 3);
    } finally {
      process.kill(pod.pid, 'SIGTERM');
      await pod.exited;
    }
  });

  it('keeps the fds it inherits (the pod lock) open, and does not pass them to the apps', async (t) => {
    const dir = podRoot(t, [{ name: 'a', exec: sh('[ -e /proc/self/fd/3 ] && echo has3 || echo no3; echo > /ready; sleep 30') }]);
    const lock = fs.openSync(path.join(dir, 'rkt/stage1.conf'), 'r');
    const pod = startPod(dir, lock);
    fs.closeSync(lock);
    try {
      await waitForFile(path.join(appRoot(dir, 'a'), 'ready'));
      assert.ok(fs.existsSync(`/proc/${pod.pid}/fd/3`), 'the outer process closed fd 3');
    } finally {
      process.kill(pod.pid, 'SIGTERM');
    }
    assert.equal((await pod.exited).stdout, 'no3\n');
  });

  it('stop and enter refuse PIDs that kill(2) would read as a group; gc exits 0', () => {
    for (const pid of ['0', '1', '-1', '']) {
      const r = spawnSync(initOf(HOST_ARCH), ['stop', pid], { encoding: 'utf8' });
      assert.equal(r.status, 254);
      assert.match(r.stderr, /^stage1: pid .* is not a process id above 1\n$/);
    }
    assert.equal(spawnSync(initOf(HOST_ARCH), ['gc', '6d3a0c1e-0000-4000-8000-000000000000']).status, 0);
  });
});

// The same smoke test for each ARM init, under qemu-user through binfmt_misc.
const ARM = [
  { arch: 'armv6l', qemu: 'qemu-arm', cpu: 'arm1176' },
  { arch: 'armv7l', qemu: 'qemu-arm', cpu: undefined },
  { arch: 'aarch64', qemu: 'qemu-aarch64', cpu: undefined },
];

for (const { arch, qemu, cpu } of ARM) {
  const handler = `/proc/sys/fs/binfmt_misc/${qemu}`;
  const skip = whyNot
    ? whyNot
    : !fs.existsSync(initOf(arch))
      ? `no ${initOf(arch)} (its cross compiler is missing; see scripts/build-stage1.sh)`
      : arch !== HOST_ARCH && !fs.readFileSync(handler, 'utf8').startsWith('enabled')
        ? `${handler} is not enabled (bash scripts/install-test-deps.sh)`
        : false;
  describe(`stage1 init for ${arch}${cpu ? ` on QEMU_CPU=${cpu}` : ''}`, { skip }, () => {
    it('runs apps in its PID namespace with exactly their env and exits with the failing status', (t) => {
      const apps = [
        { name: 'a', exec: ['/bin/env'], env: ['A=1', 'PATH=/bin'] },
        { name: 'b', exec: sh('echo $$ > /out; cat /proc/1/cmdline >> /out; exit 3') },
      ];
      const dir = podRoot(t, apps, { arch });
      const r = runPod(dir, cpu ? { QEMU_CPU: cpu } : {});
      assert.equal(r.status, 3, r.stderr);
      assert.deepEqual([status(dir, 'a'), status(dir, 'b')], ['0', '3']);
      assert.deepEqual(r.stdout.trim().split('\n').sort(), ['A=1', 'PATH=/bin']);
      const [pid, cmdline] = fs.readFileSync(path.join(appRoot(dir, 'b'), 'out'), 'utf8').split('\n');
      assert.ok(Number(pid) < 10, `app pid ${pid}`);
      // Under binfmt_misc PID 1's command line starts with the qemu interpreter.
      assert.ok(cmdline!.endsWith('/init\0run\0'), JSON.stringify(cmdline));
    });

    if (cpu === 'arm1176') {
      it('is the only ARM init that runs there: the armv7l one dies with SIGILL', (t) => {
        if (!fs.existsSync(initOf('armv7l'))) return t.skip('no armv7l init to compare with');
        const r = spawnSync(initOf('armv7l'), ['gc', 'x'], { env: { QEMU_CPU: cpu } });
        assert.equal(r.signal, 'SIGILL');
      });
    }
  });
}
