import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { unescapeMountinfo } from '../../src/pod/mounts.ts';
import {
  createEmbryo,
  gcPods,
  getPod,
  listPods,
  newPodUuid,
  podExitCode,
  podsInUse,
  removePod,
  removePodReporting,
  transition,
  waitForExit,
  type PodInfo,
} from '../../src/pod/pods.ts';
import { StorePaths } from '../../src/store/layout.ts';
import { UserError } from '../../src/util/errors.ts';
import { emptyDir, isRoot, root } from '../helpers/run.ts';
import { holdLock, imageIdOf, makePod, STAGE1, treeIdOf, type FakeApp } from './fixtures.ts';

// Pods on disk as CoreOS rkt keeps them: a directory per state, a flock on the pod
// directory, and rename(2) between them. The pods are made by hand (fixtures.ts), and
// "another process" holding a pod is flock(1).

const HOUR = 3_600_000;
const WEB: FakeApp = { name: 'web', image: 'example.com/web', version: '1.0' };
const DB: FakeApp = { name: 'db', image: 'example.com/db' };

function oneLine(err: unknown): boolean {
  return err instanceof UserError && !err.message.includes('\n');
}

describe('states', () => {
  test('createEmbryo: made in embryo/, locked, moved to prepare/ (preparing); unlocked it reads aborted-prepare', async (t) => {
    const dir = emptyDir(t);
    const embryo = await createEmbryo(dir);
    assert.match(embryo.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(embryo.path, path.join(dir, 'pods', 'prepare', embryo.uuid));
    assert.equal(fs.statSync(embryo.path).mode & 0o777, 0o750);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'pods', 'embryo')), []);
    assert.equal((await getPod(dir, embryo.uuid)).state, 'preparing');
    embryo.lock.release();
    assert.equal((await getPod(dir, embryo.uuid)).state, 'aborted-prepare');
  });

  test('the lock follows the pod across renames: prepare -> prepared -> run stays locked, then exited', async (t) => {
    const dir = emptyDir(t);
    const { uuid, lock } = await createEmbryo(dir);
    const prepared = await transition(dir, uuid, 'prepare', 'prepared');
    assert.equal(prepared, path.join(dir, 'pods', 'prepared', uuid));
    assert.equal((await getPod(dir, uuid)).state, 'prepared');
    await transition(dir, uuid, 'prepared', 'run');
    assert.equal((await getPod(dir, uuid)).state, 'running');
    lock.release();
    assert.equal((await getPod(dir, uuid)).state, 'exited');
  });

  test('transition from the wrong state is a one-line error saying where the pod is', async (t) => {
    const dir = emptyDir(t);
    const { uuid } = makePod(dir, { stateDir: 'prepared', apps: [WEB] });
    await assert.rejects(transition(dir, uuid, 'prepare', 'prepared'), (err) => {
      assert.ok(oneLine(err));
      assert.equal((err as Error).message, `pod ${uuid} is not in prepare/: it is in prepared/`);
      return true;
    });
    await assert.rejects(transition(dir, newPodUuid(), 'run', 'exited-garbage'), /there is no such pod/);
  });

  test('a transition is durable at once: the new place has the pod, the old one does not', async (t) => {
    const dir = emptyDir(t);
    const { uuid } = makePod(dir, { stateDir: 'run', apps: [WEB] });
    await transition(dir, uuid, 'run', 'exited-garbage');
    assert.deepEqual(fs.readdirSync(path.join(dir, 'pods', 'run')), []);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'pods', 'exited-garbage')), [uuid]);
  });

  test('every state from directory and lock, including crash leftovers and other processes', async (t) => {
    const dir = emptyDir(t);
    const made = {
      embryo: makePod(dir, { stateDir: 'embryo' }),
      preparing: makePod(dir, { stateDir: 'prepare', apps: [WEB] }),
      abortedPrepare: makePod(dir, { stateDir: 'prepare', apps: [WEB] }),
      prepared: makePod(dir, { stateDir: 'prepared', apps: [WEB] }),
      running: makePod(dir, { stateDir: 'run', apps: [{ ...WEB, started: true }], pid: 4242 }),
      exited: makePod(dir, { stateDir: 'run', apps: [{ ...WEB, started: true, status: 0 }], pid: 4243 }),
      exitedGarbage: makePod(dir, { stateDir: 'exited-garbage', apps: [WEB] }),
      garbage: makePod(dir, { stateDir: 'garbage', apps: [WEB] }),
      deleting: makePod(dir, { stateDir: 'garbage', apps: [WEB] }),
    };
    await holdLock(t, made.preparing.path);
    await holdLock(t, made.running.path);
    await holdLock(t, made.deleting.path);
    const states = new Map((await listPods(dir)).map((p) => [p.uuid, p.state]));
    assert.deepEqual(Object.fromEntries(Object.entries(made).map(([k, v]) => [k, states.get(v.uuid)])), {
      embryo: 'embryo',
      preparing: 'preparing',
      abortedPrepare: 'aborted-prepare',
      prepared: 'prepared',
      running: 'running',
      exited: 'exited',
      exitedGarbage: 'exited-garbage',
      garbage: 'garbage',
      deleting: 'deleting',
    });
  });

  test('a stage0 killed while preparing leaves a pod that reads aborted-prepare', async (t) => {
    const dir = emptyDir(t);
    const script = `import { createEmbryo } from ${JSON.stringify(path.join(root, 'src/pod/pods.ts'))};
      const e = await createEmbryo(${JSON.stringify(dir)}); console.log(e.uuid); process.kill(process.pid, 'SIGKILL');`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    assert.equal(r.signal, 'SIGKILL');
    const uuid = r.stdout.trim();
    assert.equal((await getPod(dir, uuid)).state, 'aborted-prepare');
  });

  test('listing a directory with no pods/ is empty and creates nothing', async (t) => {
    const dir = emptyDir(t);
    assert.deepEqual(await listPods(dir), []);
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  test('names in a state directory that are not UUIDs are not pods', async (t) => {
    const dir = emptyDir(t);
    makePod(dir, { stateDir: 'run', apps: [WEB] });
    fs.writeFileSync(path.join(dir, 'pods', 'run', '.tmp-junk'), '');
    assert.equal((await listPods(dir)).length, 1);
  });
});

