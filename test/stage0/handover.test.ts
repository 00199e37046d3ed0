import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePodManifest, serializePodManifest } from '../../src/appc/pod-manifest.ts';
import type { PodRuntime } from '../../src/pod/runtime.ts';
import { appRuntime } from '../helpers/app-runtime.ts';
import { emptyDir, isRoot, root } from '../helpers/run.ts';

// A real hand-over, as root: a Node child runs handOver on a pod directory made by hand
// and is replaced by a stage1 "init" that is a busybox shell script printing what it
// sees. Skipped, with the reason, when not root or without a static busybox.

const BUSYBOX = '/bin/busybox';
const skip = !isRoot ? 'needs root (namespaces and mounts)' : !isStaticBusybox() ? `needs a static ${BUSYBOX} (busybox-static)` : false;

function isStaticBusybox(): boolean {
  if (!existsSync(BUSYBOX)) return false;
  const r = spawnSync('file', ['-L', BUSYBOX], { encoding: 'utf8' });
  return r.status !== 0 || /statically linked|static-pie/.test(r.stdout);
}

const APP = '/opt/stage2/app/rootfs';

// What stage1 would do is not the point: this init only reports, one `key: value` per line.
const INIT = `#!/bin/busybox sh
B=/bin/busybox
A=${APP}
echo "argv: $0 $*"
echo "hostname: $($B hostname)"
$B mount -t proc proc /proc || echo "proc: failed"
echo "pid: $$"
echo "env: $($B tr '\\0' ' ' < /proc/$$/environ)"
echo "fds: $($B ls /proc/$$/fd | $B tr '\\n' ' ')"
$B grep FLOCK /proc/locks | $B sed 's/^/lock: /'
echo "conf: $($B tr '\\0' '|' < /rkt/stage1.conf)"
echo "stage1-dev: $($B ls /dev | $B tr '\\n' ' ')"
echo "app-dev: $($B ls -A $A/dev | $B tr '\\n' ' ')"
echo "app-pts: $($B ls -A $A/dev/pts | $B tr '\\n' ' ')"
echo "app-null: $($B chroot $A /bin/busybox sh -c 'echo x > /dev/null && /bin/busybox head -c 3 /dev/zero | /bin/busybox wc -c')"
echo "app-sys: $($B ls $A/sys | $B grep -c .)"
if $B touch $A/root-write 2>/dev/null; then echo "root: rw"; else echo "root: ro"; fi
if $B touch $A/dev/dev-write 2>/dev/null; then echo "dev: rw"; else echo "dev: ro"; fi
echo "host-vol: $($B chroot $A /bin/busybox cat /mnt/host/hostfile)"
if $B touch $A/mnt/host/from-pod 2>/dev/null; then echo "host-vol-write: rw"; else echo "host-vol-write: ro"; fi
if $B touch $A/mnt/hostro/from-pod 2>/dev/null; then echo "hostro-vol: rw"; else echo "hostro-vol: ro"; fi
echo pod-data > $A/mnt/data/file && echo "empty-vol: written"
echo "empty-vol-mode: $($B stat -c '%a %u:%g' $A/mnt/data)"
echo "net: $($B tail -n +3 /proc/net/dev | $B cut -d: -f1 | $B tr -d ' ' | $B tr '\\n' ' ')"
read line
echo "stdin: $line"
echo "stderr: works" >&2
exit 7
`;

interface Fixture {
  dir: string;
  pod: string;
  store: string;
  hostVolume: string;
}

const image = (n: string) => `sha512-${n.repeat(128)}`;

