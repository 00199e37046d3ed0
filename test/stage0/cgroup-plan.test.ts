import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { emptyApp } from '../../src/appc/app.ts';
import type { App, Isolator, PodManifest } from '../../src/appc/types.ts';
import { splitRunArgs } from '../../src/stage0/app-args.ts';
import { applyAppArgs } from '../../src/stage0/app-runtime.ts';
import { cpuShares, cpuWeight, planPodCgroups, quotaUs, type CgroupProbe } from '../../src/stage0/cgroup-plan.ts';
import { CGROUPS_RECORD, probeCgroups, removePodCgroups, setUpPodCgroups } from '../../src/stage0/cgroups.ts';
import { serializeStage1Conf } from '../../src/stage0/stage1-conf.ts';
import { UserError } from '../../src/util/errors.ts';
import { appRuntime } from '../helpers/app-runtime.ts';

// The pod's cgroups as data (src/stage0/cgroup-plan.ts), the probe and the set-up on
// fake cgroup trees (src/stage0/cgroups.ts), and the --memory/--cpu flags. Real pods
// under real cgroups: test/pod/isolators.test.ts.

const UUID = '6f1b8c2e-0f3a-4c55-9d9e-1b2c3d4e5f60';

const memory = (limit?: string, request?: string): Isolator => ({ name: 'resource/memory', value: { ...(limit ? { limit } : {}), ...(request ? { request } : {}) } });
const cpu = (limit?: string, request?: string): Isolator => ({ name: 'resource/cpu', value: { ...(limit ? { limit } : {}), ...(request ? { request } : {}) } });

const V2: CgroupProbe = { hierarchies: [{ version: 2, mount: '/sys/fs/cgroup', name: '', controllers: ['memory', 'cpu'] }], missing: {} };
const V1: CgroupProbe = {
  hierarchies: [
    { version: 1, mount: '/sys/fs/cgroup/memory', name: 'memory', controllers: ['memory'] },
    { version: 1, mount: '/sys/fs/cgroup/cpu,cpuacct', name: 'cpu,cpuacct', controllers: ['cpu'] },
  ],
  missing: {},
};
const PI_NO_MEMORY: CgroupProbe = {
  hierarchies: [{ version: 2, mount: '/sys/fs/cgroup', name: '', controllers: ['cpu'] }],
  missing: { memory: 'the memory cgroup controller is disabled (add cgroup_enable=memory cgroup_memory=1 to /boot/firmware/cmdline.txt and reboot)' },
};

function plan(probe: CgroupProbe, apps: { name: string; isolators: Isolator[] }[], podIsolators: Isolator[] = []) {
  return planPodCgroups({ uuid: UUID, apps, podIsolators, probe });
}

/** The writes as "path=value", optional ones marked with "?". */
function writes(p: ReturnType<typeof plan>): string[] {
  return p.writes.map((w) => `${w.path}=${w.value}${w.optional ? '?' : ''}`);
}

