import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { PodJson } from '../../src/pod/format.ts';
import { podDiffers, podFromUuidFile } from '../../src/pod/lookup.ts';
import { ExitCode } from '../../src/util/errors.ts';
import { getPod } from '../../src/pod/pods.ts';
import { rktEnv, type RktResult } from '../helpers/rkt-source.ts';
import { holdLock, makePod, type FakeApp } from '../pod/fixtures.ts';

// `rkt status --wait-ready` on pods made by hand, as stage1 leaves them (test/pod/
// fixtures.ts), with the command from source; and what `rkt prepare --uuid-file-save`
// compares to reuse a pod. The health command and prepare itself run on real pods in
// fleet.test.ts.

const WEB: FakeApp = { name: 'web', image: 'example.com/web', version: '1.0' };
const LOG: FakeApp = { name: 'log', image: 'example.com/log' };

function oneLineError(r: RktResult, code: number, pattern: RegExp): void {
  assert.equal(r.status, code, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, pattern);
}

const touch = (file: string) => fs.writeFileSync(file, '');

describe('rkt status --wait-ready', () => {
  test('a running pod whose apps have all started is ready at once: ready and readyAt in JSON', async (t) => {
    const e = rktEnv(t);
    const pod = makePod(e.data, { stateDir: 'run', pid: 4321, apps: [{ ...WEB, started: true }] });
    touch(path.join(pod.path, 'rkt/ready'));
    await holdLock(t, pod.path);
    const r = e.rkt(['status', '--wait-ready=5s', '--format=json', pod.uuid]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const json = JSON.parse(r.stdout) as PodJson;
    assert.equal(json.ready, true);
    assert.match(json.readyAt!, /^\d{4}-\d\d-\d\dT/);
    assert.equal(json.state, 'running');
  });

  test('waits while apps are starting (a stage1 without rkt/ready: every started/<app>), and times out with exit 1', async (t) => {
    const e = rktEnv(t);
    const pod = makePod(e.data, { stateDir: 'run', pid: 9, apps: [{ ...WEB, started: true }, LOG] });
    await holdLock(t, pod.path);
    oneLineError(e.rkt(['status', '--wait-ready=300ms', pod.uuid]), 1, /^rkt: pod .* is not ready after 300ms: still starting its apps\n$/);
    assert.equal((JSON.parse(e.rkt(['status', '--format=json', pod.uuid]).stdout) as PodJson).ready, false);

    const waiting = e.rktAsync(['status', '--wait-ready', pod.uuid]);
    await new Promise((done) => setTimeout(done, 1500));
    touch(path.join(pod.path, 'rkt/started/log'));
    const r = await waiting;
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^state=running\n/);
  });

  test(`a pod that exits, or an app that fails, before it is ready: exit ${ExitCode.notReady}, one line`, async (t) => {
    const e = rktEnv(t);
    const exited = makePod(e.data, { stateDir: 'run', pid: 10, apps: [{ ...WEB, status: 127 }] });
    oneLineError(e.rkt(['status', '--wait-ready=5s', exited.uuid]), ExitCode.notReady, /^rkt: pod .* is exited with status 127 before it was ready\n$/);

    const failing = makePod(e.data, { stateDir: 'run', pid: 11, apps: [{ ...LOG, started: true, status: 2 }, WEB] });
    await holdLock(t, failing.path);
    oneLineError(e.rkt(['status', '--wait-ready', failing.uuid]), ExitCode.notReady, /app log exited with status 2 before the pod was ready/);

    const wasReady = makePod(e.data, { stateDir: 'run', pid: 12, apps: [{ ...WEB, started: true, status: 0 }] });
    touch(path.join(wasReady.path, 'rkt/ready'));
    oneLineError(e.rkt(['status', '--wait-ready=5s', wasReady.uuid]), ExitCode.notReady, /is exited with status 0, after it was ready/);
  });

  test('a prepared pod is waited for; the help names the exit status', (t) => {
    const e = rktEnv(t);
    const pod = makePod(e.data, { stateDir: 'prepared', apps: [WEB] });
    oneLineError(e.rkt(['status', '--wait-ready=200ms', pod.uuid]), 1, /is not ready after 200ms: still prepared/);
    assert.match(e.rkt(['status', '--help']).stdout.replace(/\s+/g, ' '), new RegExp(`${ExitCode.notReady} when with --wait-ready the pod stops`));
  });

  test('usage: a health command needs --wait-ready, --app needs a health command, --wait and --wait-ready exclude each other', (t) => {
    const e = rktEnv(t);
    const pod = makePod(e.data, { stateDir: 'prepared', apps: [WEB] });
    oneLineError(e.rkt(['status', pod.uuid, '--', '/bin/true']), 2, /a health command \(after --\) needs --wait-ready/);
    oneLineError(e.rkt(['status', '--app=web', pod.uuid]), 2, /--app names the app of the health command/);
    oneLineError(e.rkt(['status', '--wait', '--wait-ready', pod.uuid]), 2, /exclude each other/);
  });
});

