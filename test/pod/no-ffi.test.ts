import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ACTOOL, BUSYBOX, HOST_PATH, PodWorld, allProcesses, isStage1, mountsUnder, stage1Of, whyNotArch } from '../helpers/pods.ts';

// rkt run where koffi cannot load, as on a Pi Zero: RKT_FFI=off in rkt's environment.
// stage0 then writes its mount plan to POD/rkt/stage0-plan.conf and the stage1 init's
// `takeover` verb sets the pod up (native/takeover.c), while rkt waits beside it. Real
// pods as root, with busybox images: what the app sees, what the host keeps (no mount,
// nothing made through an image's symlinks), signals, enter and stop. The amd64 stage1
// resolves paths with openat2; the armv6l one, under qemu-user (which has no openat2),
// with its own walk.

const NO_FFI = { RKT_FFI: 'off' };
const NOTICE =
  /^rkt: the FFI part cannot load here \(turned off by RKT_FFI=off\): stage1 sets up the pod itself and rkt stays beside it while the pod runs \(about 40 MB\)$/gm;
const APPLETS = ['sh', 'cat', 'cut', 'echo', 'head', 'hostname', 'ls', 'sleep', 'tail', 'touch', 'tr', 'wc'];
/** What a pod binds or links into an app's /dev: none of it may appear in the host's /etc. */
const DEV_NAMES = ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'console', 'pts', 'ptmx', 'shm', 'fd', 'stdin', 'stdout', 'stderr'];

const skip = whyNotArch('amd64') || (fs.existsSync(BUSYBOX) ? false : `needs a static ${BUSYBOX} (apt-get install busybox-static)`);

/** The app's view, one `key: value` line each; exits 7. */
const REPORT = `
echo "hostname: $(hostname)"
echo "dev: $(ls -A /dev | tr '\\n' ' ')"
echo "null: $(echo x > /dev/null && head -c 3 /dev/zero | wc -c)"
echo "host-vol: $(cat /mnt/host/hostfile)"
echo from-pod > /mnt/host/from-pod && echo "host-vol-write: ok"
echo pod-data > /mnt/data/file && echo "empty-vol: written"
if touch /root-write 2>/dev/null; then echo "root: rw"; else echo "root: ro"; fi
echo "net: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')"
exit 7
`;

/** Traps TERM, says ready and waits: SIGTERM must reach it (exit 42). */
const TRAPS_TERM = 'trap "exit 42" TERM; echo ready; while true; do sleep 0.1; done';

interface ImageSpec {
  name: string;
  /** Directories in the rootfs. */
  dirs?: string[];
  /** Symbolic links in the rootfs: path -> target. */
  links?: Record<string, string>;
  /** Regular files in the rootfs: path -> content. */
  files?: Record<string, string>;
}

/** A busybox image for amd64 (the applets as links), its app `busybox sh -c true` (runs replace the arguments). */
function buildImage(dir: string, spec: ImageSpec): string {
  const layout = fs.mkdtempSync(path.join(dir, 'layout-'));
  const rootfs = path.join(layout, 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const applet of APPLETS) fs.symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  for (const dir of spec.dirs ?? []) fs.mkdirSync(path.join(rootfs, dir));
  for (const [file, content] of Object.entries(spec.files ?? {})) fs.writeFileSync(path.join(rootfs, file), content);
  for (const [link, target] of Object.entries(spec.links ?? {})) fs.symlinkSync(target, path.join(rootfs, link));
  const manifest = {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: `example.com/${spec.name}`,
    labels: [
      { name: 'version', value: '1.0.0' },
      { name: 'os', value: 'linux' },
      { name: 'arch', value: 'amd64' },
    ],
    app: { exec: ['/bin/busybox', 'sh', '-c', 'true'], user: '0', group: '0' },
  };
  fs.writeFileSync(path.join(layout, 'manifest'), JSON.stringify(manifest));
  const out = path.join(dir, `${spec.name}.aci`);
  const r = spawnSync(process.execPath, [ACTOOL, 'build', '--owner-root', layout, out], { encoding: 'utf8', env: { PATH: HOST_PATH } });
  assert.equal(r.status, 0, `actool build ${spec.name}: ${r.stderr}`);
  return out;
}