describe('pod info', () => {
  test('apps in manifest order with their images, states and exit codes; pod exit code is the first failure', async (t) => {
    const dir = emptyDir(t);
    const createdAt = '2024-05-01T10:00:00.000Z';
    const { uuid, path: podPath } = makePod(dir, {
      stateDir: 'run',
      createdAt,
      pid: 99,
      apps: [
        { ...WEB, started: true, status: 0 },
        { ...DB, started: true, status: 3 },
        { name: 'late', image: 'example.com/late', started: true, status: 7 },
      ],
    });
    const info = await getPod(dir, uuid);
    assert.equal(info.state, 'exited');
    assert.equal(info.path, podPath);
    assert.equal(info.createdAt, createdAt);
    assert.equal(info.startedAt, fs.statSync(path.join(podPath, 'rkt', 'pid')).mtime.toISOString());
    assert.ok(info.exitedAt);
    assert.equal(info.pid, undefined, 'no pid once it exited');
    assert.equal(info.manifest?.apps.length, 3);
    assert.equal(info.runtime?.stage1.name, STAGE1);
    assert.deepEqual(info.apps, [
      { name: 'web', imageId: imageIdOf(WEB.image), imageName: WEB.image, state: 'exited', exitCode: 0 },
      { name: 'db', imageId: imageIdOf(DB.image), imageName: DB.image, state: 'exited', exitCode: 3 },
      { name: 'late', imageId: imageIdOf('example.com/late'), imageName: 'example.com/late', state: 'exited', exitCode: 7 },
    ]);
    assert.equal(podExitCode(info), 3);
  });

  test('a running pod: its pid, running and not-yet-started apps', async (t) => {
    const dir = emptyDir(t);
    const { uuid, path: podPath } = makePod(dir, { stateDir: 'run', pid: 1234, apps: [{ ...WEB, started: true }, DB] });
    await holdLock(t, podPath);
    const info = await getPod(dir, uuid);
    assert.equal(info.state, 'running');
    assert.equal(info.pid, 1234);
    assert.equal(info.exitedAt, undefined);
    assert.deepEqual(info.apps.map((a) => a.state), ['running', 'prepared']);
    assert.equal(podExitCode(info), undefined, 'not known until every app has exited');
  });

  test('stage1 killed: started apps with no status read exited with no exit code', async (t) => {
    const dir = emptyDir(t);
    const { uuid } = makePod(dir, { stateDir: 'run', pid: 5, apps: [{ ...WEB, started: true }] });
    const info = await getPod(dir, uuid);
    assert.deepEqual(info.apps.map((a) => [a.state, a.exitCode]), [['exited', undefined]]);
    assert.equal(podExitCode(info), undefined, 'unknown, never 0');
  });

  test('an embryo has no manifest, runtime or apps; its creation time is the directory birth', async (t) => {
    const dir = emptyDir(t);
    const { uuid } = makePod(dir, { stateDir: 'embryo' });
    const info = await getPod(dir, uuid);
    assert.equal(info.state, 'embryo');
    assert.equal(info.manifest, undefined);
    assert.equal(info.runtime, undefined);
    assert.deepEqual(info.apps, []);
    assert.ok(Math.abs(Date.parse(info.createdAt) - Date.now()) < 60_000);
  });

  test('a broken manifest does not hide the pod', async (t) => {
    const dir = emptyDir(t);
    const { uuid, path: podPath } = makePod(dir, { stateDir: 'prepared', apps: [WEB] });
    fs.writeFileSync(path.join(podPath, 'pod'), '{not json');
    const info = await getPod(dir, uuid);
    assert.equal(info.manifest, undefined);
    assert.deepEqual(info.apps.map((a) => a.name), ['web'], 'apps from runtime.json');
  });
});