describe('planPodCgroups', () => {
  test('cgroup v2: the pod, a stage1 leaf and a leaf per app; controllers enabled top-down, then the limits', () => {
    const p = plan(V2, [
      { name: 'web', isolators: [memory('32M')] },
      { name: 'db', isolators: [cpu('500m', '250m')] },
    ]);
    const pod = `/sys/fs/cgroup/rkt/${UUID}`;
    assert.deepEqual(p.mkdirs, ['/sys/fs/cgroup/rkt', pod, `${pod}/stage1.init`, `${pod}/web`, `${pod}/db`]);
    assert.deepEqual(writes(p), [
      '/sys/fs/cgroup/cgroup.subtree_control=+memory',
      '/sys/fs/cgroup/cgroup.subtree_control=+cpu',
      '/sys/fs/cgroup/rkt/cgroup.subtree_control=+memory',
      '/sys/fs/cgroup/rkt/cgroup.subtree_control=+cpu',
      `${pod}/cgroup.subtree_control=+memory`,
      `${pod}/cgroup.subtree_control=+cpu`,
      // request defaults to limit (spec/ace.md)
      `${pod}/web/memory.max=32000000`,
      `${pod}/web/memory.swap.max=0?`,
      `${pod}/web/memory.low=32000000`,
      `${pod}/db/cpu.max=50000 100000`,
      `${pod}/db/cpu.weight=25`,
    ]);
    assert.deepEqual(p.podDirs, [pod]);
    assert.deepEqual(p.binds, [{ source: '/sys/fs/cgroup/rkt', target: '/sys/fs/cgroup' }]);
    assert.deepEqual(p.pod, [`/sys/fs/cgroup/${UUID}`]);
    assert.deepEqual([...p.apps], [
      ['web', [`/sys/fs/cgroup/${UUID}/web`]],
      ['db', [`/sys/fs/cgroup/${UUID}/db`]],
    ]);
    assert.deepEqual(p.notices, []);
    assert.ok(p.writes.slice(0, 6).every((w) => w.enables !== undefined));
  });

  test('cgroup v1: one tree per hierarchy, no controller to enable, a memory limit before its memsw', () => {
    const p = plan(V1, [{ name: 'web', isolators: [memory('128Mi', '64Mi'), cpu('2')] }]);
    const mem = `/sys/fs/cgroup/memory/rkt/${UUID}`;
    const cpuDir = `/sys/fs/cgroup/cpu,cpuacct/rkt/${UUID}`;
    assert.deepEqual(p.mkdirs, ['/sys/fs/cgroup/memory/rkt', mem, `${mem}/stage1.init`, `${mem}/web`, '/sys/fs/cgroup/cpu,cpuacct/rkt', cpuDir, `${cpuDir}/stage1.init`, `${cpuDir}/web`]);
    assert.deepEqual(writes(p), [
      `${mem}/web/memory.limit_in_bytes=134217728`,
      `${mem}/web/memory.memsw.limit_in_bytes=134217728?`,
      `${mem}/web/memory.soft_limit_in_bytes=67108864`,
      `${cpuDir}/web/cpu.cfs_period_us=100000`,
      `${cpuDir}/web/cpu.cfs_quota_us=200000`,
      `${cpuDir}/web/cpu.shares=2048`,
    ]);
    assert.deepEqual(p.binds, [
      { source: '/sys/fs/cgroup/memory/rkt', target: '/sys/fs/cgroup/memory' },
      { source: '/sys/fs/cgroup/cpu,cpuacct/rkt', target: '/sys/fs/cgroup/cpu,cpuacct' },
    ]);
    assert.deepEqual(p.pod, [`/sys/fs/cgroup/memory/${UUID}`, `/sys/fs/cgroup/cpu,cpuacct/${UUID}`]);
    assert.deepEqual(p.apps.get('web'), [`/sys/fs/cgroup/memory/${UUID}/web`, `/sys/fs/cgroup/cpu,cpuacct/${UUID}/web`]);
  });

  test('a pod without resource isolators still gets its cgroups, and v2 enables no controller for it', () => {
    const p = plan(V2, [{ name: 'web', isolators: [] }]);
    assert.deepEqual(p.writes, []);
    assert.equal(p.mkdirs.length, 4);
    assert.deepEqual(p.notices, []);
  });

  test('only the controllers some isolator needs are enabled', () => {
    const p = plan(V2, [{ name: 'web', isolators: [cpu('1')] }]);
    assert.deepEqual(
      p.writes.filter((w) => w.enables).map((w) => w.value),
      ['+cpu', '+cpu', '+cpu'],
    );
  });

  test('a missing controller: one line per isolator, naming every app and how to enable it; the rest applies', () => {
    const p = plan(PI_NO_MEMORY, [
      { name: 'web', isolators: [memory('32M'), cpu('1')] },
      { name: 'db', isolators: [memory('64M')] },
    ]);
    assert.deepEqual(p.notices, [
      'rkt: isolator resource/memory of apps web, db ignored: the memory cgroup controller is disabled (add cgroup_enable=memory cgroup_memory=1 to /boot/firmware/cmdline.txt and reboot)',
    ]);
    assert.ok(writes(p).includes(`/sys/fs/cgroup/rkt/${UUID}/web/cpu.max=100000 100000`));
    assert.ok(!writes(p).some((w) => w.includes('memory')));
  });

  test('unknown isolators, and spec isolators this runtime does not implement, are reported as ignored', () => {
    const p = plan(
      V2,
      [
        {
          name: 'web',
          isolators: [
            { name: 'example.com/foo', value: { x: 1 } },
            { name: 'os/linux/seccomp-retain-set', value: { set: ['read'] } },
            { name: 'os/linux/no-new-privileges', value: true },
            { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_KILL'] } },
          ],
        },
        { name: 'db', isolators: [{ name: 'example.com/foo', value: null }] },
      ],
      [{ name: 'os/linux/no-new-privileges', value: true }, { name: 'os/unix/sysctl', value: {} }],
    );
    assert.deepEqual(p.notices, [
      'rkt: isolator os/linux/no-new-privileges of the pod ignored: it applies to apps, not to a pod; give it to each app',
      'rkt: isolator os/unix/sysctl of the pod ignored: not implemented by this runtime',
      'rkt: isolator example.com/foo of apps web, db ignored: unknown to this runtime',
      'rkt: isolator os/linux/seccomp-retain-set of app web ignored: not implemented by this runtime',
    ]);
  });

  test("pod isolators go on the pod's cgroup and bound the apps' (spec/ace.md)", () => {
    const p = plan(V1, [{ name: 'web', isolators: [cpu('2'), memory('1G')] }, { name: 'db', isolators: [cpu('500m')] }], [cpu('1'), memory('512M')]);
    const mem = `/sys/fs/cgroup/memory/rkt/${UUID}`;
    const cpuDir = `/sys/fs/cgroup/cpu,cpuacct/rkt/${UUID}`;
    assert.ok(writes(p).includes(`${mem}/memory.limit_in_bytes=512000000`));
    assert.ok(writes(p).includes(`${cpuDir}/cpu.cfs_quota_us=100000`));
    // The pod's quota is written before the apps': v1 refuses a child's above its parent's.
    assert.ok(writes(p).indexOf(`${cpuDir}/cpu.cfs_quota_us=100000`) < writes(p).indexOf(`${cpuDir}/web/cpu.cfs_quota_us=100000`));
    assert.ok(writes(p).includes(`${cpuDir}/db/cpu.cfs_quota_us=50000`));
    assert.ok(writes(p).includes(`${mem}/web/memory.limit_in_bytes=512000000`));
    assert.deepEqual(p.notices, [
      "rkt: isolator resource/memory of app web modified: limit 1G is above the pod's, 512M; using the pod's",
      "rkt: isolator resource/cpu of app web modified: limit 2 is above the pod's, 1; using the pod's",
    ]);
  });

  test('CPU values the kernel cannot take are clamped, and said so', () => {
    const p = plan(V1, [{ name: 'web', isolators: [cpu('5m', '1m')] }]);
    assert.deepEqual(p.notices, [
      'rkt: isolator resource/cpu of app web modified: limit 5m is below the least CFS quota the kernel takes (1 ms per 100 ms); using 10m',
      'rkt: isolator resource/cpu of app web modified: request 1m is outside what cpu.shares takes (2m to 256); using 2m',
    ]);
    assert.ok(writes(p).some((w) => w.endsWith('/web/cpu.cfs_quota_us=1000')));
    assert.ok(writes(p).some((w) => w.endsWith('/web/cpu.shares=2')));
  });

  test('no hierarchy at all: no cgroup, and each resource isolator ignored with the reason', () => {
    const p = plan({ hierarchies: [], missing: { memory: 'there is no cgroup hierarchy at /sys/fs/cgroup', cpu: 'there is no cgroup hierarchy at /sys/fs/cgroup' } }, [
      { name: 'web', isolators: [memory('32M'), cpu('1')] },
    ]);
    assert.deepEqual(p.mkdirs, []);
    assert.deepEqual(p.podDirs, []);
    assert.deepEqual(p.notices, [
      'rkt: isolator resource/memory of app web ignored: there is no cgroup hierarchy at /sys/fs/cgroup',
      'rkt: isolator resource/cpu of app web ignored: there is no cgroup hierarchy at /sys/fs/cgroup',
    ]);
  });

  test('conversions: quota per 100 ms period, 1024 shares and weight 100 a core', () => {
    assert.equal(quotaUs(0.5), 50_000);
    assert.equal(quotaUs(0), 1_000);
    assert.equal(cpuShares(1), 1024);
    assert.equal(cpuShares(0.25), 256);
    assert.equal(cpuShares(1000), 262_144);
    assert.equal(cpuWeight(1), 100);
    assert.equal(cpuWeight(0.001), 1);
    assert.equal(cpuWeight(500), 10_000);
  });
});

describe('stage1.conf cgroup keys', () => {
  test("the pod's cgroups among the pod keys, each app's after its other keys", () => {
    const app = appRuntime('web');
    const cgroups = { pod: ['/sys/fs/cgroup/memory/u', '/sys/fs/cgroup/cpu/u'], apps: new Map([['web', ['/sys/fs/cgroup/memory/u/web', '/sys/fs/cgroup/cpu/u/web']]]) };
    const strings = serializeStage1Conf([app], { interactive: false, cgroups }).toString().split('\0');
    assert.deepEqual(strings.slice(0, 8), ['version', '1', 'interactive', '0', 'cgroup', '/sys/fs/cgroup/memory/u', 'cgroup', '/sys/fs/cgroup/cpu/u']);
    assert.deepEqual(strings.slice(-7), ['caps', '0', 'cgroup', '/sys/fs/cgroup/memory/u/web', 'cgroup', '/sys/fs/cgroup/cpu/u/web', '']);
    assert.ok(!serializeStage1Conf([app], { interactive: false }).includes('cgroup'));
  });
});

describe('--memory and --cpu', () => {
  test('are app flags, checked as quantities, and replace the image isolator (request and limit)', () => {
    const { apps } = splitRunArgs(['img', '--memory=32M', '--cpu', '500m', '---', 'img2']);
    assert.equal(apps[0]!.memory, '32M');
    assert.equal(apps[0]!.cpu, '500m');
    const image: App = { ...emptyApp(), exec: ['/bin/x'], isolators: [memory('1G'), { name: 'example.com/keep', value: 1 }] };
    const app = applyAppArgs('img', 'example.com/img', image, apps[0]);
    assert.deepEqual(app.isolators, [
      { name: 'example.com/keep', value: 1 },
      { name: 'resource/memory', value: { request: '32M', limit: '32M' } },
      { name: 'resource/cpu', value: { request: '500m', limit: '500m' } },
    ]);
    assert.deepEqual(applyAppArgs('img2', 'example.com/img', image, apps[1]).isolators, image.isolators);
  });

  test('refuse what is not a quantity, twice, or before the image', () => {
    for (const [argv, error] of [
      [['img', '--memory=lots'], /^run: --memory "lots" is not a quantity such as 32M or 128Mi$/],
      [['img', '--cpu=-1'], /^run: --cpu "-1" must not be negative$/],
      [['img', '--cpu=1', '--cpu=2'], /^run: --cpu given twice for image img$/],
      [['--memory=32M', 'img'], /^run: --memory is an app flag: put it after the image it is for$/],
    ] as const) {
      assert.throws(() => splitRunArgs([...argv]), (err: Error) => err instanceof UserError && error.test(err.message), String(argv));
    }
  });
});

describe('probeCgroups', () => {
  function tree(t: { after(fn: () => void): void }, files: Record<string, string>, links: Record<string, string> = {}): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rkt-cgroup-probe-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    for (const [file, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), text);
    }
    for (const [link, target] of Object.entries(links)) fs.symlinkSync(target, path.join(dir, link));
    return dir;
  }
  const procCgroups = (memoryEnabled: boolean) => `#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t0\t1\t1\nmemory\t0\t1\t${memoryEnabled ? 1 : 0}\n`;

  test('v2: the root offers what its cgroup.controllers lists; a disabled memory controller says how to enable it', (t) => {
    const dir = tree(t, { 'root/cgroup.controllers': 'cpuset cpu io pids\n', 'cgroup.procs': '', proc: procCgroups(false) });
    const probe = probeCgroups(path.join(dir, 'root'), path.join(dir, 'proc'));
    assert.deepEqual(probe.hierarchies, [{ version: 2, mount: path.join(dir, 'root'), name: '', controllers: ['cpu'] }]);
    assert.equal(
      probe.missing.memory,
      'the memory cgroup controller is disabled (add cgroup_enable=memory cgroup_memory=1 to /boot/firmware/cmdline.txt, or /boot/cmdline.txt before Bookworm, and reboot)',
    );
  });

  test('v1 (hybrid): each controller from its own hierarchy, through the cpu -> cpu,cpuacct link; the v2 mount unused', (t) => {
    const dir = tree(
      t,
      { 'memory/cgroup.procs': '', 'cpu,cpuacct/cgroup.procs': '', 'unified/cgroup.controllers': '\n', proc: procCgroups(true) },
      { cpu: 'cpu,cpuacct' },
    );
    const probe = probeCgroups(dir, path.join(dir, 'proc'));
    assert.deepEqual(probe.hierarchies, [
      { version: 1, mount: path.join(dir, 'memory'), name: 'memory', controllers: ['memory'] },
      { version: 1, mount: path.join(dir, 'cpu,cpuacct'), name: 'cpu,cpuacct', controllers: ['cpu'] },
    ]);
    assert.deepEqual(probe.missing, {});
  });

  test('v1 without the memory hierarchy: from the v2 mount if it offers memory, else missing', (t) => {
    const dir = tree(t, { 'cpu/cgroup.procs': '', 'unified/cgroup.controllers': 'memory\n', proc: procCgroups(true) });
    assert.deepEqual(probeCgroups(dir, path.join(dir, 'proc')).hierarchies.map((h) => [h.name, h.controllers]), [
      ['cpu', ['cpu']],
      ['unified', ['memory']],
    ]);
    const bare = tree(t, { 'cpu/cgroup.procs': '', proc: procCgroups(true) });
    assert.match(probeCgroups(bare, path.join(bare, 'proc')).missing.memory ?? '', /^the memory cgroup controller is not available: no hierarchy under .* has it mounted$/);
  });

  test('no cgroup filesystem at all', (t) => {
    const dir = tree(t, { proc: procCgroups(true) });
    const probe = probeCgroups(path.join(dir, 'none'), path.join(dir, 'proc'));
    assert.deepEqual(probe.hierarchies, []);
    assert.match(probe.missing.cpu ?? '', /^there is no cgroup hierarchy at /);
  });
});