/** A pod in POD = <dir>/pods/run/<uuid>: a copy (overlay false) or trees in a store (overlay true). */
function makePod(t: Parameters<typeof emptyDir>[0], opts: { overlay: boolean; net: 'host' | 'none' }): Fixture {
  const dir = emptyDir(t);
  const uuid = '6f1a0c57-7c1b-4b0e-9b7e-2a8e3a5f7d10';
  const pod = join(dir, 'pods', 'run', uuid);
  const store = join(dir, 'store');
  const hostVolume = join(dir, 'host-volume');
  mkdirSync(join(pod, 'rkt'), { recursive: true });
  mkdirSync(hostVolume);
  writeFileSync(join(hostVolume, 'hostfile'), 'from the host\n');

  const stage1Root = opts.overlay ? join(store, 'cas/tree/tree-stage1/rootfs') : join(pod, 'stage1/rootfs');
  const appRoot = opts.overlay ? join(store, 'cas/tree/tree-app/rootfs') : join(stage1Root, APP);
  for (const r of [stage1Root, appRoot]) {
    mkdirSync(join(r, 'bin'), { recursive: true });
    copyFileSync(BUSYBOX, join(r, 'bin/busybox'));
    chmodSync(join(r, 'bin/busybox'), 0o755);
  }
  writeFileSync(join(stage1Root, 'init'), INIT, { mode: 0o755 });
  if (opts.overlay) mkdirSync(join(pod, 'stage1/rootfs'), { recursive: true });

  const app = appRuntime('app', { imageId: image('a'), exec: ['/bin/busybox', 'true'], env: ['PATH=/bin'], readOnlyRootFS: !opts.overlay });
  const runtime: PodRuntime = {
    version: 1,
    uuid,
    createdAt: new Date(0).toISOString(),
    stage1: {
      imageId: image('1'),
      treeId: 'tree-stage1',
      name: 'rkt-arm/stage1',
      arch: 'amd64',
      entrypoints: { run: '/init', enter: '/init', stop: '/init', gc: '/init' },
    },
    apps: [app],
    overlay: opts.overlay,
    options: { hostname: 'rkt-handover-test', net: opts.net, interactive: false },
  };
  writeFileSync(join(pod, 'runtime.json'), JSON.stringify(runtime));
  const manifest = parsePodManifest(
    JSON.stringify({
      acVersion: '0.8.11',
      acKind: 'PodManifest',
      apps: [
        {
          name: 'app',
          image: { id: image('a') },
          app: {
            exec: ['/bin/busybox', 'true'],
            user: '0',
            group: '0',
            mountPoints: [{ name: 'data', path: '/mnt/data' }],
          },
          readOnlyRootFS: app.readOnlyRootFS,
          mounts: [
            { volume: 'host', path: '/mnt/host' },
            { volume: 'hostro', path: '/mnt/hostro' },
          ],
        },
      ],
      volumes: [
        { name: 'host', kind: 'host', source: hostVolume },
        { name: 'hostro', kind: 'host', source: hostVolume, readOnly: true },
        { name: 'data', kind: 'empty', mode: '0750', uid: 1000, gid: 1001 },
      ],
    }),
  );
  writeFileSync(join(pod, 'pod'), serializePodManifest(manifest));
  return { dir, pod, store, hostVolume };
}

// The child: lock the pod, say which fd holds the lock, hand over.
const CHILD = `
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePodManifest } from ${JSON.stringify(join(root, 'src/appc/pod-manifest.ts'))};
import { handOver } from ${JSON.stringify(join(root, 'src/stage0/handover.ts'))};
import { tryLockFile } from ${JSON.stringify(join(root, 'src/sys/flock.ts'))};
const [pod, store] = process.argv.slice(2);
const runtime = JSON.parse(readFileSync(join(pod, 'runtime.json'), 'utf8'));
const manifest = parsePodManifest(readFileSync(join(pod, 'pod')));
const lock = tryLockFile(pod, 'exclusive');
process.stderr.write('lock-fd: ' + lock.fd + '\\n');
try {
  handOver({ path: pod, runtime, manifest, lock }, { treePath: (id) => join(store, 'cas/tree', id), stdinIsTty: false });
} catch (err) {
  process.stderr.write('handover failed: ' + err.message + '\\n');
  process.exit(254);
}
`;

interface Run {
  status: number | null;
  lines: Map<string, string[]>;
  stderr: string;
  pid: number;
}