describe('UUID prefixes', () => {
  test('a unique prefix of 2 or more characters, any case, finds the pod', async (t) => {
    const dir = emptyDir(t);
    const uuid = 'ab12cd34-0000-4000-8000-000000000001';
    makePod(dir, { stateDir: 'prepared', uuid, apps: [WEB] });
    makePod(dir, { stateDir: 'prepared', uuid: 'ff000000-0000-4000-8000-000000000002', apps: [WEB] });
    assert.equal((await getPod(dir, 'ab')).uuid, uuid);
    assert.equal((await getPod(dir, 'AB12CD')).uuid, uuid);
    assert.equal((await getPod(dir, uuid)).uuid, uuid);
  });

  test('ambiguous, unknown and too short prefixes are one-line errors naming the prefix', async (t) => {
    const dir = emptyDir(t);
    makePod(dir, { stateDir: 'run', uuid: 'ab12cd34-0000-4000-8000-000000000001' });
    makePod(dir, { stateDir: 'garbage', uuid: 'ab99cd34-0000-4000-8000-000000000002' });
    await assert.rejects(getPod(dir, 'ab'), (err) => oneLine(err) && /"ab" is ambiguous, it matches ab12cd34, ab99cd34/.test((err as Error).message));
    await assert.rejects(getPod(dir, 'cd'), (err) => oneLine(err) && /no pod has a UUID starting with "cd"/.test((err as Error).message));
    await assert.rejects(getPod(dir, 'a'), (err) => oneLine(err) && /"a" is too short or malformed/.test((err as Error).message));
    await assert.rejects(getPod(dir, '../x'), /malformed/);
  });
});