describe('setUpPodCgroups and removePodCgroups on a fake v1 tree', () => {
  test('makes the tree, writes the limits, records the pod dirs; removal skips what is not a cgroup', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rkt-cgroup-setup-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const root = path.join(dir, 'cgroup');
    for (const c of ['memory', 'cpu']) {
      fs.mkdirSync(path.join(root, c), { recursive: true });
      fs.writeFileSync(path.join(root, c, 'cgroup.procs'), '');
    }
    // The kernel makes a cgroup's files; here the test does (no memsw: it is optional).
    fs.mkdirSync(path.join(root, 'memory/rkt', UUID, 'web'), { recursive: true });
    for (const f of ['memory.limit_in_bytes', 'memory.soft_limit_in_bytes']) fs.writeFileSync(path.join(root, 'memory/rkt', UUID, 'web', f), '');
    const podPath = path.join(dir, 'pod');
    fs.mkdirSync(podPath);
    const manifest = { apps: [{ name: 'web', app: { isolators: [memory('32M'), { name: 'example.com/x', value: 1 }] } }], isolators: [] } as unknown as PodManifest;
    const lines: string[] = [];
    const cgroups = setUpPodCgroups({ uuid: UUID, path: podPath, manifest }, (l) => lines.push(l), probeCgroups(root));
    assert.deepEqual(lines, ['rkt: isolator example.com/x of app web ignored: unknown to this runtime']);
    assert.ok(cgroups);
    const pod = path.join(root, 'memory/rkt', UUID);
    assert.equal(fs.readFileSync(path.join(pod, 'web/memory.limit_in_bytes'), 'utf8'), '32000000');
    assert.ok(fs.statSync(path.join(root, 'cpu/rkt', UUID, 'stage1.init')).isDirectory());
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(podPath, CGROUPS_RECORD), 'utf8')), { dirs: [pod, path.join(root, 'cpu/rkt', UUID)] });
    assert.deepEqual(cgroups.apps.get('web'), [`/sys/fs/cgroup/memory/${UUID}/web`, `/sys/fs/cgroup/cpu/${UUID}/web`]);
    // Plain directories are not cgroups (no cgroup.procs in the pod dir): left alone.
    await removePodCgroups(podPath, UUID);
    assert.ok(fs.existsSync(pod));
    // A record naming anything but <hierarchy>/rkt/<this uuid> is not followed.
    fs.writeFileSync(path.join(pod, 'cgroup.procs'), '');
    fs.writeFileSync(path.join(podPath, CGROUPS_RECORD), JSON.stringify({ dirs: [path.join(root, 'memory')] }));
    await removePodCgroups(podPath, UUID);
    assert.ok(fs.existsSync(path.join(root, 'memory')));
  });
});

describe('removePodCgroups on a crafted record', () => {
  test('kills nothing and removes nothing named by a directory that is not a cgroup', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rkt-cgroup-crafted-'));
    const { spawn } = await import('node:child_process');
    const victim = spawn('sleep', ['30'], { stdio: 'ignore' });
    t.after(() => {
      victim.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    });
    // <anything>/rkt/<uuid>, with a cgroup.procs listing a process outside any pod.
    const fake = path.join(dir, 'rkt', UUID);
    fs.mkdirSync(fake, { recursive: true });
    fs.writeFileSync(path.join(fake, 'cgroup.procs'), `${victim.pid}\n`);
    const podPath = path.join(dir, 'pod');
    fs.mkdirSync(podPath);
    fs.writeFileSync(path.join(podPath, CGROUPS_RECORD), JSON.stringify({ dirs: [fake, `${dir}/x/../rkt/${UUID}`] }));
    await removePodCgroups(podPath, UUID);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(victim.exitCode, null);
    assert.equal(victim.signalCode, null);
    assert.ok(fs.existsSync(fake));
  });
});
