import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { App, MountPoint, RuntimeApp, Volume } from '../../src/appc/types.ts';
import type { AppRuntime, PodRuntime, RunOptions } from '../../src/pod/runtime.ts';
import { overlayEscape, planMounts, type MountOp, type MountPlanInput } from '../../src/stage0/mount-plan.ts';
import { UserError } from '../../src/util/errors.ts';
import { appRuntime } from '../helpers/app-runtime.ts';
import { root as repoRoot } from '../helpers/run.ts';

const POD = '/var/lib/rkt/pods/run/1234';
const S1 = `${POD}/stage1/rootfs`;
const treePath = (id: string) => `/var/lib/rkt/cas/tree/${id}`;

function imageApp(mountPoints: MountPoint[]): App {
  return {
    exec: ['/bin/true'],
    eventHandlers: [],
    user: '0',
    group: '0',
    supplementaryGIDs: [],
    environment: [],
    mountPoints,
    ports: [],
    isolators: [],
    userAnnotations: {},
    userLabels: {},
  };
}

function runtimeApp(name: string, mounts: RuntimeApp['mounts'] = [], mountPoints?: MountPoint[]): RuntimeApp {
  return {
    name,
    image: { id: 'sha512-' + '0'.repeat(128), labels: [] },
    ...(mountPoints ? { app: imageApp(mountPoints) } : {}),
    readOnlyRootFS: false,
    mounts,
    annotations: [],
  };
}

function input(opts: {
  apps?: AppRuntime[];
  manifestApps?: RuntimeApp[];
  volumes?: Volume[];
  overlay?: boolean;
  interactive?: boolean;
  tty?: string;
  imageMountPoints?: Map<string, MountPoint[]>;
  runOptions?: Partial<RunOptions>;
}): MountPlanInput {
  const apps = opts.apps ?? [appRuntime('app')];
  const runtime: PodRuntime = {
    version: 1,
    uuid: '1234',
    createdAt: '2024-01-01T00:00:00Z',
    stage1: {
      imageId: 'sha512-' + '1'.repeat(128),
      treeId: 'tree-stage1',
      name: 'rkt-arm/stage1',
      arch: 'amd64',
      entrypoints: { run: '/init', enter: '/init', stop: '/init', gc: '/init' },
    },
    apps,
    overlay: opts.overlay ?? false,
    options: { hostname: 'pod', net: 'host', interactive: opts.interactive ?? false, ...opts.runOptions },
  };
  return {
    podPath: POD,
    runtime,
    manifest: { apps: opts.manifestApps ?? apps.map((a) => runtimeApp(a.name)), volumes: opts.volumes ?? [] },
    imageMountPoints: opts.imageMountPoints,
    tty: opts.tty,
    treePath,
  };
}

/** One line per operation, for readable comparisons. */
function show(op: MountOp): string {
  const at = (p: { root: string; path: string }) => `${p.root.replace(POD, 'POD')}:${p.path}`;
  switch (op.op) {
    case 'mkdir':
      return `mkdir ${at(op.target)}${op.owner ? ` ${op.owner.mode.toString(8)} ${op.owner.uid}:${op.owner.gid}` : ''}`;
    case 'mount':
      return `mount ${op.fstype} ${at(op.target)} [${op.flags.join(',')}] ${op.data.replaceAll(POD, 'POD')}`;
    case 'bind':
      return `bind ${typeof op.source === 'string' ? op.source : at(op.source)} ${at(op.target)}${op.recursive ? ' rec' : ''}${op.readOnly ? ' ro' : ''}${op.flags.length ? ` [${op.flags.join(',')}]` : ''}`;
    case 'bind-device':
      return `dev ${op.source} ${at(op.target)}`;
    case 'symlink':
      return `ln ${at(op.target)} -> ${op.linkTo}`;
    case 'remount-ro':
      return `ro ${at(op.target)}`;
  }
}

const APP_ROOT = 'POD/stage1/rootfs/opt/stage2/app/rootfs';