describe('gc', () => {
  test('marks: exited -> exited-garbage, aborted prepare -> garbage, expired prepared -> garbage; removes unlocked embryos', async (t) => {
    const dir = emptyDir(t);
    const now = new Date();
    const exited = makePod(dir, { stateDir: 'run', apps: [{ ...WEB, started: true, status: 0 }] });
    const running = makePod(dir, { stateDir: 'run', apps: [{ ...WEB, started: true }] });
    const aborted = makePod(dir, { stateDir: 'prepare', apps: [WEB] });
    const preparing = makePod(dir, { stateDir: 'prepare', apps: [WEB] });
    const fresh = makePod(dir, { stateDir: 'prepared', apps: [WEB], since: new Date(now.getTime() - 23 * HOUR) });
    const expired = makePod(dir, { stateDir: 'prepared', apps: [WEB], since: new Date(now.getTime() - 25 * HOUR) });
    const deadEmbryo = makePod(dir, { stateDir: 'embryo' });
    const liveEmbryo = makePod(dir, { stateDir: 'embryo' });
    for (const p of [running, preparing, liveEmbryo]) await holdLock(t, p.path);

    const report = await gcPods(dir, { gracePeriodMs: 30 * 60_000, expirePreparedMs: 24 * HOUR, markOnly: true, now });
    assert.deepEqual(report.marked.sort(), [exited.uuid, aborted.uuid, expired.uuid].sort());
    assert.deepEqual(report.removed, [deadEmbryo.uuid]);
    const states = new Map((await listPods(dir)).map((p) => [p.uuid, p.state]));
    assert.equal(states.get(exited.uuid), 'exited-garbage');
    assert.equal(states.get(aborted.uuid), 'garbage');
    assert.equal(states.get(expired.uuid), 'garbage');
    assert.equal(states.get(running.uuid), 'running');
    assert.equal(states.get(preparing.uuid), 'preparing');
    assert.equal(states.get(fresh.uuid), 'prepared');
    assert.equal(states.get(liveEmbryo.uuid), 'embryo');
    assert.equal(states.has(deadEmbryo.uuid), false);
    // Marking stamps the time: the pod directory's mtime is gc's "now".
    const marked = fs.statSync(path.join(dir, 'pods', 'exited-garbage', exited.uuid));
    assert.ok(Math.abs(marked.mtimeMs - now.getTime()) < 1);
  });

  test('sweeps: garbage at once, exited-garbage after the grace period counted from the mark, stage1 gc first', async (t) => {
    const dir = emptyDir(t);
    const t0 = new Date('2024-05-01T10:00:00Z');
    const exited = makePod(dir, { stateDir: 'run', apps: [{ ...WEB, started: true, status: 1 }] });
    const aborted = makePod(dir, { stateDir: 'prepare', apps: [WEB] });
    const stage1Gc: PodInfo[] = [];
    const opts = { gracePeriodMs: 30 * 60_000, expirePreparedMs: 24 * HOUR, markOnly: false, stage1Gc: async (p: PodInfo) => void stage1Gc.push(p) };

    const first = await gcPods(dir, { ...opts, now: t0 });
    assert.deepEqual(first.marked.sort(), [exited.uuid, aborted.uuid].sort());
    assert.deepEqual(first.removed, [aborted.uuid], 'garbage goes in the same run');
    assert.equal(stage1Gc.length, 0, 'a pod that never ran gets no stage1 gc');

    const early = await gcPods(dir, { ...opts, now: new Date(t0.getTime() + 29 * 60_000) });
    assert.deepEqual(early, { marked: [], removed: [] });
    assert.equal((await getPod(dir, exited.uuid)).state, 'exited-garbage');

    const late = await gcPods(dir, { ...opts, now: new Date(t0.getTime() + 30 * 60_000) });
    assert.deepEqual(late, { marked: [], removed: [exited.uuid] });
    assert.deepEqual(stage1Gc.map((p) => [p.uuid, path.basename(path.dirname(p.path))]), [[exited.uuid, 'exited-garbage']]);
    assert.equal(stage1Gc[0]!.runtime?.stage1.treeId, treeIdOf(STAGE1));
    assert.deepEqual(await listPods(dir), []);
  });

  test('grace period 0 deletes an exited pod in one run', async (t) => {
    const dir = emptyDir(t);
    const exited = makePod(dir, { stateDir: 'run', apps: [{ ...WEB, status: 0 }] });
    const report = await gcPods(dir, { gracePeriodMs: 0, expirePreparedMs: 24 * HOUR, markOnly: false });
    assert.deepEqual(report, { marked: [exited.uuid], removed: [exited.uuid] });
  });

  test('a pod another process holds is skipped, not waited for; a failing stage1 gc is reported and the pod still goes', async (t) => {
    const dir = emptyDir(t);
    const held = makePod(dir, { stateDir: 'garbage', apps: [WEB] });
    const failing = makePod(dir, { stateDir: 'exited-garbage', apps: [WEB], since: new Date(Date.now() - HOUR) });
    await holdLock(t, held.path);
    const warnings: string[] = [];
    const report = await gcPods(dir, {
      gracePeriodMs: 0,
      expirePreparedMs: 0,
      markOnly: false,
      warn: (l) => warnings.push(l),
      stage1Gc: async () => {
        throw new Error('stage1 gc: network busy');
      },
    });
    assert.deepEqual(report, { marked: [], removed: [failing.uuid] });
    assert.deepEqual(warnings, [`pod ${failing.uuid}: stage1 gc failed, removing the pod anyway: stage1 gc: network busy`]);
    assert.equal((await getPod(dir, held.uuid)).state, 'deleting');
  });

  test('symlinks inside a pod are removed, never followed', async (t) => {
    const dir = emptyDir(t);
    const outside = path.join(dir, 'precious');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'keep'), 'x');
    const pod = makePod(dir, { stateDir: 'garbage', apps: [WEB] });
    fs.symlinkSync(outside, path.join(pod.path, 'rkt', 'link'));
    await gcPods(dir, { gracePeriodMs: 0, expirePreparedMs: 0, markOnly: false });
    assert.equal(fs.existsSync(pod.path), false);
    assert.equal(fs.readFileSync(path.join(outside, 'keep'), 'utf8'), 'x');
  });

  test('a pod with something mounted inside it in our mount namespace is not removed', { skip: !isRoot && 'needs root' }, (t) => {
    const dir = emptyDir(t);
    const pod = makePod(dir, { stateDir: 'garbage', apps: [WEB] });
    const volume = path.join(pod.path, 'volumes', 'data');
    fs.mkdirSync(volume, { recursive: true });
    // In a mount namespace of its own, so nothing leaks to the host if the test dies.
    const script = `import { gcPods } from ${JSON.stringify(path.join(root, 'src/pod/pods.ts'))};
      const warnings = []; const r = await gcPods(${JSON.stringify(dir)}, { gracePeriodMs: 0, expirePreparedMs: 0, markOnly: false, warn: (l) => warnings.push(l) });
      console.log(JSON.stringify({ r, warnings }));`;
    const sh = `mount -t tmpfs rkt-test ${JSON.stringify(volume)} && echo keep > ${JSON.stringify(path.join(volume, 'file'))} && exec "$0" --import tsx --input-type=module -e "$1"`;
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', sh, process.execPath, script], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0 && /unshare|mount/.test(r.stderr)) return t.skip(`no mount namespace here: ${r.stderr.trim()}`);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { r: { removed: string[] }; warnings: string[] };
    assert.deepEqual(out.r.removed, []);
    assert.match(out.warnings[0] ?? '', /volumes\/data is mounted in this mount namespace; not removing the pod/);
    assert.equal(fs.existsSync(pod.path), true);
  });
});