/** The `key: value` lines of a run's stdout; each key once. */
function report(stdout: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const colon = line.indexOf(': ');
    if (colon < 0) continue;
    const key = line.slice(0, colon);
    assert.ok(!(key in fields), `"${key}" reported twice:\n${stdout}`);
    fields[key] = line.slice(colon + 2).trim();
  }
  return fields;
}

function rkt(w: PodWorld, args: string[], env: Record<string, string> = {}) {
  return w.rkt(args, { env: { ...NO_FFI, ...env } });
}

function assertNotice(stderr: string): void {
  assert.equal(stderr.match(NOTICE)?.length, 1, `the notice, once:\n${stderr}`);
}

function assertNoMounts(w: PodWorld): void {
  assert.deepEqual(mountsUnder(w.dir), [], 'a mount of the pod is visible on the host');
}

function hostVolume(w: PodWorld): string {
  const dir = path.join(w.dir, 'host-volume');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'hostfile'), 'from the host\n');
  return dir;
}

const uuidOf = (file: string) => fs.readFileSync(file, 'utf8').trim();

/**
 * Runs REPORT in the busybox image with a host volume at /mnt/host and an empty one at
 * /mnt/data, `podFlags` before the image and `appFlags` after it; checks that it exits
 * with REPORT's 7 and prints the notice once.
 */
function runReport(w: PodWorld, podFlags: string[], appFlags: string[] = [], env: Record<string, string> = {}) {
  const host = hostVolume(w);
  const r = rkt(
    w,
    [
      'run',
      ...podFlags,
      `--volume=host,kind=host,source=${host}`,
      '--volume=data,kind=empty',
      img,
      ...appFlags,
      '--mount=volume=host,target=/mnt/host',
      '--mount=volume=data,target=/mnt/data',
      '--',
      'sh',
      '-c',
      REPORT,
    ],
    env,
  );
  assert.equal(r.status, 7, r.stderr);
  assertNotice(r.stderr);
  return { r, seen: report(r.stdout), host };
}

let images: string;
let img: string;
let attackImg: string;
let brokenImg: string;

function buildImages(): void {
  images = fs.mkdtempSync(path.join(os.tmpdir(), 'rkt-no-ffi-images-'));
  img = buildImage(images, { name: 'bb' });
  // The image's /dev leads to its /etc and its /mnt to its root: followed from the
  // host, the pod's devices would land in the host's /etc and a volume target in /.
  attackImg = buildImage(images, { name: 'bb-attack', dirs: ['etc'], links: { dev: '/etc', mnt: '/' } });
  // A mount target under a regular file: the takeover's make fails with ENOTDIR.
  brokenImg = buildImage(images, { name: 'bb-broken', files: { mnt: 'a file, not a directory\n' } });
}

