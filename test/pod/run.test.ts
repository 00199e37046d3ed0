import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import type { PodJson } from '../../src/pod/format.ts';
import {
  ACE_PATH,
  HOST_PATH,
  PodWorld,
  allProcesses,
  buildProbeImage,
  isStage1,
  parseInfo,
  probeImage,
  procInfo,
  procStatus,
  whyNotArch,
  type PodProcess,
} from '../helpers/pods.ts';

// `rkt run` and the pod commands on real pods: the bundled rkt (dist/rkt), the amd64
// stage1 (dist/stage1-amd64.aci) and the probe (test/fixtures/probe/probe.c) as the
// app. Each test has its own --dir; the probe reports what it sees from inside.

const skip = whyNotArch('amd64');
const APP = 'probe-amd64';

let img: string;

/** `rkt run IMG ARGS...` with --uuid-file-save, in the background; resolves once the probe said "ready". */
async function startSleeper(
  w: PodWorld,
  opts: { podFlags?: string[]; appFlags?: string[]; termFile?: string; env?: Record<string, string> } = {},
): Promise<{ pod: PodProcess; uuid: string; pid: number }> {
  const uuidFile = path.join(w.dir, `uuid-${Math.random().toString(36).slice(2)}`);
  const args = ['run', `--uuid-file-save=${uuidFile}`, ...(opts.podFlags ?? []), img, ...(opts.appFlags ?? []), '--', 'sleep', '60'];
  if (opts.termFile) args.push(opts.termFile);
  const pod = w.start(args, opts.env ? { env: opts.env } : {});
  await pod.waitForStdout(/^ready$/m);
  const uuid = await w.uuidFrom(uuidFile);
  return { pod, uuid, pid: await w.podPid(uuid) };
}

function runOk(w: PodWorld, args: string[], env?: Record<string, string>) {
  const r = w.rkt(args, env ? { env } : {});
  assert.equal(r.status, 0, `rkt ${args.join(' ')}: ${r.stderr}`);
  return r;
}

function info(w: PodWorld, podFlags: string[] = [], appFlags: string[] = [], env?: Record<string, string>) {
  const r = runOk(w, ['run', ...podFlags, img, ...appFlags, '--', 'info'], env);
  return parseInfo(r.stdout);
}