describe('rm', () => {
  test('refuses a running pod with a one-line error, and one being prepared', async (t) => {
    const dir = emptyDir(t);
    const running = makePod(dir, { stateDir: 'run', apps: [{ ...WEB, started: true }], pid: 7 });
    const preparing = makePod(dir, { stateDir: 'prepare', apps: [WEB] });
    await holdLock(t, running.path);
    await holdLock(t, preparing.path);
    await assert.rejects(removePod(dir, running.uuid), (err) => {
      assert.ok(oneLine(err));
      assert.equal((err as Error).message, `pod ${running.uuid} is running: stop it before removing it`);
      return true;
    });
    await assert.rejects(removePod(dir, preparing.uuid), /is being prepared/);
    assert.equal(fs.existsSync(running.path), true);
    assert.equal(fs.existsSync(preparing.path), true);
  });

  test('removes exited (with stage1 gc), prepared and aborted pods, by prefix too', async (t) => {
    const dir = emptyDir(t);
    const exited = makePod(dir, { stateDir: 'run', apps: [{ ...WEB, started: true, status: 0 }] });
    const prepared = makePod(dir, { stateDir: 'prepared', apps: [WEB] });
    const aborted = makePod(dir, { stateDir: 'prepare', apps: [WEB] });
    const seen: string[] = [];
    const stage1Gc = async (p: PodInfo) => void seen.push(`${p.uuid} ${path.basename(path.dirname(p.path))}`);
    await removePod(dir, exited.uuid.slice(0, 8), stage1Gc);
    await removePod(dir, prepared.uuid, stage1Gc);
    await removePod(dir, aborted.uuid, stage1Gc);
    assert.deepEqual(seen, [`${exited.uuid} exited-garbage`]);
    assert.deepEqual(await listPods(dir), []);
  });

  test('a whole UUID of no pod is nothing to do; a prefix of no pod is an error', async (t) => {
    const dir = emptyDir(t);
    const pod = makePod(dir, { stateDir: 'prepared', apps: [WEB] });
    assert.equal(await removePodReporting(dir, pod.uuid), pod.uuid);
    assert.equal(await removePodReporting(dir, pod.uuid), undefined);
    await removePod(dir, pod.uuid);
    await assert.rejects(removePod(dir, pod.uuid.slice(0, 8)), /no pod has a UUID starting with/);
  });

  test('a pod held by another process (being run) is refused without waiting', async (t) => {
    const dir = emptyDir(t);
    const prepared = makePod(dir, { stateDir: 'prepared', apps: [WEB] });
    await holdLock(t, prepared.path);
    await assert.rejects(removePod(dir, prepared.uuid), /is in use by another rkt process \(it was prepared\)/);
  });
});

