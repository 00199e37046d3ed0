import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { PodWorld, allProcesses, mountsUnder, probeImage, stage1Processes, until, whyNotArch } from '../helpers/pods.ts';

// What pods leave behind: after many run + gc cycles, after a stage0 killed in the middle
// of a prepare and a stage1 killed while its pod runs, `rkt gc` (and `rkt rm`) must leave
// no pod directory, no mount and no process. Real pods (amd64), each test in its own --dir.

const skip = whyNotArch('amd64');
const LONG = process.env['RKT_LONG_TESTS'] === '1';
const CYCLES = LONG ? 200 : 20;
/** Large enough that rendering and copying it (--no-overlay) takes a good part of a second. */
const BIG_BYTES = 48 << 20;

let img: string;

function gc(w: PodWorld): void {
  const r = w.rkt(['gc', '--grace-period=0s']);
  assert.equal(r.status, 0, r.stderr);
}

/** Nothing of any pod under the world's --dir: no pod directory, no mount, no process. */
function assertNothingLeft(w: PodWorld): void {
  assert.deepEqual(w.pods(), [], 'pod directories left');
  assert.deepEqual(mountsUnder(w.dir), [], 'mounts left (/proc/self/mountinfo)');
  assert.deepEqual(stage1Processes(w.data), [], 'stage1 processes left');
}

/** Processes (but this one) whose command line names the world's data dir: stage0s and their helpers (cp). */
function processesNaming(w: PodWorld): number[] {
  return allProcesses()
    .filter((p) => p.pid !== process.pid && p.cmdline.some((a) => a.includes(w.data)))
    .map((p) => p.pid);
}

describe('pod lifecycle (amd64)', { skip }, () => {
  before(() => {
    img = probeImage('amd64');
  });

  test(`${CYCLES} run + gc cycles leave no pod, mount or process`, (t) => {
    t.diagnostic(`${CYCLES} cycles${LONG ? ' (RKT_LONG_TESTS=1)' : '; RKT_LONG_TESTS=1 runs 200'}`);
    const w = new PodWorld(t);
    for (let i = 0; i < CYCLES; i++) {
      const r = w.rkt(['run', img, '--', 'write', '/tmp/cycle', String(i), '::', 'exit', String(i % 3)]);
      assert.equal(r.status, i % 3, `cycle ${i}: ${r.stderr}`);
      gc(w);
      assert.deepEqual(w.pods(), [], `cycle ${i}: pods left after gc`);
    }
    assertNothingLeft(w);
  });

  test('kill -9 of stage0 during prepare: gc removes the aborted pod', async (t) => {
    const big = probeImage('amd64', 'big', { blobBytes: BIG_BYTES });
    const w = new PodWorld(t);
    // --no-overlay: the trees are copied into the pod while it is in prepare/.
    const pod = w.start(['run', '--no-overlay', big, '--', 'exit', '0']);
    const prepareDir = path.join(w.data, 'pods/prepare');
    await until(() => fs.existsSync(prepareDir) && fs.readdirSync(prepareDir).length > 0, 'a pod in pods/prepare/');
    process.kill(pod.pid, 'SIGKILL');
    const exited = await pod.exited;
    assert.equal(exited.signal, 'SIGKILL', 'rkt finished its prepare before the kill: make BIG_BYTES larger');
    const [uuid] = fs.readdirSync(prepareDir);
    const status = w.rkt(['status', uuid!]);
    assert.match(status.stdout, /^state=aborted-prepare$/m, status.stderr);
    // A `cp` stage0 started may still be copying into the pod: it goes on as an orphan.
    const orphans = processesNaming(w);
    if (orphans.length > 0) t.diagnostic(`processes of the killed stage0 still running: ${orphans.join(', ')}`);
    await until(() => processesNaming(w).length === 0, 'the helpers of the killed stage0 to end');
    gc(w);
    assertNothingLeft(w);
  });

  test("kill -9 of a running pod's stage1 outer process: the pod dies, gc removes it", async (t) => {
    const w = new PodWorld(t);
    const uuidFile = path.join(w.dir, 'uuid');
    const pod = w.start(['run', `--uuid-file-save=${uuidFile}`, img, '--', 'sleep', '60']);
    await pod.waitForStdout(/^ready$/m);
    const uuid = await w.uuidFrom(uuidFile);
    await w.podPid(uuid);
    assert.ok(stage1Processes(w.data).length >= 3, 'stage1 outer, PID 1 and the app');
    process.kill(pod.pid, 'SIGKILL');
    assert.equal((await pod.exited).signal, 'SIGKILL');
    // PID 1 dies with its parent (PR_SET_PDEATHSIG), and the app with its PID namespace.
    await until(() => stage1Processes(w.data).length === 0, 'the pod processes to die', 10_000);
    const status = w.rkt(['status', uuid]);
    assert.match(status.stdout, /^state=exited$/m, status.stderr);
    gc(w);
    assertNothingLeft(w);
  });

  test('rkt rm removes an exited pod, and a second rm finds nothing', (t) => {
    const w = new PodWorld(t);
    const uuidFile = path.join(w.dir, 'uuid');
    assert.equal(w.rkt(['run', `--uuid-file-save=${uuidFile}`, img, '--', 'exit', '3']).status, 3);
    const uuid = fs.readFileSync(uuidFile, 'utf8').trim();
    assert.deepEqual(w.pods(), [`run/${uuid}`]);
    const rm = w.rkt(['rm', uuid]);
    assert.equal(rm.status, 0, rm.stderr);
    assert.equal(rm.stdout, `"${uuid}"\n`);
    assertNothingLeft(w);
    const again = w.rkt(['rm', uuid]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /is not there: nothing to remove/);
  });

  test('rkt rm refuses a running pod', async (t) => {
    const w = new PodWorld(t);
    const uuidFile = path.join(w.dir, 'uuid');
    const pod = w.start(['run', `--uuid-file-save=${uuidFile}`, img, '--', 'sleep', '60']);
    await pod.waitForStdout(/^ready$/m);
    const uuid = await w.uuidFrom(uuidFile);
    const rm = w.rkt(['rm', uuid]);
    assert.equal(rm.status, 1);
    assert.match(rm.stderr, /cannot remove pod/);
    assert.deepEqual(w.pods(), [`run/${uuid}`]);
    assert.equal(w.rkt(['stop', uuid]).status, 0);
    assert.equal((await pod.exited).status, 42);
    gc(w);
    assertNothingLeft(w);
  });
});