test('copy mode: the whole ordered plan for one app with a read-only root', () => {
  const plan = planMounts(input({ apps: [appRuntime('app', { readOnlyRootFS: true })] }));
  assert.equal(plan.stage1Root, S1);
  assert.deepEqual(plan.ops.map(show), [
    'bind POD:stage1/rootfs POD:stage1/rootfs',
    'mkdir POD:rkt',
    'bind POD:rkt POD/stage1/rootfs:/rkt',
    'mount tmpfs POD/stage1/rootfs:/dev [nosuid,noexec] mode=0755',
    'dev /dev/null POD/stage1/rootfs:/dev/null',
    'dev /dev/zero POD/stage1/rootfs:/dev/zero',
    'dev /dev/null POD/stage1/rootfs:/dev/console',
    'mkdir POD/stage1/rootfs:/proc',
    'bind POD/stage1/rootfs:/opt/stage2/app/rootfs POD/stage1/rootfs:/opt/stage2/app/rootfs',
    `mount tmpfs ${APP_ROOT}:/dev [nosuid,noexec] mode=0755`,
    `dev /dev/null ${APP_ROOT}:/dev/null`,
    `dev /dev/zero ${APP_ROOT}:/dev/zero`,
    `dev /dev/full ${APP_ROOT}:/dev/full`,
    `dev /dev/random ${APP_ROOT}:/dev/random`,
    `dev /dev/urandom ${APP_ROOT}:/dev/urandom`,
    `dev /dev/tty ${APP_ROOT}:/dev/tty`,
    `dev /dev/null ${APP_ROOT}:/dev/console`,
    `mount devpts ${APP_ROOT}:/dev/pts [nosuid,noexec] newinstance,ptmxmode=0666,mode=0620,gid=5`,
    `ln ${APP_ROOT}:/dev/ptmx -> pts/ptmx`,
    `mount tmpfs ${APP_ROOT}:/dev/shm [nosuid,nodev,noexec] mode=1777`,
    `ln ${APP_ROOT}:/dev/fd -> /proc/self/fd`,
    `ln ${APP_ROOT}:/dev/stdin -> /proc/self/fd/0`,
    `ln ${APP_ROOT}:/dev/stdout -> /proc/self/fd/1`,
    `ln ${APP_ROOT}:/dev/stderr -> /proc/self/fd/2`,
    `bind /sys ${APP_ROOT}:/sys ro [nosuid,nodev,noexec]`,
    `mkdir ${APP_ROOT}:/proc`,
    'ro POD/stage1/rootfs:/opt/stage2/app/rootfs',
  ]);
});

test('overlay mode: stage1 and each app are overlays on their trees, upper and work in POD/overlay/stage1 and POD/overlay/apps/<name>', () => {
  const plan = planMounts(input({ overlay: true, apps: [appRuntime('web'), appRuntime('db')] }));
  const lines = plan.ops.map(show);
  assert.deepEqual(lines.slice(0, 3), [
    'mkdir POD:overlay/stage1/upper',
    'mkdir POD:overlay/stage1/work',
    'mount overlay POD:stage1/rootfs [] lowerdir=/var/lib/rkt/cas/tree/tree-stage1/rootfs,upperdir=POD/overlay/stage1/upper,workdir=POD/overlay/stage1/work',
  ]);
  const web = lines.indexOf(
    'mount overlay POD/stage1/rootfs:/opt/stage2/web/rootfs [] lowerdir=/var/lib/rkt/cas/tree/tree-web/rootfs,upperdir=POD/overlay/apps/web/upper,workdir=POD/overlay/apps/web/work',
  );
  const db = lines.indexOf(
    'mount overlay POD/stage1/rootfs:/opt/stage2/db/rootfs [] lowerdir=/var/lib/rkt/cas/tree/tree-db/rootfs,upperdir=POD/overlay/apps/db/upper,workdir=POD/overlay/apps/db/work',
  );
  assert.ok(web > 3 && db > web, 'apps in manifest order, after the stage1 root');
  assert.deepEqual(lines.slice(web - 2, web), ['mkdir POD:overlay/apps/web/upper', 'mkdir POD:overlay/apps/web/work']);
  assert.ok(lines[db + 1]!.startsWith('mount tmpfs POD/stage1/rootfs/opt/stage2/db/rootfs:/dev '));
  assert.ok(!lines.some((l) => l.startsWith('ro ')), 'no read-only root asked for');
});

test('overlay options escape the separators overlayfs splits at', () => {
  assert.equal(overlayEscape('/a,b:c\\d'), '/a\\,b\\:c\\\\d');
  const plan = planMounts({ ...input({ overlay: true }), treePath: (id) => `/store,x:y/${id}` });
  const overlay = plan.ops.find((op) => op.op === 'mount' && op.fstype === 'overlay');
  assert.ok(overlay && overlay.op === 'mount');
  assert.match(overlay.data, /^lowerdir=\/store\\,x\\:y\/tree-stage1\/rootfs,/);
});

test('an app named stage1 gets its own overlay, not the stage1 one', () => {
  const ops = planMounts(input({ overlay: true, apps: [appRuntime('stage1')] })).ops;
  const uppers = ops.filter((op) => op.op === 'mount' && op.fstype === 'overlay').map((op) => (op.op === 'mount' ? op.data.match(/upperdir=([^,]*)/)![1] : ''));
  assert.deepEqual(uppers, [`${POD}/overlay/stage1/upper`, `${POD}/overlay/apps/stage1/upper`]);
});