function handOverIn(f: Fixture): Run {
  const script = join(f.dir, 'child.mjs');
  writeFileSync(script, CHILD);
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, f.pod, f.store], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', QEMU_CPU: 'arm1176', QEMU_LD_PREFIX: '/nowhere', SECRET: 'must not leak' },
    input: 'typed in\n',
    encoding: 'utf8',
    timeout: 30_000,
  });
  const lines = new Map<string, string[]>();
  for (const line of `${r.stdout}\n${r.stderr}`.split('\n')) {
    const colon = line.indexOf(': ');
    if (colon < 0) continue;
    const key = line.slice(0, colon);
    lines.set(key, [...(lines.get(key) ?? []), line.slice(colon + 2).trim()]);
  }
  return { status: r.status, lines, stderr: r.stderr, pid: r.pid ?? 0 };
}

function one(run: Run, key: string): string {
  const values = run.lines.get(key);
  assert.ok(values && values.length === 1, `expected one "${key}: " line; stderr:\n${run.stderr}`);
  return values[0]!;
}

function assertNoMountsLeft(f: Fixture): void {
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  assert.ok(!mountinfo.includes(f.dir), `a mount of the pod is visible on the host:\n${mountinfo}`);
}

test('hand-over of a copied pod: the init sees its root, /dev, volumes, the lock and only PATH and QEMU_*', { skip }, (t) => {
  const f = makePod(t, { overlay: false, net: 'host' });
  const hostHostname = hostname();
  const run = handOverIn(f);
  assert.equal(run.status, 7, `the init's exit status; stderr:\n${run.stderr}`);
  assert.equal(one(run, 'argv'), '/init run');
  assert.equal(one(run, 'hostname'), 'rkt-handover-test');
  assert.equal(hostname(), hostHostname, "the host's hostname is untouched");
  assert.equal(one(run, 'pid'), String(run.pid), 'the init is the Node process, exec-ed');

  // Only PATH and QEMU_*: the rest of the caller's environment stays behind.
  assert.deepEqual(one(run, 'env').split(' ').sort(), [
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'QEMU_CPU=arm1176',
    'QEMU_LD_PREFIX=/nowhere',
  ]);

  // fds 0-2 work (stdin read above, stderr below) and the lock fd is still open and locked.
  assert.equal(one(run, 'stdin'), 'typed in');
  assert.equal(one(run, 'stderr'), 'works');
  const lockFd = one(run, 'lock-fd');
  assert.ok(one(run, 'fds').split(' ').includes(lockFd), `fd ${lockFd} (the lock) is open in the init`);
  const podIno = statSync(f.pod).ino;
  const locks = run.lines.get('lock') ?? [];
  assert.ok(
    locks.some((l) => new RegExp(`FLOCK\\s+ADVISORY\\s+WRITE\\s+${run.pid}\\s+\\S+:${podIno}\\s`).test(l)),
    `the init holds the pod's flock:\n${locks.join('\n')}`,
  );

  // stage1.conf as stage0 wrote it.
  assert.equal(
    one(run, 'conf'),
    'version|1|interactive|0|app|app|root|/opt/stage2/app/rootfs|exec|/bin/busybox|exec|true|env|PATH=/bin|uid|0|gid|0|groups||cwd|/|caps|0|',
  );
  assert.deepEqual(one(run, 'stage1-dev').split(' ').filter(Boolean).sort(), ['console', 'null', 'zero']);
  assert.deepEqual(one(run, 'app-dev').split(' ').filter(Boolean).sort(), [
    'console', 'fd', 'full', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero',
  ]);
  assert.match(one(run, 'app-pts'), /ptmx/, 'a devpts instance of its own');
  assert.equal(one(run, 'app-null'), '3');
  assert.notEqual(one(run, 'app-sys'), '0', '/sys is bound');

  // readOnlyRootFS: the root refuses writes, its /dev and volumes do not.
  assert.equal(one(run, 'root'), 'ro');
  assert.equal(one(run, 'dev'), 'rw');
  assert.equal(one(run, 'host-vol'), 'from the host', 'the host volume is bound');
  assert.equal(one(run, 'host-vol-write'), 'rw');
  assert.equal(one(run, 'hostro-vol'), 'ro');
  assert.ok(existsSync(join(f.hostVolume, 'from-pod')));
  assert.equal(one(run, 'empty-vol'), 'written');
  assert.equal(one(run, 'empty-vol-mode'), '750 1000:1001');
  assert.equal(readFileSync(join(f.pod, 'volumes/data/file'), 'utf8'), 'pod-data\n');
  assert.notEqual(one(run, 'net'), 'lo', "net=host: the host's interfaces, not a namespace of its own");

  assert.deepEqual(readFileSync(join(f.pod, 'rkt/stage1.conf')).toString().split('\0').slice(0, 4), ['version', '1', 'interactive', '0']);
  assertNoMountsLeft(f);
});

