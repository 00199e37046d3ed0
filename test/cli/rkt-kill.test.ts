import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { detectHostArch } from '../../src/appc/arch.ts';
import type { GcReport, VerifyReport } from '../../src/store/types.ts';
import { root } from '../helpers/run.ts';
import { buildImage, fileServer, makeSigner, testEnv, type BuiltImage, type Signer } from '../fetch/fixtures.ts';
import type { TestServer } from '../helpers/https-server.ts';

// From the issue: kill -9 `rkt fetch` (and render, and rm) at many points of its run,
// and `rkt image verify` must find no damage each time; what the kills leave behind is
// a leftover that the next `rkt image gc` removes. The built bundle, a signed image of
// some tens of MB over real HTTP on 127.0.0.1, a fresh --dir per test.

const rkt = join(root, 'dist/rkt');
const host = detectHostArch();
let dir: string;
let signer: Signer;
let image: BuiltImage;
let server: TestServer;
let url: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rkt-kill-'));
  signer = makeSigner(dir);
  // Half incompressible, so the download itself takes a share of the run.
  const files = { random: randomBytes(12 << 20), zeros: Buffer.alloc(12 << 20) };
  image = await buildImage(signer, dir, { name: 'example.com/big', labels: { version: '1.0', ...host }, files });
  server = await fileServer(false, { '/big.aci': { body: image.aci }, '/big.aci.asc': { body: image.asc } });
  url = `http://127.0.0.1:${server.port}/big.aci`;
});

after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Rkt {
  /** The store: --dir. */
  data: string;
  start(args: string[]): ChildProcess;
  run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }>;
}

/** rkt with a fresh --dir whose keystore trusts the image's signer. */
async function freshRkt(): Promise<Rkt> {
  const { ctx } = await testEnv(signer, dir);
  const flags = [`--dir=${ctx.dir}`, `--local-config=${ctx.localConfig}`, `--system-config=${ctx.systemConfig}`];
  // Never blocking: this process's event loop serves the image.
  const start = (args: string[]) => spawn(process.execPath, [rkt, ...flags, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  return {
    data: ctx.dir,
    start,
    run(args) {
      const child = start(args);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d));
      child.stderr!.on('data', (d: Buffer) => (stderr += d));
      return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
    },
  };
}

const FETCH = ['fetch', '--insecure-options=http', '--pull-policy=update'];

/** Runs `args` to the end and returns how long it took; it must succeed. */
async function timed(r: Rkt, args: string[]): Promise<number> {
  const start = performance.now();
  const { status, stderr } = await r.run(args);
  assert.equal(status, 0, stderr);
  return performance.now() - start;
}

/** Starts `args`, kills it with SIGKILL after `ms` (or when `until` says so), and waits for it to end. */
async function killAt(r: Rkt, args: string[], ms: number, until?: () => boolean): Promise<string> {
  const child = r.start(args);
  child.stdout!.resume();
  child.stderr!.resume();
  const closed = new Promise<string>((resolve) => child.on('close', (code, signal) => resolve(signal ?? `exit ${code}`)));
  for (const end = performance.now() + ms; performance.now() < end && !until?.() && child.exitCode === null; ) await sleep(1);
  child.kill('SIGKILL');
  return closed;
}

/** `rkt image verify --format json`, which must report no damage. */
async function verifyClean(r: Rkt, when: string): Promise<VerifyReport> {
  const { status, stdout, stderr } = await r.run(['image', 'verify', '--format=json']);
  assert.equal(status, 0, `${when}: ${stderr}`);
  const report = JSON.parse(stdout) as VerifyReport;
  assert.deepEqual(report.problems, [], when);
  return report;
}

async function gc(r: Rkt): Promise<GcReport> {
  // The default grace period keeps the images: only leftovers and trees go.
  const { status, stdout, stderr } = await r.run(['image', 'gc', '--format=json']);
  assert.equal(status, 0, stderr);
  return JSON.parse(stdout) as GcReport;
}

/**
 * `n` points spread over the first 90% of a run of `total` ms, jittered so that runs
 * differ. Durations vary with the machine's load, so a late point may still find the
 * command done: the callers only require most points to land mid-run.
 */
function killPoints(total: number, n = 12): number[] {
  return Array.from({ length: n }, (_, i) => 0.9 * total * ((i + 0.25 + Math.random() * 0.5) / n));
}