describe('prepare --uuid-file-save: the pod to reuse', () => {
  test('podFromUuidFile: no file, an empty one, a pod that is gone: none; garbage: a usage error', async (t) => {
    const e = rktEnv(t);
    const pod = makePod(e.data, { stateDir: 'prepared', apps: [WEB] });
    const file = path.join(e.dir, 'uuid');
    assert.equal(await podFromUuidFile(e.data, file), undefined);
    fs.writeFileSync(file, '');
    assert.equal(await podFromUuidFile(e.data, file), undefined);
    fs.writeFileSync(file, `${pod.uuid}\n`);
    assert.equal((await podFromUuidFile(e.data, file))?.uuid, pod.uuid);
    fs.writeFileSync(file, '0f5a7c8e-0000-4000-8000-000000000000\n');
    assert.equal(await podFromUuidFile(e.data, file), undefined);
    fs.writeFileSync(file, 'hello\n');
    await assert.rejects(podFromUuidFile(e.data, file), /holds "hello", not a pod UUID/);
  });

  test('podDiffers: same images (name and labels, latest, an ID prefix, a file) match; another version, name or app count do not', async (t) => {
    const e = rktEnv(t);
    const made = makePod(e.data, { stateDir: 'prepared', apps: [WEB, LOG] });
    const pod = await getPod(e.data, made.uuid);
    const id = pod.manifest!.apps[0]!.image.id!;
    assert.equal(podDiffers(pod, [{ image: 'example.com/web:1.0' }, { image: 'example.com/log' }]), undefined);
    assert.equal(podDiffers(pod, [{ image: 'example.com/web:latest', name: 'web' }, { image: 'example.com/log' }]), undefined);
    assert.equal(podDiffers(pod, [{ image: id.slice(0, 20) }, { image: '/srv/images/log.aci' }]), undefined);
    assert.equal(podDiffers(pod, []), undefined, '--pod-manifest: nothing to compare');
    assert.equal(podDiffers(pod, [{ image: 'example.com/web:1.1' }, { image: 'example.com/log' }]), 'app web runs example.com/web:1.0, not example.com/web:1.1');
    assert.equal(podDiffers(pod, [{ image: 'example.com/web:1.0,arch=armv6l' }, { image: 'example.com/log' }])?.startsWith('app web runs'), true);
    assert.equal(podDiffers(pod, [{ image: 'example.com/web:1.0' }]), 'it has 2 apps, not 1');
    assert.equal(podDiffers(pod, [{ image: 'example.com/web:1.0', name: 'www' }, { image: 'example.com/log' }]), 'its app 1 is web, not www');
    assert.equal(podDiffers(pod, [{ image: 'sha512-ffff' }, { image: 'example.com/log' }])?.startsWith('app web runs'), true);
  });
});
