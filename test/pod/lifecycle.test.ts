import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { PodWorld, allProcesses, mountsUnder, probeImage, stage1Processes, until, whyNotArch, type ProcInfo } from '../helpers/pods.ts';

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
function processesNaming(w: PodWorld): ProcInfo[] {
  return allProcesses().filter((p) => p.pid !== process.pid && p.cmdline.some((a) => a.includes(w.data)));
}

/** Whether stage0's `cp` of a tree into a pod of `w` runs. */
function copying(w: PodWorld): boolean {
  return processesNaming(w).some((p) => p.comm === 'cp' && p.cmdline.some((a) => a.includes(path.join(w.data, 'pods/prepare'))));
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

  // Killed while it renders the image into the store (Node itself), and while its `cp`
  // copies the tree into the pod (which then goes on as an orphan).
  for (const phase of ['render', 'copy'] as const) {
    test(`kill -9 of stage0 during prepare (${phase}): gc removes the aborted pod`, async (t) => {
      const big = probeImage('amd64', 'big', { blobBytes: BIG_BYTES });
      const w = new PodWorld(t);
      // --no-overlay: the trees are copied into the pod while it is in prepare/.
      const pod = w.start(['run', '--no-overlay', big, '--', 'exit', '0']);
      const prepareDir = path.join(w.data, 'pods/prepare');
      await until(() => fs.existsSync(prepareDir) && fs.readdirSync(prepareDir).length > 0, 'a pod in pods/prepare/');
      if (phase === 'copy') await until(() => copying(w), 'stage0 to start copying the image into the pod');
      process.kill(pod.pid, 'SIGKILL');
      const exited = await pod.exited;
      assert.equal(exited.signal, 'SIGKILL', 'rkt finished its prepare before the kill: make BIG_BYTES larger');
      const [uuid] = fs.readdirSync(prepareDir);
      const status = w.rkt(['status', uuid!]);
      assert.match(status.stdout, /^state=aborted-prepare$/m, status.stderr);
      const orphans = processesNaming(w);
      if (orphans.length > 0) t.diagnostic(`still running after the kill: ${orphans.map((p) => p.cmdline.slice(0, 2).join(' ')).join(', ')}`);
      gc(w);
      assertNothingLeft(w);
      // An orphaned cp cannot bring the pod back once gc has moved it away.
      await until(() => processesNaming(w).length === 0, 'the helpers of the killed stage0 to end');
      assertNothingLeft(w);
    });
  }

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

  test('rkt rm refuses a running pod, and gc leaves it', async (t) => {
    const w = new PodWorld(t);
    const uuidFile = path.join(w.dir, 'uuid');
    const pod = w.start(['run', `--uuid-file-save=${uuidFile}`, img, '--', 'sleep', '60']);
    await pod.waitForStdout(/^ready$/m);
    const uuid = await w.uuidFrom(uuidFile);
    const rm = w.rkt(['rm', uuid]);
    assert.equal(rm.status, 1);
    assert.match(rm.stderr, /cannot remove pod/);
    assert.deepEqual(w.pods(), [`run/${uuid}`]);
    gc(w);
    assert.deepEqual(w.pods(), [`run/${uuid}`], 'gc leaves a running pod alone');
    assert.equal(w.rkt(['stop', uuid]).status, 0);
    assert.equal((await pod.exited).status, 42);
    gc(w);
    assertNothingLeft(w);
  });
});