describe('waitForExit', () => {
  test('returns once the pod stops running', async (t) => {
    const dir = emptyDir(t);
    const pod = makePod(dir, { stateDir: 'run', apps: [{ ...WEB, started: true }], pid: 3 });
    const held = await holdLock(t, pod.path);
    const started = Date.now();
    setTimeout(() => {
      fs.writeFileSync(path.join(pod.path, 'rkt', 'status', 'web'), '5\n');
      void held.release();
    }, 300);
    const info = await waitForExit(dir, pod.uuid);
    assert.ok(Date.now() - started >= 250);
    assert.equal(info.state, 'exited');
    assert.equal(podExitCode(info), 5);
  });

  test('times out with a one-line error', async (t) => {
    const dir = emptyDir(t);
    const pod = makePod(dir, { stateDir: 'run', apps: [WEB] });
    await holdLock(t, pod.path);
    const started = Date.now();
    await assert.rejects(waitForExit(dir, pod.uuid, 300), (err) => oneLine(err) && /is still running after 300ms/.test((err as Error).message));
    assert.ok(Date.now() - started < 2000);
  });

  test('an exited pod returns at once', async (t) => {
    const dir = emptyDir(t);
    const pod = makePod(dir, { stateDir: 'exited-garbage', apps: [WEB] });
    assert.equal((await waitForExit(dir, pod.uuid, 0)).state, 'exited-garbage');
  });
});

describe('podsInUse', () => {
  test('trees of every pod not garbage, only the stage1 tree of exited-garbage; the images those trees hold', async (t) => {
    const dir = emptyDir(t);
    const appA = { name: 'a', image: 'example.com/a' };
    const appB = { name: 'b', image: 'example.com/b' };
    const appC = { name: 'c', image: 'example.com/c' };
    const appD = { name: 'd', image: 'example.com/d' };
    makePod(dir, { stateDir: 'run', apps: [appA] });
    makePod(dir, { stateDir: 'prepared', apps: [appB] });
    makePod(dir, { stateDir: 'exited-garbage', apps: [appC] });
    makePod(dir, { stateDir: 'garbage', apps: [appD] });
    // A rendered tree lists its images, dependencies included.
    const store = new StorePaths(dir);
    const dep = imageIdOf('example.com/base');
    fs.mkdirSync(store.tree(treeIdOf(appA.image)), { recursive: true });
    fs.writeFileSync(path.join(store.tree(treeIdOf(appA.image)), 'layers'), `0 ${imageIdOf(appA.image)}\n1 ${dep}\n`);

    const inUse = await podsInUse(dir);
    assert.deepEqual([...inUse.trees].sort(), [treeIdOf(STAGE1), treeIdOf(appA.image), treeIdOf(appB.image)].sort());
    assert.deepEqual([...inUse.images].sort(), [imageIdOf(STAGE1), imageIdOf(appA.image), dep, imageIdOf(appB.image)].sort());
  });
});

test('mountinfo escapes', () => {
  assert.equal(unescapeMountinfo('/var/lib/my\\040pods\\134x'), '/var/lib/my pods\\x');
});
