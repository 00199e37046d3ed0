import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { PodJson } from '../../src/pod/format.ts';
import { rktEnv, type RktResult } from '../helpers/rkt-source.ts';
import { holdLock, imageIdOf, makePod, makeStage1Tree, type FakeApp } from '../pod/fixtures.ts';

// rkt list, status, cat-manifest, rm and gc as a user meets them: the real command (from
// source, through tsx) on pod directories made by hand under a temporary --dir, as
// stage0 and stage1 would leave them.

const WEB: FakeApp = { name: 'web', image: 'example.com/web', version: '1.0' };
const DB: FakeApp = { name: 'db', image: 'example.com/db' };

function oneLineError(r: RktResult, pattern: RegExp): void {
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.split('\n').filter((l) => l !== '').length, 1, r.stderr);
  assert.match(r.stderr, pattern);
}

describe('rkt list', () => {
  test('--format json: every pod, oldest first, with its state, times and apps', async (t) => {
    const e = rktEnv(t);
    const exited = makePod(e.data, {
      stateDir: 'run',
      createdAt: '2024-05-01T10:00:00.000Z',
      pid: 10,
      apps: [
        { ...WEB, started: true, status: 0 },
        { ...DB, started: true, status: 2 },
      ],
    });
    const running = makePod(e.data, { stateDir: 'run', createdAt: '2024-05-01T11:00:00.000Z', pid: 4321, apps: [{ ...WEB, started: true }] });
    const prepared = makePod(e.data, { stateDir: 'prepared', createdAt: '2024-05-01T12:00:00.000Z', apps: [DB] });
    await holdLock(t, running.path);

    const r = e.rkt(['list', '--format', 'json']);
    assert.equal(r.status, 0, r.stderr);
    const pods = JSON.parse(r.stdout) as PodJson[];
    assert.deepEqual(
      pods.map((p) => p.uuid),
      [exited.uuid, running.uuid, prepared.uuid],
    );
    const [a, b, c] = pods;
    assert.deepEqual(
      { ...a, startedAt: typeof a!.startedAt, exitedAt: typeof a!.exitedAt },
      {
        uuid: exited.uuid,
        state: 'exited',
        path: exited.path,
        createdAt: '2024-05-01T10:00:00.000Z',
        startedAt: 'string',
        exitedAt: 'string',
        exited: true,
        exitCode: 2,
        apps: [
          { name: 'web', imageId: imageIdOf(WEB.image), imageName: WEB.image, state: 'exited', exitCode: 0 },
          { name: 'db', imageId: imageIdOf(DB.image), imageName: DB.image, state: 'exited', exitCode: 2 },
        ],
      },
    );
    assert.equal(b!.state, 'running');
    assert.equal(b!.pid, 4321);
    assert.equal(b!.exited, false);
    assert.equal('exitCode' in b!, false);
    assert.equal(c!.state, 'prepared');
    assert.deepEqual(c!.apps.map((x) => x.state), ['prepared']);
  });

  test('text: rkt columns, a row per app, short UUIDs; --full and --no-legend', (t) => {
    const e = rktEnv(t);
    const pod = makePod(e.data, { stateDir: 'run', pid: 10, apps: [{ ...WEB, started: true, status: 0 }, DB] });
    const r = e.rkt(['list']);
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trimEnd().split('\n').map((l) => l.split(/\t+/));
    assert.deepEqual(rows[0], ['UUID', 'APP', 'IMAGE NAME', 'STATE', 'CREATED', 'STARTED', 'NETWORKS']);
    assert.deepEqual(rows[1]!.slice(0, 4), [pod.uuid.slice(0, 8), 'web', 'example.com/web:1.0', 'exited']);
    assert.match(rows[1]![4]!, /ago|now/);
    assert.deepEqual(rows[2], ['', 'db', 'example.com/db']);

    const full = e.rkt(['list', '--full', '--no-legend']);
    assert.equal(full.status, 0, full.stderr);
    const first = full.stdout.split('\n')[0]!.split(/\t+/);
    assert.equal(first[0], pod.uuid);
    assert.match(first[4]!, /^\d{4}-\d\d-\d\dT/);
  });

  test('no pods: only the legend; JSON []', (t) => {
    const e = rktEnv(t);
    assert.equal(e.rkt(['list', '--no-legend']).stdout, '');
    assert.equal(e.rkt(['list', '--format=json']).stdout, '[]\n');
  });
});