function stateOf(w: PodWorld, uuid: string): Record<string, string> {
  const r = runOk(w, ['status', uuid]);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

describe('rkt run (amd64)', { skip }, () => {
  before(() => {
    img = probeImage('amd64');
  });

  describe('exit status and namespaces', () => {
    test('exits with the app status, and 128 + the signal of a killed app', (t) => {
      const w = new PodWorld(t);
      for (const code of [0, 7, 200]) {
        const r = w.rkt(['run', img, '--', 'exit', String(code)]);
        assert.equal(r.status, code, r.stderr);
      }
      const killed = w.rkt(['run', img, '--', 'kill', '15']);
      assert.equal(killed.status, 128 + 15, killed.stderr);
    });

    test("the app's own arguments after -- are its, even -h and --help", (t) => {
      const w = new PodWorld(t);
      const r = runOk(w, ['run', img, '--', 'write', '/tmp/args', '-h', '::', 'write', '/tmp/args', '--help', '::', 'read', '/tmp/args']);
      assert.equal(r.stdout, '-h\n--help\n');
    });

    test('stage1 is PID 1 of the pod and the app runs in its PID namespace', (t) => {
      const w = new PodWorld(t);
      const i = info(w);
      assert.ok(Number(i.fields['pid']) < 10, `app pid ${i.fields['pid']}`);
      assert.equal(i.fields['ppid'], '1');
      assert.equal(i.fields['proc1'], 'yes');
      const r = runOk(w, ['run', img, '--', 'read', '/proc/1/cmdline']);
      assert.equal(r.stdout, '/init\0run\0');
    });

    test('hostname: rkt-<uuid> by default, --hostname sets it', (t) => {
      const w = new PodWorld(t);
      const uuidFile = path.join(w.dir, 'uuid');
      const i = info(w, [`--uuid-file-save=${uuidFile}`]);
      assert.equal(i.fields['hostname'], `rkt-${fs.readFileSync(uuidFile, 'utf8').trim()}`);
      assert.equal(info(w, ['--hostname=pi-zero']).fields['hostname'], 'pi-zero');
    });
  });

  describe('environment', () => {
    test('exactly PATH, container and AC_APP_NAME: nothing of the host', (t) => {
      const w = new PodWorld(t);
      const i = info(w, [], [], { LEAK: 'from-the-host', HOME: '/root' });
      assert.deepEqual(i.env, { PATH: ACE_PATH, container: 'rkt', AC_APP_NAME: APP });
    });

    test('--set-env for the pod, --environment for the app, the latter winning', (t) => {
      const w = new PodWorld(t);
      const i = info(w, ['--set-env=POD_VAR=pod value', '--set-env=BOTH=pod'], ['--environment=APP_VAR=app=1', '--environment=BOTH=app']);
      assert.deepEqual(i.env, { PATH: ACE_PATH, container: 'rkt', AC_APP_NAME: APP, POD_VAR: 'pod value', APP_VAR: 'app=1', BOTH: 'app' });
    });

    test('--inherit-env gives the app the environment of rkt, below the ACE variables', (t) => {
      const w = new PodWorld(t);
      const i = info(w, ['--inherit-env'], [], { LEAK: 'from-the-host', AC_APP_NAME: 'host-says' });
      assert.equal(i.env['LEAK'], 'from-the-host');
      assert.equal(i.env['AC_APP_NAME'], APP);
      assert.equal(i.env['PATH'], ACE_PATH, 'PATH is the ACE default even when inherited');
    });
  });

  describe('user, group and working directory', () => {
    test('--user and --group by name, from the image /etc/passwd and /etc/group', (t) => {
      const w = new PodWorld(t);
      const i = info(w, [], ['--user=app', '--group=staff']);
      assert.equal(i.fields['uid'], '1000');
      assert.equal(i.fields['gid'], '50');
    });

    test('--user and --group by number, and --supplementary-gids', (t) => {
      const w = new PodWorld(t);
      const i = info(w, [], ['--user=4321', '--group=1234', '--supplementary-gids=7,8']);
      assert.equal(i.fields['uid'], '4321');
      assert.equal(i.fields['gid'], '1234');
      assert.deepEqual(i.fields['groups']!.split(',').sort(), ['7', '8']);
    });

    test('root by default, in / ; --working-dir changes the directory', (t) => {
      const w = new PodWorld(t);
      const i = info(w);
      assert.deepEqual([i.fields['uid'], i.fields['gid'], i.fields['cwd']], ['0', '0', '/']);
      assert.equal(info(w, [], ['--working-dir=/home/app']).fields['cwd'], '/home/app');
    });

    test('the default capability bounding set and no no-new-privileges', (t) => {
      const w = new PodWorld(t);
      const i = info(w);
      assert.equal(i.fields['CapBnd'], '00000000a80425fb');
      assert.equal(i.fields['NoNewPrivs'], '0');
    });
  });

  test('/dev: the device nodes, pts, ptmx and shm, and /dev/full is the full device', (t) => {
    const w = new PodWorld(t);
    const i = info(w);
    for (const dev of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'console']) assert.equal(i.dev[`/dev/${dev}`], 'chr', `/dev/${dev}`);
    assert.equal(i.dev['/dev/pts'], 'dir');
    assert.equal(i.dev['/dev/shm'], 'dir');
    assert.equal(i.dev['/dev/ptmx'], 'lnk');
    const r = w.rkt(['run', img, '--', 'write', '/dev/null', 'x', '::', 'write', '/dev/shm/f', 'x', '::', 'write', '/dev/full', 'x']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /probe: write \/dev\/full: No space left on device/);
  });

  describe('volumes', () => {
    test('kind=host: the app writes into the host directory', (t) => {
      const w = new PodWorld(t);
      const host = path.join(w.dir, 'host-data');
      fs.mkdirSync(host);
      fs.writeFileSync(path.join(host, 'given'), 'from the host\n');
      const r = runOk(w, ['run', `--volume=data,kind=host,source=${host}`, img, '--mount=volume=data,target=/vol', '--', 'read', '/vol/given', '::', 'write', '/vol/out', 'from the app']);
      assert.equal(r.stdout, 'from the host\n');
      assert.equal(fs.readFileSync(path.join(host, 'out'), 'utf8'), 'from the app\n');
    });

    test('kind=host,readOnly=true: reads, and a write is refused', (t) => {
      const w = new PodWorld(t);
      const host = path.join(w.dir, 'host-data');
      fs.mkdirSync(host);
      fs.writeFileSync(path.join(host, 'given'), 'read only\n');
      const r = w.rkt(['run', `--volume=data,kind=host,source=${host},readOnly=true`, img, '--mount', 'volume=data,target=/vol', '--', 'read', '/vol/given', '::', 'write', '/vol/out', 'x']);
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stdout, 'read only\n');
      assert.match(r.stderr, /probe: write \/vol\/out: Read-only file system/);
      assert.ok(!fs.existsSync(path.join(host, 'out')));
    });

    test('kind=empty: an empty directory of the pod, with its mode and owner', (t) => {
      const w = new PodWorld(t);
      const uuidFile = path.join(w.dir, 'uuid');
      const r = runOk(w, [
        'run',
        `--uuid-file-save=${uuidFile}`,
        '--volume=scratch,kind=empty,mode=0770,uid=1000,gid=50',
        img,
        '--user=app',
        '--group=staff',
        '--mount=volume=scratch,target=/scratch',
        '--',
        'write',
        '/scratch/f',
        'kept',
        '::',
        'read',
        '/scratch/f',
      ]);
      assert.equal(r.stdout, 'kept\n');
      const vol = path.join(w.podPath(fs.readFileSync(uuidFile, 'utf8').trim())!, 'volumes/scratch');
      const st = fs.statSync(vol);
      assert.deepEqual([st.mode & 0o7777, st.uid, st.gid], [0o770, 1000, 50]);
      assert.equal(fs.readFileSync(path.join(vol, 'f'), 'utf8'), 'kept\n');
    });
  });

  describe('two apps', () => {
    test('share an empty volume: a writes, b reads', (t) => {
      const w = new PodWorld(t);
      const mount = '--mount=volume=shared,target=/shared';
      const r = runOk(w, [
        'run',
        '--volume=shared,kind=empty',
        img,
        '--name=a',
        mount,
        '--',
        'write',
        '/shared/msg',
        'hello from a',
        '---',
        img,
        '--name=b',
        mount,
        '--',
        'waitfor',
        '/shared/msg',
        '20',
      ]);
      assert.equal(r.stdout, 'hello from a\n');
    });

    test('the pod exits with the status of the first failing app in manifest order, not in time', (t) => {
      const w = new PodWorld(t);
      const uuidFile = path.join(w.dir, 'uuid');
      const r = w.rkt([
        'run',
        `--uuid-file-save=${uuidFile}`,
        img,
        '--name=a',
        '--',
        'exit',
        '0',
        '---',
        img,
        '--name=b',
        '--',
        'sleep',
        '0.5',
        '::',
        'exit',
        '4',
        '---',
        img,
        '--name=c',
        '--',
        'exit',
        '5',
      ]);
      assert.equal(r.status, 4, r.stderr);
      const s = stateOf(w, fs.readFileSync(uuidFile, 'utf8').trim());
      assert.deepEqual([s['app-a'], s['app-b'], s['app-c']], ['0', '4', '5']);
    });

    test('two running apps: enter needs --app, stop sends SIGTERM to both', async (t) => {
      const w = new PodWorld(t);
      const uuidFile = path.join(w.dir, 'uuid');
      const sleeper = (name: string) => [img, `--name=${name}`, '--mount=volume=out,target=/out', '--', 'sleep', '60', `/out/term-${name}`];
      const pod = w.start(['run', `--uuid-file-save=${uuidFile}`, '--volume=out,kind=empty', ...sleeper('a'), '---', ...sleeper('b')]);
      await pod.waitForStdout(/^ready\nready$/m);
      const uuid = await w.uuidFrom(uuidFile);
      const ambiguous = w.rkt(['enter', uuid, '/bin/probe', 'exit', '0']);
      assert.equal(ambiguous.status, 2);
      assert.match(ambiguous.stderr, /choose one with --app/);
      const b = parseInfo(runOk(w, ['enter', '--app=b', uuid, '/bin/probe', 'info']).stdout);
      assert.equal(b.env['AC_APP_NAME'], 'b');
      runOk(w, ['stop', uuid]);
      assert.equal((await pod.exited).status, 42);
      const s = stateOf(w, uuid);
      assert.deepEqual([s['app-a'], s['app-b']], ['42', '42']);
      const volume = path.join(w.podPath(uuid)!, 'volumes/out');
      assert.deepEqual(fs.readdirSync(volume).sort(), ['term-a', 'term-b']);
    });
  });

  describe('event handlers', () => {
    /** An image whose app writes "app" to /log/order, its pre-start `preStart`, its post-stop "post". */
    function handlerImage(w: PodWorld, preStart: string[]): string {
      return buildProbeImage('amd64', path.join(w.dir, 'handlers.aci'), {
        exec: ['/bin/probe', 'write', '/log/order', 'app'],
        app: {
          eventHandlers: [
            { name: 'pre-start', exec: preStart },
            { name: 'post-stop', exec: ['/bin/probe', 'write', '/log/order', 'post'] },
          ],
          mountPoints: [{ name: 'log', path: '/log' }],
        },
      });
    }

    test('pre-start runs before the app, post-stop after it', (t) => {
      const w = new PodWorld(t);
      const image = handlerImage(w, ['/bin/probe', 'write', '/log/order', 'pre']);
      const log = path.join(w.dir, 'log');
      fs.mkdirSync(log);
      runOk(w, ['run', `--volume=log,kind=host,source=${log}`, image]);
      assert.equal(fs.readFileSync(path.join(log, 'order'), 'utf8'), 'pre\napp\npost\n');
    });

    test('post-stop runs after an app that rkt stop ended', async (t) => {
      const w = new PodWorld(t);
      const image = path.join(w.dir, 'sleeper.aci');
      buildProbeImage('amd64', image, {
        exec: ['/bin/probe', 'sleep', '60'],
        app: { eventHandlers: [{ name: 'post-stop', exec: ['/bin/probe', 'write', '/log/order', 'post'] }], mountPoints: [{ name: 'log', path: '/log' }] },
      });
      const log = path.join(w.dir, 'log');
      fs.mkdirSync(log);
      const uuidFile = path.join(w.dir, 'uuid');
      const pod = w.start(['run', `--uuid-file-save=${uuidFile}`, `--volume=log,kind=host,source=${log}`, image]);
      await pod.waitForStdout(/^ready$/m);
      runOk(w, ['stop', await w.uuidFrom(uuidFile)]);
      assert.equal((await pod.exited).status, 42);
      assert.equal(fs.readFileSync(path.join(log, 'order'), 'utf8'), 'post\n');
    });

    test('a failing pre-start is the app status, and the app does not run', (t) => {
      const w = new PodWorld(t);
      const image = handlerImage(w, ['/bin/probe', 'write', '/log/order', 'pre', '::', 'exit', '9']);
      const log = path.join(w.dir, 'log');
      fs.mkdirSync(log);
      const r = w.rkt(['run', `--volume=log,kind=host,source=${log}`, image]);
      assert.equal(r.status, 9, r.stderr);
      assert.equal(fs.readFileSync(path.join(log, 'order'), 'utf8'), 'pre\n');
    });
  });

  describe('stop, enter, status and list on a running pod', () => {
    test('stop delivers SIGTERM: the app exits 42 and status says so', async (t) => {
      const w = new PodWorld(t);
      const out = path.join(w.dir, 'out');
      fs.mkdirSync(out);
      const { pod, uuid } = await startSleeper(w, { podFlags: [`--volume=out,kind=host,source=${out}`], appFlags: ['--mount=volume=out,target=/out'], termFile: '/out/term' });
      const stop = runOk(w, ['stop', uuid]);
      assert.equal(stop.stdout, `${uuid}\n`);
      const exited = await pod.exited;
      assert.equal(exited.status, 42, exited.stderr);
      assert.equal(fs.readFileSync(path.join(out, 'term'), 'utf8'), 'term\n');
      const s = stateOf(w, uuid);
      assert.equal(s['state'], 'exited');
      assert.equal(s['exited'], 'true');
      assert.equal(s[`app-${APP}`], '42');
    });

    test('SIGTERM to the rkt run process (as a service manager stops it) reaches the app', async (t) => {
      const w = new PodWorld(t);
      const { pod, uuid } = await startSleeper(w);
      process.kill(pod.pid, 'SIGTERM');
      assert.equal((await pod.exited).status, 42);
      assert.equal(stateOf(w, uuid)[`app-${APP}`], '42');
    });

    test('stop --force kills the pod: no SIGTERM handler runs', async (t) => {
      const w = new PodWorld(t);
      const out = path.join(w.dir, 'out');
      fs.mkdirSync(out);
      const { pod, uuid } = await startSleeper(w, { podFlags: [`--volume=out,kind=host,source=${out}`], appFlags: ['--mount=volume=out,target=/out'], termFile: '/out/term' });
      runOk(w, ['stop', '--force', uuid]);
      const exited = await pod.exited;
      assert.equal(exited.status, 128 + 9, exited.stderr);
      assert.ok(!fs.existsSync(path.join(out, 'term')), 'the app saw SIGTERM');
      assert.equal(stateOf(w, uuid)['state'], 'exited');
    });

    test('enter runs a command in the app: its namespaces, root and env, and passes its exit status', async (t) => {
      const w = new PodWorld(t);
      const { pod, uuid } = await startSleeper(w, { podFlags: ['--hostname=entered'], appFlags: ['--environment=MARK=in-the-app'] });
      const i = parseInfo(runOk(w, ['enter', uuid, '/bin/probe', 'info']).stdout);
      assert.equal(i.fields['hostname'], 'entered');
      assert.ok(Number(i.fields['pid']) < 100, `pid ${i.fields['pid']}`);
      assert.equal(i.fields['proc1'], 'yes');
      assert.equal(i.env['MARK'], 'in-the-app');
      assert.equal(w.rkt(['enter', uuid, '/bin/probe', 'exit', '5']).status, 5);
      // The default command is /bin/sh (busybox here), reading stdin.
      const sh = w.rkt(['enter', uuid], { input: 'echo in-sh; exit 6\n' });
      assert.equal(sh.status, 6, sh.stderr);
      assert.equal(sh.stdout, 'in-sh\n');
      runOk(w, ['stop', uuid]);
      assert.equal((await pod.exited).status, 42);
    });

    test('list --format json and status --format json, running and then exited', async (t) => {
      const w = new PodWorld(t);
      const { pod, uuid, pid } = await startSleeper(w);
      const running = JSON.parse(runOk(w, ['status', '--format', 'json', uuid]).stdout) as PodJson;
      assert.equal(running.uuid, uuid);
      assert.equal(running.state, 'running');
      assert.equal(running.exited, false);
      assert.equal(running.pid, pid);
      assert.equal(running.exitCode, undefined);
      assert.ok(running.startedAt);
      assert.deepEqual(
        running.apps.map((a) => [a.name, a.state, a.exitCode, a.imageName]),
        [[APP, 'running', undefined, `example.com/${APP}`]],
      );
      const listed = JSON.parse(runOk(w, ['list', '--format', 'json']).stdout) as PodJson[];
      assert.deepEqual(listed, [running]);

      runOk(w, ['stop', uuid]);
      await pod.exited;
      const exited = JSON.parse(runOk(w, ['status', '--format', 'json', uuid]).stdout) as PodJson;
      assert.equal(exited.state, 'exited');
      assert.equal(exited.exited, true);
      assert.equal(exited.exitCode, 42);
      assert.equal(exited.pid, undefined);
      assert.ok(exited.exitedAt);
      assert.deepEqual(
        exited.apps.map((a) => [a.name, a.state, a.exitCode]),
        [[APP, 'exited', 42]],
      );
      assert.deepEqual(JSON.parse(runOk(w, ['list', '--format', 'json']).stdout), [exited]);
    });

    test('no node process stays: the pod PID and its parent are the stage1 init, small in memory', async (t) => {
      const w = new PodWorld(t);
      const { pod, uuid, pid } = await startSleeper(w);
      const pid1 = procInfo(pid);
      assert.ok(pid1 && isStage1(pid1), `rkt/pid ${pid}: ${JSON.stringify(pid1)}`);
      const outer = procInfo(pid1.ppid);
      assert.ok(outer && isStage1(outer), `its parent: ${JSON.stringify(outer)}`);
      assert.equal(outer.pid, pod.pid, 'the outer stage1 process is the process rkt run started as');
      const nodes = allProcesses().filter((p) => p.cmdline.some((a) => a.includes(w.data)) && p.cmdline.some((a) => /(^|\/)node$/.test(a) || a === process.execPath));
      assert.deepEqual(nodes, [], 'node processes of the pod');
      for (const [what, p] of [
        ['outer', outer.pid],
        ['PID 1', pid],
      ] as const) {
        const rss = procStatus(p, 'VmRSS');
        t.diagnostic(`stage1 ${what} (host pid ${p}) VmRSS: ${rss}`);
        assert.match(rss ?? '', /^\d+ kB$/);
        assert.ok(parseInt(rss!, 10) < 4096, `stage1 ${what} VmRSS ${rss}`);
      }
      runOk(w, ['stop', uuid]);
      await pod.exited;
    });
  });

  test('--interactive: the app runs on the terminal, which is its controlling tty', (t) => {
    if (spawnSync('sh', ['-c', 'command -v script'], { stdio: 'ignore' }).status !== 0) return t.skip('no script(1) (apt-get install bsdutils)');
    const w = new PodWorld(t);
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const cmd = [process.execPath, ...w.argv(['run', '--interactive', img, '--exec=/bin/busybox', '--', 'sh', '-c', 'tty; [ -t 0 ] && echo stdin-is-a-tty; exit 3'])].map(quote).join(' ');
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: { PATH: HOST_PATH, TERM: 'dumb' }, timeout: 60_000, input: '' });
    assert.equal(r.status, 3, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^\/dev\/(console|pts\/\d+)\r?$/m);
    assert.match(r.stdout, /^stdin-is-a-tty\r?$/m);
  });

  test(
    '--interactive with no terminal on stdin: the app runs, or rkt refuses before making a pod',
    (t) => {
      const w = new PodWorld(t);
      const r = w.rkt(['run', '--interactive', img, '--', 'exit', '3']);
      if (r.status === 3) return;
      assert.match(r.stderr, /terminal|tty/i);
      assert.doesNotMatch(r.stderr, /^stage1:/m, 'a stage1 failure, not a refusal');
      assert.deepEqual(w.pods(), [], 'a refused run leaves no pod');
    },
  );

  test('--readonly-rootfs: the root refuses writes, its volumes do not', (t) => {
    const w = new PodWorld(t);
    const r = w.rkt(['run', '--volume=scratch,kind=empty', img, '--readonly-rootfs', '--mount=volume=scratch,target=/scratch', '--', 'write', '/scratch/f', 'x', '::', 'write', '/tmp/f', 'x']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^probe: write \/tmp\/f: Read-only file system$/m);
    assert.equal(w.rkt(['run', img, '--', 'write', '/tmp/f', 'x']).status, 0, 'without it the root is writable');
  });

  test('--net=none: only the loopback interface; the default is the host network', (t) => {
    const w = new PodWorld(t);
    const interfaces = (text: string) =>
      text
        .split('\n')
        .slice(2)
        .filter((l) => l.includes(':'))
        .map((l) => l.split(':')[0]!.trim())
        .sort();
    const none = runOk(w, ['run', '--net=none', img, '--', 'read', '/proc/net/dev']);
    assert.deepEqual(interfaces(none.stdout), ['lo']);
    const host = runOk(w, ['run', img, '--', 'read', '/proc/net/dev']);
    assert.deepEqual(interfaces(host.stdout), interfaces(fs.readFileSync('/proc/net/dev', 'utf8')));
  });

  describe('--no-overlay', () => {
    function overlayOf(w: PodWorld, uuidFile: string): unknown {
      const runtime = JSON.parse(fs.readFileSync(path.join(w.podPath(fs.readFileSync(uuidFile, 'utf8').trim())!, 'runtime.json'), 'utf8')) as { overlay: unknown };
      return runtime.overlay;
    }

    test('copies the images into the pod, which runs as with overlays', (t) => {
      const w = new PodWorld(t);
      const uuidFile = path.join(w.dir, 'uuid');
      const r = w.rkt(['run', `--uuid-file-save=${uuidFile}`, '--no-overlay', img, '--', 'write', '/tmp/f', 'copied', '::', 'info', '::', 'exit', '4']);
      assert.equal(r.status, 4, r.stderr);
      assert.equal(parseInfo(r.stdout).fields['pid'], '2');
      assert.equal(overlayOf(w, uuidFile), false);
      const copy = path.join(w.podPath(fs.readFileSync(uuidFile, 'utf8').trim())!, 'stage1/rootfs/opt/stage2', APP, 'rootfs');
      assert.equal(fs.readFileSync(path.join(copy, 'tmp/f'), 'utf8'), 'copied\n');
    });

    test('--no-overlay=true (as CoreOS rkt, with Go flags, took it) is accepted too', (t) => {
      const w = new PodWorld(t);
      const uuidFile = path.join(w.dir, 'uuid');
      const r = w.rkt(['run', `--uuid-file-save=${uuidFile}`, '--no-overlay=true', img, '--', 'exit', '0']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(overlayOf(w, uuidFile), false);
    });
  });

  test('prepare, then run-prepared: the prepared pod runs and exits with the app status', (t) => {
    const w = new PodWorld(t);
    const prepared = runOk(w, ['prepare', '--hostname=later', img, '--', 'info', '::', 'exit', '3']);
    const uuid = prepared.stdout.trim();
    assert.match(uuid, /^[0-9a-f-]{36}$/);
    assert.equal(stateOf(w, uuid)['state'], 'prepared');
    const r = w.rkt(['run-prepared', uuid]);
    assert.equal(r.status, 3, r.stderr);
    assert.equal(parseInfo(r.stdout).fields['hostname'], 'later');
    const s = stateOf(w, uuid);
    assert.equal(s['state'], 'exited');
    assert.equal(s[`app-${APP}`], '3');
    const again = w.rkt(['run-prepared', uuid]);
    assert.notEqual(again.status, 0, 'a pod runs once');
  });
});