const tmpEntries = (r: Rkt) => readdirSync(join(r.data, 'cas/tmp'));

test('kill -9 of rkt fetch at twelve points and right after its download starts: verify is clean, gc takes the leftovers, a fetch then succeeds', async () => {
  const r = await freshRkt();
  const full = await timed(await freshRkt(), [...FETCH, url]);
  const outcomes: string[] = [];
  // The measured run may have been slowed by other tests: when a fetch finishes before
  // its kill, the remaining points move earlier and more are added (24 runs at most), so
  // that at least eight kills really land mid-run however loaded the machine is.
  const kills = () => outcomes.filter((o) => o.endsWith('SIGKILL')).length;
  let scale = 1;
  let points = killPoints(full);
  while (outcomes.length < 24) {
    if (points.length === 0) {
      if (kills() >= 8) break;
      points = killPoints(full, 4);
    }
    const ms = points.shift()! * scale;
    const signal = await killAt(r, [...FETCH, url], ms);
    outcomes.push(`${Math.round(ms)} ms: ${signal}`);
    await verifyClean(r, `fetch killed after ${Math.round(ms)} ms`);
    if (signal !== 'SIGKILL') scale *= 0.7;
  }
  assert.ok(kills() >= 8, `most runs must be killed mid-way:\n${outcomes.join('\n')}`);

  // The download's temporary directory is in the store's tmp/, locked by its writer.
  const signal = await killAt(r, [...FETCH, url], 20_000, () => tmpEntries(r).some((n) => n.startsWith('fetch-')));
  assert.equal(signal, 'SIGKILL');
  const before = await verifyClean(r, 'fetch killed once its download began');
  assert.ok(before.leftovers.some((p) => /^tmp\/fetch-\d+-[0-9a-f]+$/.test(p)), `no fetch leftover in ${before.leftovers.join(' ')}`);
  const collected = await gc(r);
  assert.deepEqual(collected.removedImages, []);
  for (const left of before.leftovers) assert.ok(collected.removedLeftovers.includes(left), `gc left ${left}`);
  assert.deepEqual(tmpEntries(r), []);

  const fetched = await r.run([...FETCH, '--format=json', url]);
  assert.equal(fetched.status, 0, fetched.stderr);
  assert.equal((JSON.parse(fetched.stdout) as { id: string }).id, image.id);
  assert.deepEqual(await verifyClean(r, 'after the final fetch'), { blobsChecked: 1, treesChecked: 0, problems: [], leftovers: [] });
});

test('kill -9 of rkt image render at points of its run: the store verifies clean and the output is never half an image', async () => {
  const r = await freshRkt();
  await timed(r, [...FETCH, url]);
  const full = await timed(r, ['image', 'render', image.id, join(r.data, '..', 'measured')]);
  for (const [i, ms] of killPoints(full, 6).entries()) {
    const out = join(r.data, '..', `out-${i}`);
    await killAt(r, ['image', 'render', image.id, out], ms);
    await verifyClean(r, `render killed after ${Math.round(ms)} ms`);
    // Renamed into place only when complete.
    if (existsSync(out)) assert.deepEqual(readdirSync(out).sort(), ['manifest', 'rootfs']);
  }
  assert.deepEqual(await verifyClean(r, 'after the renders'), { blobsChecked: 1, treesChecked: 0, problems: [], leftovers: [] });
});

test('kill -9 of rkt image rm at points of its run: the image is there or gone, never damaged, and gc leaves nothing', async () => {
  const r = await freshRkt();
  const file = join(r.data, '..', 'big.aci');
  writeFileSync(file, image.aci);
  writeFileSync(`${file}.asc`, image.asc);
  await timed(r, ['fetch', file]);
  const full = await timed(r, ['image', 'rm', image.id]);
  for (const ms of killPoints(full, 6)) {
    if ((await verifyClean(r, 'before rm')).blobsChecked === 0) await timed(r, ['fetch', file]);
    await killAt(r, ['image', 'rm', image.id], ms);
    const report = await verifyClean(r, `rm killed after ${Math.round(ms)} ms`);
    assert.ok(report.blobsChecked <= 1);
  }
  await gc(r);
  const { leftovers } = await verifyClean(r, 'after gc');
  assert.deepEqual(leftovers, []);
});