describe('rkt status', () => {
  test('text for an exited pod: rkt key=value lines with each app exit status', (t) => {
    const e = rktEnv(t);
    const pod = makePod(e.data, { stateDir: 'run', createdAt: '2024-05-01T10:00:00.000Z', pid: 10, apps: [{ ...WEB, status: 0 }, { ...DB, status: 3 }] });
    const r = e.rkt(['status', pod.uuid.slice(0, 6)]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'state=exited');
    assert.equal(lines[1], 'created=2024-05-01T10:00:00.000Z');
    assert.match(lines[2]!, /^started=\d{4}-/);
    assert.equal(lines[3], 'exited=true');
    assert.match(lines[4]!, /^exited-at=/);
    assert.deepEqual(lines.slice(5), ['app-web=0', 'app-db=3']);
  });

  test('a running pod: pid and exited=false; --format json', async (t) => {
    const e = rktEnv(t);
    const pod = makePod(e.data, { stateDir: 'run', pid: 777, apps: [{ ...WEB, started: true }] });
    await holdLock(t, pod.path);
    const r = e.rkt(['status', pod.uuid]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^state=running\ncreated=.*\nstarted=.*\npid=777\nexited=false\n$/);
    const json = JSON.parse(e.rkt(['status', '--format', 'json', pod.uuid]).stdout) as PodJson;
    assert.equal(json.pid, 777);
    assert.equal(json.state, 'running');
  });

  test('--wait=DURATION on a pod that keeps running fails with one line; --wait UUID returns when it exits', async (t) => {
    const e = rktEnv(t);
    const pod = makePod(e.data, { stateDir: 'run', pid: 9, apps: [{ ...WEB, started: true }] });
    const held = await holdLock(t, pod.path);
    oneLineError(e.rkt(['status', '--wait=300ms', pod.uuid]), /^rkt: pod .* is still running after 300ms\n$/);

    const waiting = e.rktAsync(['status', '--wait', pod.uuid]);
    await new Promise((done) => setTimeout(done, 1500));
    fs.writeFileSync(path.join(pod.path, 'rkt', 'status', 'web'), '4\n');
    await held.release();
    const r = await waiting;
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^state=exited\n/);
    assert.match(r.stdout, /\napp-web=4\n$/);
  });

  test('no pod named is a usage error; an unknown one a one-line error', (t) => {
    const e = rktEnv(t);
    const none = e.rkt(['status']);
    assert.equal(none.status, 2);
    const unknown = e.rkt(['status', 'abcdef']);
    assert.equal(unknown.status, 1);
    oneLineError(unknown, /no pod has a UUID starting with "abcdef"/);
  });
});

describe('rkt cat-manifest', () => {
  test('the pod manifest, indented by default, one line with --no-pretty-print', (t) => {
    const e = rktEnv(t);
    const pod = makePod(e.data, { stateDir: 'prepared', apps: [WEB] });
    const pretty = e.rkt(['cat-manifest', pod.uuid]);
    assert.equal(pretty.status, 0, pretty.stderr);
    assert.ok(pretty.stdout.split('\n').length > 3);
    assert.equal((JSON.parse(pretty.stdout) as { apps: { name: string }[] }).apps[0]!.name, 'web');
    const flat = e.rkt(['cat-manifest', '--no-pretty-print', pod.uuid]);
    assert.equal(flat.stdout.trimEnd().split('\n').length, 1);
  });

  test('a pod with no manifest yet is a one-line error', (t) => {
    const e = rktEnv(t);
    const pod = makePod(e.data, { stateDir: 'embryo' });
    const r = e.rkt(['cat-manifest', pod.uuid]);
    assert.equal(r.status, 1);
    oneLineError(r, /^rkt: pod .* has no manifest \(it is embryo\)\n$/);
  });
});

