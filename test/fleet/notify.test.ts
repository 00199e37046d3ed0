import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { emptyDir, isRoot, root } from '../helpers/run.ts';
import { listenNotify, whyNoListener } from './notify-listener.ts';

// Readiness from the stage1 init (native/notify.c), without stage0: a stage1 root built
// by hand as test/native/stage1.test.ts does (the init, /rkt/stage1.conf, busybox apps)
// and `unshare ... chroot ROOT /init run` with NOTIFY_SOCKET set, as stage0 hands it
// over: a path inside the stage1 root (where stage0 binds systemd's socket) or an
// abstract name (reachable while the pod shares the host's network namespace).

const BUSYBOX = '/bin/busybox';
const HOST_ARCH = ({ x64: 'amd64', arm64: 'aarch64', arm: 'armv7l' } as Record<string, string>)[process.arch] ?? process.arch;
const INIT = path.join(root, '.cache/native', HOST_ARCH, 'init');
const UNSHARE = ['--mount', '--uts', '--ipc', '--propagation', 'private', 'chroot'];

const whyNot = !isRoot
  ? 'needs root: namespaces and chroot'
  : !fs.existsSync(BUSYBOX)
    ? `needs ${BUSYBOX} (apt-get install busybox-static)`
    : !fs.existsSync(INIT)
      ? `no ${INIT}: run bash scripts/build-stage1.sh`
      : whyNoListener();

interface App {
  name: string;
  exec: string[];
}

function podRoot(t: TestContext, apps: App[]): string {
  const dir = emptyDir(t);
  fs.copyFileSync(INIT, path.join(dir, 'init'));
  fs.chmodSync(path.join(dir, 'init'), 0o755);
  for (const d of ['rkt', 'proc']) fs.mkdirSync(path.join(dir, d));
  const kv = ['version', '1', 'interactive', '0'];
  for (const app of apps) {
    kv.push('app', app.name, 'root', `/opt/stage2/${app.name}/rootfs`, 'env', 'PATH=/bin');
    for (const arg of app.exec) kv.push('exec', arg);
    const rootfs = path.join(dir, 'opt/stage2', app.name, 'rootfs');
    fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
    fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin/busybox'));
    fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
    for (const applet of ['sh', 'sleep', 'touch']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  }
  fs.writeFileSync(path.join(dir, 'rkt/stage1.conf'), kv.map((s) => `${s}\0`).join(''));
  return dir;
}

/** The pod in the background; resolves with its exit status and stderr. */
function startPod(dir: string, env: Record<string, string>) {
  const child = spawn('unshare', [...UNSHARE, dir, '/init', 'run'], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env } });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}

const mtime = (file: string) => fs.statSync(file).mtimeMs;

describe('stage1 readiness: /rkt/ready and READY=1', { skip: whyNot }, () => {
  it('once every app has started: /rkt/ready, then READY=1 on a path socket, from the pod PID 1', async (t) => {
    const dir = podRoot(t, [
      { name: 'a', exec: ['/bin/sleep', '1'] },
      { name: 'b', exec: ['/bin/sleep', '1'] },
    ]);
    const listener = await listenNotify(path.join(dir, 'rkt/notify'));
    t.after(() => listener.close());
    const exited = startPod(dir, { NOTIFY_SOCKET: '/rkt/notify' });
    const ready = await listener.waitFor('READY=1');
    assert.equal(ready.text, 'READY=1');
    for (const app of ['a', 'b']) assert.ok(fs.existsSync(path.join(dir, 'rkt/started', app)), `started/${app} before READY=1`);
    assert.equal(fs.readFileSync(path.join(dir, 'rkt/ready'), 'utf8'), '');
    assert.ok(mtime(path.join(dir, 'rkt/ready')) >= mtime(path.join(dir, 'rkt/started/b')));
    assert.equal(ready.pid, Number(fs.readFileSync(path.join(dir, 'rkt/pid'), 'utf8')), 'sent by the pod PID 1');
    const r = await exited;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(listener.messages.length, 1, 'READY=1 once, not again as apps exit');
  });

  it('an abstract socket (@name) works too', async (t) => {
    const dir = podRoot(t, [{ name: 'a', exec: ['/bin/sleep', '0.2'] }]);
    const listener = await listenNotify(`@rkt-test-notify-${process.pid}-${Date.now()}`);
    t.after(() => listener.close());
    const exited = startPod(dir, { NOTIFY_SOCKET: listener.address });
    await listener.waitFor('READY=1');
    assert.equal((await exited).code, 0);
  });

  it('never when an app fails to start; the pod still runs its other apps', async (t) => {
    const dir = podRoot(t, [
      { name: 'a', exec: ['/bin/sleep', '0.5'] },
      { name: 'b', exec: ['/bin/missing'] },
    ]);
    const listener = await listenNotify(path.join(dir, 'rkt/notify'));
    t.after(() => listener.close());
    const r = await startPod(dir, { NOTIFY_SOCKET: '/rkt/notify' });
    assert.equal(r.code, 254, r.stderr);
    assert.ok(fs.existsSync(path.join(dir, 'rkt/started/a')));
    assert.ok(!fs.existsSync(path.join(dir, 'rkt/ready')));
    assert.deepEqual(listener.messages, []);
  });

  it('without NOTIFY_SOCKET: /rkt/ready only; with one nobody listens on: a warning, and the pod runs on', async (t) => {
    const quiet = podRoot(t, [{ name: 'a', exec: ['/bin/sleep', '0.1'] }]);
    const r1 = await startPod(quiet, {});
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(r1.stderr, '');
    assert.ok(fs.existsSync(path.join(quiet, 'rkt/ready')));

    const deaf = podRoot(t, [{ name: 'a', exec: ['/bin/sleep', '0.1'] }]);
    const r2 = await startPod(deaf, { NOTIFY_SOCKET: '/rkt/nobody' });
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stderr, /^stage1: notify \/rkt\/nobody: No such file or directory \(the pod runs on\)\n$/);
  });
});