test('hand-over of an overlay pod: roots are overlays on the store trees, writes go to POD/overlay, net=none', { skip }, (t) => {
  const f = makePod(t, { overlay: true, net: 'none' });
  const run = handOverIn(f);
  assert.equal(run.status, 7, `the init's exit status; stderr:\n${run.stderr}`);
  assert.equal(one(run, 'hostname'), 'rkt-handover-test');
  assert.equal(one(run, 'root'), 'rw');
  assert.equal(one(run, 'host-vol'), 'from the host');
  assert.equal(one(run, 'net'), 'lo', 'net=none: a network namespace with only lo');
  assert.ok(existsSync(join(f.pod, 'overlay/apps/app/upper/root-write')), "the app's write is in its upper layer");
  assert.ok(!existsSync(join(f.store, 'cas/tree/tree-app/rootfs/root-write')), 'the tree in the store is untouched');
  // Mount targets the images lack were made in the upper layers, never in the trees.
  assert.ok(existsSync(join(f.pod, 'overlay/stage1/upper/opt/stage2/app/rootfs')));
  assert.deepEqual(readdirSync(join(f.store, 'cas/tree/tree-stage1/rootfs')).sort(), ['bin', 'init']);
  assert.deepEqual(readdirSync(join(f.store, 'cas/tree/tree-app/rootfs')).sort(), ['bin']);
  assertNoMountsLeft(f);
});

test('a failed hand-over names its step and leaves no mount on the host', { skip }, (t) => {
  const f = makePod(t, { overlay: true, net: 'host' });
  // The app's tree is missing from the store: its overlay cannot be mounted.
  const runtime = JSON.parse(readFileSync(join(f.pod, 'runtime.json'), 'utf8')) as PodRuntime;
  runtime.apps[0]!.treeId = 'tree-missing';
  writeFileSync(join(f.pod, 'runtime.json'), JSON.stringify(runtime));
  const run = handOverIn(f);
  assert.equal(run.status, 254);
  assert.match(one(run, 'handover failed'), /^run: mount overlay at \/opt\/stage2\/app\/rootfs in .*: mount `.*`: /);
  assertNoMountsLeft(f);
});

test('attack: app image symlinks at mount targets (/dev -> /etc, /mnt -> a host dir) are resolved inside the pod', { skip }, (t) => {
  const f = makePod(t, { overlay: true, net: 'host' });
  const appTree = join(f.store, 'cas/tree/tree-app/rootfs');
  symlinkSync('/etc', join(appTree, 'dev'));
  symlinkSync(join(f.dir, 'outside'), join(appTree, 'mnt'));
  assert.ok(!existsSync('/etc/null'));
  const run = handOverIn(f);
  assert.equal(run.status, 7, run.stderr);
  assert.ok(!existsSync('/etc/null'), "no device target made in the host's /etc");
  assert.ok(statSync(join(f.pod, 'overlay/apps/app/upper/etc')).isDirectory(), "the /dev target is the app's own /etc");
  assert.equal(one(run, 'app-null'), '3', "the app's /dev (its /etc) has the devices");
  assert.ok(!existsSync(join(f.dir, 'outside')), 'nothing made through the /mnt link outside the pod');
  assert.equal(one(run, 'host-vol'), 'from the host');
  assert.ok(existsSync(join(f.pod, 'overlay/apps/app/upper', f.dir, 'outside/host')), 'the volume target was made inside the root');
  assertNoMountsLeft(f);
});