/** Runs the attack image with a host volume at /mnt/<unique>; checks the host before and after. */
function runAttack(w: PodWorld, podFlags: string[], env: Record<string, string> = {}): void {
  const unique = `rkt-no-ffi-escape-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const inHostEtc = () => DEV_NAMES.filter((n) => fs.existsSync(path.join('/etc', n)));
  assert.deepEqual(inHostEtc(), [], 'the host /etc holds none of the names beforehand');
  assert.ok(!fs.existsSync(`/${unique}`));
  const uuidFile = path.join(w.dir, `uuid-${unique}`);
  const script = `echo x > /dev/null && echo "null: ok"; echo "etc: $(ls -A /etc | tr '\\n' ' ')"; echo "vol: $(cat /mnt/${unique}/hostfile)"`;
  const r = rkt(
    w,
    ['run', `--uuid-file-save=${uuidFile}`, `--volume=host,kind=host,source=${hostVolume(w)}`, ...podFlags, attackImg, `--mount=volume=host,target=/mnt/${unique}`, '--', 'sh', '-c', script],
    env,
  );
  assert.equal(r.status, 0, r.stderr);
  const seen = report(r.stdout);
  assert.deepEqual(inHostEtc(), [], "nothing made or mounted in the host's /etc");
  assert.ok(!fs.existsSync(`/${unique}`), 'no volume target made in the host /');
  assert.equal(seen['null'], 'ok', "the app's /dev (its own /etc) has the devices");
  assert.ok(seen['etc']!.split(' ').includes('null'), seen['etc']);
  assert.equal(seen['vol'], 'from the host', 'the volume is at /mnt -> / inside the image');
  const upper = path.join(w.podPath(uuidOf(uuidFile))!, 'overlay/apps/bb-attack/upper');
  assert.ok(fs.statSync(path.join(upper, unique)).isDirectory(), 'the volume target was made inside the root');
  assertNoMounts(w);
}

describe('rkt run without FFI (RKT_FFI=off): stage1 takes over', { skip }, () => {
  before(buildImages);
  after(() => fs.rmSync(images, { recursive: true, force: true }));

  test('on overlays: exit status, one notice, hostname, /dev, a host and an empty volume; no mount left', (t) => {
    const w = new PodWorld(t);
    const uuidFile = path.join(w.dir, 'uuid');
    const { r, seen, host } = runReport(w, [`--uuid-file-save=${uuidFile}`, '--hostname=pi-zero']);
    assert.doesNotMatch(r.stderr, /overlay unusable/, 'the overlay probe works without FFI (mount(8))');
    assert.equal(seen['hostname'], 'pi-zero');
    assert.notEqual(os.hostname(), 'pi-zero', "the host's hostname is untouched");
    assert.deepEqual(seen['dev']!.split(' ').sort(), [...DEV_NAMES].sort());
    assert.equal(seen['null'], '3');
    assert.equal(seen['host-vol'], 'from the host');
    assert.equal(seen['host-vol-write'], 'ok');
    assert.equal(fs.readFileSync(path.join(host, 'from-pod'), 'utf8'), 'from-pod\n');
    assert.equal(seen['empty-vol'], 'written');
    assert.equal(seen['root'], 'rw');
    assert.notEqual(seen['net'], 'lo', "the host's network");
    const pod = w.podPath(uuidOf(uuidFile))!;
    assert.equal(fs.readFileSync(path.join(pod, 'volumes/data/file'), 'utf8'), 'pod-data\n');
    assert.ok(fs.existsSync(path.join(pod, 'overlay/apps/bb/upper/root-write')), "the app's write is in its upper layer");
    assert.ok(fs.existsSync(path.join(pod, 'rkt/stage0-plan.conf')));
    assert.match(rkt(w, ['status', uuidOf(uuidFile)]).stdout, /^state=exited$[^]*^app-bb=7$/m);
    assertNoMounts(w);
  });

  test('--no-overlay, --readonly-rootfs and --net=none', (t) => {
    const w = new PodWorld(t);
    const uuidFile = path.join(w.dir, 'uuid');
    const { seen } = runReport(w, [`--uuid-file-save=${uuidFile}`, '--no-overlay', '--net=none'], ['--readonly-rootfs']);
    const uuid = uuidOf(uuidFile);
    assert.equal(seen['hostname'], `rkt-${uuid}`);
    assert.equal(seen['root'], 'ro', '--readonly-rootfs');
    assert.equal(seen['host-vol-write'], 'ok', 'a volume stays writable in a read-only root');
    assert.equal(seen['empty-vol'], 'written');
    assert.equal(seen['net'], 'lo', 'net=none: a network namespace with only lo');
    const pod = w.podPath(uuid)!;
    assert.ok(!fs.existsSync(path.join(pod, 'overlay')), 'no overlay with --no-overlay');
    assert.ok(fs.existsSync(path.join(pod, 'stage1/rootfs/opt/stage2/bb/rootfs/bin/busybox')), 'the app is a copy in the stage1 root');
    assert.ok(!fs.existsSync(path.join(pod, 'stage1/rootfs/opt/stage2/bb/rootfs/root-write')));
    assertNoMounts(w);
  });

  test("attack: the image's /dev -> /etc and /mnt -> / are resolved inside it (openat2)", (t) => {
    runAttack(new PodWorld(t), []);
  });

  test('a failing step is named on one line, rkt exits 254 and no mount is left', (t) => {
    const w = new PodWorld(t);
    const uuidFile = path.join(w.dir, 'uuid');
    const r = rkt(w, ['run', `--uuid-file-save=${uuidFile}`, `--volume=host,kind=host,source=${hostVolume(w)}`, brokenImg, '--mount=volume=host,target=/mnt/host']);
    assert.equal(r.status, 254, r.stderr);
    assertNotice(r.stderr);
    assert.match(r.stderr, /^stage1: takeover: bind \S+ at \/mnt\/host in \S+: make in the root: Not a directory$/m);
    assert.match(rkt(w, ['status', uuidOf(uuidFile)]).stdout, /^state=exited$/m, 'the lock went with stage1');
    assertNoMounts(w);
  });

  test('rkt stays beside the pod and passes SIGTERM on: the app traps it, rkt exits 42', async (t) => {
    const w = new PodWorld(t);
    const uuidFile = path.join(w.dir, 'uuid');
    const pod = w.start(['run', `--uuid-file-save=${uuidFile}`, img, '--', 'sh', '-c', TRAPS_TERM], { env: NO_FFI });
    await pod.waitForStdout(/^ready$/m);
    const uuid = await w.uuidFrom(uuidFile);
    const children = allProcesses().filter((p) => p.ppid === pod.pid);
    assert.ok(children.some(isStage1), `stage1 ("/init run") is rkt's child: ${JSON.stringify(children)}`);
    assert.match(rkt(w, ['status', uuid]).stdout, /^state=running$/m);
    process.kill(pod.pid, 'SIGTERM');
    const r = await pod.exited;
    assert.equal(r.status, 42, r.stderr);
    assertNotice(r.stderr);
    assert.match(rkt(w, ['status', uuid]).stdout, /^app-bb=42$/m);
    assertNoMounts(w);
  });

  test('rkt enter runs beside the pod (no execve) and passes the exit status; rkt stop stops it', async (t) => {
    const w = new PodWorld(t);
    const uuidFile = path.join(w.dir, 'uuid');
    const pod = w.start(['run', `--uuid-file-save=${uuidFile}`, '--hostname=entered', img, '--', 'sh', '-c', TRAPS_TERM], { env: NO_FFI });
    await pod.waitForStdout(/^ready$/m);
    const uuid = await w.uuidFrom(uuidFile);
    const entered = rkt(w, ['enter', uuid, '/bin/busybox', 'hostname']);
    assert.equal(entered.status, 0, entered.stderr);
    assert.equal(entered.stdout, 'entered\n');
    assert.equal(rkt(w, ['enter', uuid, '/bin/busybox', 'sh', '-c', 'exit 3']).status, 3);
    const stop = rkt(w, ['stop', uuid]);
    assert.equal(stop.status, 0, stop.stderr);
    assert.equal((await pod.exited).status, 42);
    assertNoMounts(w);
  });
});

// The Pi Zero's own stage1, an ARM1176 under qemu-user: no openat2 there, so every
// path goes through the init's component-by-component walk.
describe('rkt run without FFI with the armv6l stage1 (QEMU_CPU=arm1176)', { skip: skip || whyNotArch('armv6l') }, () => {
  const env = { QEMU_CPU: 'arm1176' };
  const stage1 = () => `--stage1-path=${stage1Of('armv6l')}`;
  before(buildImages);
  after(() => fs.rmSync(images, { recursive: true, force: true }));

  test('exit status, hostname, /dev and volumes', (t) => {
    const w = new PodWorld(t);
    const { seen } = runReport(w, [stage1(), '--hostname=pi-zero'], [], env);
    assert.equal(seen['hostname'], 'pi-zero');
    assert.deepEqual(seen['dev']!.split(' ').sort(), [...DEV_NAMES].sort());
    assert.equal(seen['host-vol'], 'from the host');
    assert.equal(seen['empty-vol'], 'written');
    assertNoMounts(w);
  });

  test("attack: the image's /dev -> /etc and /mnt -> / are resolved inside it (the walk)", (t) => {
    runAttack(new PodWorld(t), [stage1()], env);
  });
});