describe('rkt rm', () => {
  test('removes pods by UUID and --uuid-file; a pod already gone is a note, not an error', (t) => {
    const e = rktEnv(t);
    const a = makePod(e.data, { stateDir: 'run', apps: [{ ...WEB, status: 0 }] });
    const b = makePod(e.data, { stateDir: 'prepared', apps: [WEB] });
    const file = path.join(e.dir, 'uuid');
    fs.writeFileSync(file, `${b.uuid}\n`);
    const r = e.rkt(['rm', a.uuid.slice(0, 8), `--uuid-file=${file}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `"${a.uuid}"\n"${b.uuid}"\n`);
    assert.equal(fs.existsSync(a.path) || fs.existsSync(b.path), false);

    const again = e.rkt(['rm', a.uuid, '--format', 'json']);
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout), { removed: [], absent: [a.uuid], failed: [] });
  });

  test('a pod that ran goes through its stage1 gc entrypoint, run from the store with the pod as cwd', (t) => {
    const e = rktEnv(t);
    const log = path.join(e.dir, 'stage1-gc.log');
    makeStage1Tree(e.data, log);
    const pod = makePod(e.data, { stateDir: 'run', apps: [{ ...WEB, status: 0 }] });
    const never = makePod(e.data, { stateDir: 'prepared', apps: [WEB] });
    const r = e.rkt(['rm', pod.uuid, never.uuid]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const garbage = path.join(e.data, 'pods', 'exited-garbage', pod.uuid);
    assert.equal(fs.readFileSync(log, 'utf8'), `gc ${pod.uuid} | ${garbage} | PATH \n`);
  });

  test('a stage1 tree gone from the store is a warning; the pod is removed anyway', (t) => {
    const e = rktEnv(t);
    const pod = makePod(e.data, { stateDir: 'run', apps: [{ ...WEB, status: 0 }] });
    const r = e.rkt(['rm', pod.uuid]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^rkt: pod .*: stage1 gc failed, removing the pod anyway: stage1 gc: .*\/rootfs\/init is gone \(the stage1 tree was removed\)\n$/);
    assert.equal(fs.existsSync(pod.path), false);
  });

  test('a running pod is refused with one line and exit status 1; the others are removed', async (t) => {
    const e = rktEnv(t);
    makeStage1Tree(e.data, path.join(e.dir, 'stage1-gc.log'));
    const running = makePod(e.data, { stateDir: 'run', pid: 1, apps: [{ ...WEB, started: true }] });
    const exited = makePod(e.data, { stateDir: 'run', apps: [{ ...WEB, status: 0 }] });
    await holdLock(t, running.path);
    const r = e.rkt(['rm', running.uuid, exited.uuid]);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, `"${exited.uuid}"\n`);
    assert.equal(r.stderr, `rkt: cannot remove pod "${running.uuid}": pod ${running.uuid} is running: stop it before removing it\n`);
    assert.equal(fs.existsSync(running.path), true);
  });

  test('no UUID at all is a usage error', (t) => {
    const e = rktEnv(t);
    assert.equal(e.rkt(['rm']).status, 2);
  });
});

describe('rkt gc', () => {
  test('--format json: marked and removed; the grace period keeps exited pods marked', (t) => {
    const e = rktEnv(t);
    makeStage1Tree(e.data, path.join(e.dir, 'stage1-gc.log'));
    const exited = makePod(e.data, { stateDir: 'run', apps: [{ ...WEB, status: 0 }] });
    const aborted = makePod(e.data, { stateDir: 'prepare', apps: [WEB] });
    const r = e.rkt(['gc', '--format', 'json']);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { marked: string[]; removed: string[] };
    assert.deepEqual(report.marked.sort(), [exited.uuid, aborted.uuid].sort());
    assert.deepEqual(report.removed, [aborted.uuid]);
    assert.ok(fs.existsSync(path.join(e.data, 'pods', 'exited-garbage', exited.uuid)));

    const now = e.rkt(['gc', '--grace-period=0s']);
    assert.equal(now.status, 0, now.stderr);
    assert.equal(now.stdout, `Garbage collecting pod "${exited.uuid}"\n`);
    assert.deepEqual(fs.readdirSync(path.join(e.data, 'pods', 'exited-garbage')), []);
  });

  test('--mark-only deletes nothing; text reports marks on stderr', (t) => {
    const e = rktEnv(t);
    const aborted = makePod(e.data, { stateDir: 'prepare', apps: [WEB] });
    const r = e.rkt(['gc', '--mark-only']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `rkt: moving pod "${aborted.uuid}" to garbage\n`);
    assert.ok(fs.existsSync(path.join(e.data, 'pods', 'garbage', aborted.uuid)));
  });

  test('a bad duration is a usage error', (t) => {
    const e = rktEnv(t);
    const r = e.rkt(['gc', '--grace-period=soon']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--grace-period: "soon" is not a duration/);
  });
});

test('each pod command has --help with an example', (t) => {
  const e = rktEnv(t);
  for (const cmd of ['list', 'status', 'cat-manifest', 'rm', 'gc']) {
    const r = e.rkt([cmd, '--help']);
    assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
    assert.match(r.stdout, /Examples:/, cmd);
  }
});