test('console: the terminal only with --interactive and a terminal on stdin', () => {
  const consoles = (over: { interactive: boolean; tty?: string }) =>
    planMounts(input(over))
      .ops.filter((op) => op.op === 'bind-device' && op.target.path === '/dev/console')
      .map((op) => (op.op === 'bind-device' ? op.source : ''));
  assert.deepEqual(consoles({ interactive: true, tty: '/dev/pts/3' }), ['/dev/pts/3', '/dev/pts/3']);
  assert.deepEqual(consoles({ interactive: false, tty: '/dev/pts/3' }), ['/dev/null', '/dev/null']);
  assert.deepEqual(consoles({ interactive: true }), ['/dev/null', '/dev/null']);
});

function volumeLines(over: Parameters<typeof input>[0]): string[] {
  return planMounts(input(over))
    .ops.map(show)
    .filter((l) => !/:\/(dev|sys|proc|rkt)\b|stage1\/rootfs( |:\/opt\/stage2\/\w+\/rootfs$)|mkdir POD:rkt/.test(l));
}

test('host volumes: recursive unless recursive:false; read-only from the volume or the mountPoint', () => {
  const volumes: Volume[] = [
    { name: 'logs', kind: 'host', source: '/var/log' },
    { name: 'flat', kind: 'host', source: '/srv', recursive: false },
    { name: 'conf', kind: 'host', source: '/etc/app', readOnly: true },
    { name: 'data', kind: 'host', source: '/data' },
  ];
  const mounts = [
    { volume: 'logs', path: '/var/log' },
    { volume: 'flat', path: '/srv' },
    { volume: 'conf', path: '/etc/app' },
    { volume: 'data', path: '/data' },
  ];
  const mountPoints: MountPoint[] = [{ name: 'data', path: '/data', readOnly: true }];
  assert.deepEqual(volumeLines({ volumes, manifestApps: [runtimeApp('app', mounts, mountPoints)] }), [
    `bind /var/log ${APP_ROOT}:/var/log rec`,
    `bind /srv ${APP_ROOT}:/srv`,
    `bind /etc/app ${APP_ROOT}:/etc/app rec ro`,
    `bind /data ${APP_ROOT}:/data rec ro`,
  ]);
});

test('empty volumes live in POD/volumes/<name>, made once with their mode and owner, shared by apps', () => {
  const volumes: Volume[] = [{ name: 'scratch', kind: 'empty', mode: '1770', uid: 1000, gid: 50 }];
  const mounts = [{ volume: 'scratch', path: '/tmp/s' }];
  const lines = volumeLines({
    apps: [appRuntime('a'), appRuntime('b')],
    volumes,
    manifestApps: [runtimeApp('a', mounts), runtimeApp('b', mounts)],
  });
  assert.deepEqual(lines, [
    'mkdir POD:volumes/scratch 1770 1000:50',
    'bind POD:volumes/scratch POD/stage1/rootfs/opt/stage2/a/rootfs:/tmp/s',
    'bind POD:volumes/scratch POD/stage1/rootfs/opt/stage2/b/rootfs:/tmp/s',
  ]);
  const defaults = volumeLines({ volumes: [{ name: 'e', kind: 'empty' }], manifestApps: [runtimeApp('app', [{ volume: 'e', path: '/e' }])] });
  assert.equal(defaults[0], 'mkdir POD:volumes/e 755 0:0');
});

test('a mountPoint is fulfilled by a mount at its path, by a mount of its name, or by the pod volume of its name', () => {
  const volumes: Volume[] = [
    { name: 'v1', kind: 'host', source: '/v1' },
    { name: 'work', kind: 'host', source: '/work' },
    { name: 'cache', kind: 'empty' },
  ];
  const mountPoints: MountPoint[] = [
    { name: 'by-path', path: '/var/lib/x', readOnly: true },
    { name: 'work', path: '/work', readOnly: false },
    { name: 'cache', path: '/var/cache', readOnly: false },
  ];
  const mounts = [
    { volume: 'v1', path: '/var/lib/x/' },
    { volume: 'work', path: '/elsewhere' },
  ];
  assert.deepEqual(volumeLines({ volumes, manifestApps: [runtimeApp('app', mounts, mountPoints)] }), [
    `bind /v1 ${APP_ROOT}:/var/lib/x/ rec ro`,
    `bind /work ${APP_ROOT}:/elsewhere rec`,
    'mkdir POD:volumes/cache 755 0:0',
    `bind POD:volumes/cache ${APP_ROOT}:/var/cache`,
  ]);
});

test("a mount's appVolume overrides the pod's volume of that name", () => {
  const volumes: Volume[] = [{ name: 'v', kind: 'host', source: '/pod-level' }];
  const mounts = [{ volume: 'v', path: '/v', appVolume: { name: 'v', kind: 'host' as const, source: '/app-level', readOnly: true } }];
  assert.deepEqual(volumeLines({ volumes, manifestApps: [runtimeApp('app', mounts)] }), [`bind /app-level ${APP_ROOT}:/v rec ro`]);
});

