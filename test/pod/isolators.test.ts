import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { cgroupRoot, probeCgroups } from '../../src/stage0/cgroups.ts';
import type { CgroupProbe, Controller, Hierarchy } from '../../src/stage0/cgroup-plan.ts';
import { PodWorld, buildProbeImage, probeImage, procInfo, whyNotArch } from '../helpers/pods.ts';

// resource/memory and resource/cpu on real pods (docs/isolators.md): the bundled rkt and
// amd64 stage1 on the probe image, as root, in this host's real cgroups. The pure rules
// are in test/stage0/cgroup-plan.test.ts.

const skip = whyNotArch('amd64');
const APP = 'probe-amd64';
/** Touches 100 MB: dd's buffer is one block, filled from /dev/zero. */
const HOG = ['--exec=/bin/busybox', '--', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=100M', 'count=1'];

let img: string;
let host: CgroupProbe;

/** The hierarchy that offers `c` here, or a reason to skip. */
function hierarchyOf(c: Controller): Hierarchy | string {
  return host.hierarchies.find((h) => h.controllers.includes(c)) ?? `the ${c} controller is unavailable here: ${host.missing[c]}`;
}

/** Every directory the pod has in the host's hierarchies. */
function podCgroups(uuid: string): string[] {
  return host.hierarchies.map((h) => path.join(h.mount, 'rkt', uuid)).filter((d) => fs.existsSync(d));
}

function statusOf(w: PodWorld, uuid: string): Record<string, string> {
  const r = w.rkt(['status', uuid]);
  assert.equal(r.status, 0, r.stderr);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** `rkt run` of a sleeping probe in the background, once its app runs. */
async function sleeper(w: PodWorld, appFlags: string[], image = img) {
  const uuidFile = path.join(w.dir, `uuid-${Math.random().toString(36).slice(2)}`);
  const pod = w.start(['run', `--uuid-file-save=${uuidFile}`, image, ...appFlags, '--', 'sleep', '60']);
  await pod.waitForStdout(/^ready$/m);
  return { pod, uuid: await w.uuidFrom(uuidFile) };
}

function read(file: string): string {
  return fs.readFileSync(file, 'utf8').trim();
}

describe('isolators on real pods (amd64)', { skip }, () => {
  before(() => {
    img = probeImage('amd64');
    host = probeCgroups();
  });

  for (const ffi of ['on', 'off'] as const) {
    test(`--memory=32M: an app that touches 100 MB is killed by the kernel, status 137 (FFI ${ffi})`, (t) => {
      const mem = hierarchyOf('memory');
      if (typeof mem === 'string') return t.skip(mem);
      const w = new PodWorld(t);
      const uuidFile = path.join(w.dir, 'uuid');
      const env = ffi === 'off' ? { RKT_FFI: 'off' } : undefined;
      const r = w.rkt(['run', `--uuid-file-save=${uuidFile}`, img, '--memory=32M', ...HOG], env ? { env } : {});
      assert.equal(r.status, 137, r.stderr);
      const uuid = read(uuidFile);
      assert.equal(statusOf(w, uuid)[`app-${APP}`], '137');
      // stage1 removed the pod's cgroups when it ended.
      assert.deepEqual(podCgroups(uuid), []);
      // Without the limit the same app is fine: the limit is what killed it.
      const free = w.rkt(['run', img, ...HOG], env ? { env } : {});
      assert.equal(free.status, 0, free.stderr);
    });
  }

  test('--cpu=200m: the limit is in the app cgroup while it runs, PID 1 and the app each in their own; stop and gc leave none', async (t) => {
    const cpu = hierarchyOf('cpu');
    if (typeof cpu === 'string') return t.skip(cpu);
    const w = new PodWorld(t);
    const { pod, uuid } = await sleeper(w, ['--cpu=200m']);
    const dir = path.join(cpu.mount, 'rkt', uuid);
    if (cpu.version === 1) {
      assert.equal(read(path.join(dir, APP, 'cpu.cfs_quota_us')), '20000');
      assert.equal(read(path.join(dir, APP, 'cpu.cfs_period_us')), '100000');
      assert.equal(read(path.join(dir, APP, 'cpu.shares')), '205');
    } else {
      assert.equal(read(path.join(dir, APP, 'cpu.max')), '20000 100000');
      assert.equal(read(path.join(dir, APP, 'cpu.weight')), '20');
    }
    const appPids = read(path.join(dir, APP, 'cgroup.procs')).split('\n').map(Number);
    assert.deepEqual(
      appPids.map((p) => procInfo(p)?.cmdline.slice(1)),
      [['sleep', '60']],
    );
    const pid1 = await w.podPid(uuid);
    assert.deepEqual(read(path.join(dir, 'stage1.init', 'cgroup.procs')).split('\n').map(Number), [pid1]);
    assert.equal(w.rkt(['stop', uuid]).status, 0);
    await pod.exited;
    assert.deepEqual(podCgroups(uuid), []);
    const gc = w.rkt(['gc', '--grace-period=0s']);
    assert.equal(gc.status, 0, gc.stderr);
    assert.deepEqual(podCgroups(uuid), []);
  });

  test('gc removes what a killed stage1 left, killing any process still in it', async (t) => {
    if (host.hierarchies.length === 0) return t.skip('no cgroup hierarchy here');
    const w = new PodWorld(t);
    const { pod, uuid } = await sleeper(w, []);
    // SIGKILL to stage1's outer process: PID 1 dies with it (PR_SET_PDEATHSIG), and
    // nothing is left to remove the cgroups.
    process.kill(pod.pid, 'SIGKILL');
    await pod.exited;
    const dirs = podCgroups(uuid);
    assert.equal(dirs.length, host.hierarchies.length);
    // A stray process in the pod's cgroup, as if one had escaped the PID namespace.
    const stray = spawn('sleep', ['60'], { stdio: 'ignore' });
    t.after(() => stray.kill('SIGKILL'));
    const strayExit = new Promise<NodeJS.Signals | null>((resolve) => stray.on('exit', (_code, signal) => resolve(signal)));
    fs.writeFileSync(path.join(dirs[0]!, 'stage1.init', 'cgroup.procs'), `${stray.pid}\n`);
    const gc = w.rkt(['gc', '--grace-period=0s']);
    assert.equal(gc.status, 0, gc.stderr);
    assert.equal(await strayExit, 'SIGKILL');
    assert.deepEqual(podCgroups(uuid), []);
    assert.deepEqual(w.pods(), []);
  });

  test('gc removes empty pod cgroups left by a pod that is gone, once they are ten minutes old', async (t) => {
    if (host.hierarchies.length === 0) return t.skip('no cgroup hierarchy here');
    const w = new PodWorld(t);
    const { pod, uuid } = await sleeper(w, []);
    process.kill(pod.pid, 'SIGKILL');
    await pod.exited;
    // The pod directory deleted by hand: no pod is left to say where its cgroups are.
    fs.rmSync(path.join(w.data, 'pods/run', uuid), { recursive: true, force: true });
    const dirs = podCgroups(uuid);
    assert.equal(dirs.length, host.hierarchies.length);
    assert.equal(w.rkt(['gc', '--grace-period=0s']).status, 0);
    assert.deepEqual(podCgroups(uuid), dirs, 'a young cgroup may be a pod being started: kept');
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const d of dirs) fs.utimesSync(d, hourAgo, hourAgo);
    assert.equal(w.rkt(['gc', '--grace-period=0s']).status, 0);
    assert.deepEqual(podCgroups(uuid), []);
  });

  test('an image isolator applies; an unknown one is reported as ignored, and the pod runs', async (t) => {
    const w = new PodWorld(t);
    const image = buildProbeImage('amd64', path.join(w.dir, 'isolators.aci'), {
      name: 'example.com/isolators',
      app: {
        isolators: [
          { name: 'example.com/foo', value: { bar: 1 } },
          { name: 'resource/memory', value: { limit: '64Mi' } },
        ],
      },
    });
    const { pod, uuid } = await sleeper(w, [], image);
    assert.match(pod.stderr(), /^rkt: isolator example\.com\/foo of app isolators ignored: unknown to this runtime$/m);
    const mem = hierarchyOf('memory');
    if (typeof mem !== 'string') {
      const file = mem.version === 1 ? 'memory.limit_in_bytes' : 'memory.max';
      assert.equal(read(path.join(mem.mount, 'rkt', uuid, 'isolators', file)), String(64 * 2 ** 20));
    }
    assert.equal(w.rkt(['stop', uuid]).status, 0);
    assert.equal((await pod.exited).status, 42, 'the probe exits 42 on SIGTERM');
  });

  test('a missing controller: one line says which isolator was ignored and why, and the pod runs', (t) => {
    // A v2 cgroup whose parent enables no controller for it: neither memory nor cpu is
    // offered there, as on a Raspberry Pi without cgroup_enable=memory. RKT_CGROUP_ROOT
    // makes rkt take it for the cgroup root.
    const v2 = fs.existsSync(path.join(cgroupRoot({}), 'cgroup.controllers')) ? cgroupRoot({}) : path.join(cgroupRoot({}), 'unified');
    if (!fs.existsSync(path.join(v2, 'cgroup.controllers'))) return t.skip('no cgroup v2 hierarchy here');
    const outer = fs.mkdtempSync(path.join(v2, 'rkt-test-'));
    const root = path.join(outer, 'root');
    fs.mkdirSync(root);
    t.after(() => {
      for (const d of [path.join(root, 'rkt'), root, outer]) {
        try {
          fs.rmdirSync(d);
        } catch {
          // not made, or not empty: left for a look
        }
      }
    });
    const w = new PodWorld(t);
    const uuidFile = path.join(w.dir, 'uuid');
    const r = w.rkt(['run', `--uuid-file-save=${uuidFile}`, img, '--memory=32M', '--cpu=1', '--', 'exit', '0'], { env: { RKT_CGROUP_ROOT: root } });
    assert.equal(r.status, 0, r.stderr);
    const notices = r.stderr.split('\n').filter((l) => l.startsWith('rkt: isolator '));
    assert.equal(notices.length, 2, r.stderr);
    assert.match(notices[0]!, /^rkt: isolator resource\/memory of app probe-amd64 ignored: the memory cgroup controller is (not available|disabled)\b.*$/);
    assert.match(notices[1]!, /^rkt: isolator resource\/cpu of app probe-amd64 ignored: the cpu cgroup controller is (not available|disabled)\b.*$/);
    // The pod still had its own cgroups there, and stage1 removed them at the end.
    const uuid = read(uuidFile);
    assert.ok(fs.existsSync(path.join(root, 'rkt')));
    assert.ok(!fs.existsSync(path.join(root, 'rkt', uuid)));
  });
});