test('the image mountPoints are used for an app whose manifest entry has no app', () => {
  const volumes: Volume[] = [{ name: 'data', kind: 'host', source: '/d' }];
  const imageMountPoints = new Map([['app', [{ name: 'data', path: '/data', readOnly: true }]]]);
  assert.deepEqual(volumeLines({ volumes, imageMountPoints }), [`bind /d ${APP_ROOT}:/data rec ro`]);
  // A manifest entry with an app wins over the image's.
  assert.deepEqual(volumeLines({ volumes, imageMountPoints, manifestApps: [runtimeApp('app', [], [])] }), []);
});

test('a mount naming an unknown volume is a one-line UserError naming the app and the volume', () => {
  assert.throws(
    () => planMounts(input({ manifestApps: [runtimeApp('app', [{ volume: 'nope', path: '/x' }])] })),
    (err: unknown) => err instanceof UserError && err.message === 'app app: mount at /x names volume nope, which the pod does not define',
  );
});

test('a mountPoint with no mount and no volume is an error that says how to give one', () => {
  assert.throws(
    () => planMounts(input({ manifestApps: [runtimeApp('app', [], [{ name: 'data', path: '/data', readOnly: false }])] })),
    (err: unknown) =>
      err instanceof UserError && err.message === 'app app needs volume data: give --volume data,kind=host,source=PATH or kind=empty',
  );
});

test('an app of runtime.json missing from the manifest is refused', () => {
  assert.throws(() => planMounts(input({ apps: [appRuntime('app')], manifestApps: [] })), /runtime.json names app app/);
});

test("--dns and --hosts-entry: POD/resolv.conf and POD/hosts bound read-only onto each app's /etc, before its volumes and the read-only root", () => {
  const plan = planMounts(
    input({
      apps: [appRuntime('app', { readOnlyRootFS: true })],
      manifestApps: [runtimeApp('app', [{ volume: 'etc', path: '/etc' }])],
      volumes: [{ name: 'etc', kind: 'empty' }],
      runOptions: {
        dns: { mode: 'pod', nameservers: ['192.0.2.53'], search: [], options: [] },
        hosts: { mode: 'pod', entries: [{ ip: '192.0.2.10', names: ['db'] }] },
      },
    }),
  );
  const lines = plan.ops.map(show);
  const at = (prefix: string) => lines.findIndex((l) => l.startsWith(prefix));
  assert.ok(lines.includes(`bind POD:resolv.conf ${APP_ROOT}:/etc/resolv.conf ro [nosuid,nodev,noexec]`), lines.join('\n'));
  assert.ok(lines.includes(`bind POD:hosts ${APP_ROOT}:/etc/hosts ro [nosuid,nodev,noexec]`));
  assert.ok(at('bind POD:hosts') < at('bind POD:volumes/etc'), 'a volume at /etc hides them, and they are never made in it');
  assert.ok(at('bind POD:hosts') < at('ro '));
});

test('--dns=none, or no flags: no resolv.conf or hosts bind', () => {
  for (const runOptions of [{}, { dns: { mode: 'none' as const, nameservers: [], search: [], options: [] } }]) {
    const lines = planMounts(input({ runOptions })).ops.map(show);
    assert.ok(!lines.some((l) => l.includes('/etc/')), lines.join('\n'));
  }
});

test('every target is inside a root stage0 controls: the pod, the stage1 root or an app root mounted before', () => {
  const volumes: Volume[] = [{ name: 'e', kind: 'empty' }];
  const plan = planMounts(
    input({ overlay: true, apps: [appRuntime('a'), appRuntime('b')], volumes, manifestApps: [runtimeApp('a', [{ volume: 'e', path: '/../../e' }]), runtimeApp('b')] }),
  );
  const mounted = new Set([POD, S1]);
  for (const op of plan.ops) {
    assert.ok(mounted.has(op.target.root), `${show(op)}: root not yet mounted`);
    if (op.op === 'mount' && op.fstype === 'overlay' && op.target.root === S1) mounted.add(join(S1, op.target.path));
  }
});

test('mount-plan is pure: it imports no fs, no FFI and nothing Linux-only', () => {
  const source = readFileSync(join(repoRoot, 'src/stage0/mount-plan.ts'), 'utf8');
  const imports = [...source.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
  assert.deepEqual(imports, ['node:path', '../appc/types.ts', '../pod/layout.ts', '../pod/runtime.ts', '../util/errors.ts', './dns.ts']);
  // dns.ts, pure as well: node:net only for isIP.
  const dns = readFileSync(join(repoRoot, 'src/stage0/dns.ts'), 'utf8');
  assert.deepEqual([...dns.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]), ['node:net', '../pod/runtime.ts', '../util/errors.ts']);
});
