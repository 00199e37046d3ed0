import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { execLine, quoteExecArg, systemdUnit, timeSpan, unitNameFor, type UnitSpec } from '../../src/pod/systemd-unit.ts';
import { stage1Env } from '../../src/stage0/entrypoints.ts';
import { HOST_PATH, PodWorld, RKT, probeImage, whyNotArch } from '../helpers/pods.ts';
import { emptyDir } from '../helpers/run.ts';
import { listenNotify, whyNoListener, type NotifyListener } from './notify-listener.ts';
import { parseExecLine, unitValues } from './systemd-syntax.ts';

// rkt unit: the unit text (pure), the command, `systemd-analyze verify` where systemd is
// installed, and the unit's own command lines run for real: ExecStart with
// NOTIFY_SOCKET set to a socket this test listens on, as systemd would, then ExecStop
// and ExecStopPost.

const SPEC: UnitSpec = {
  name: 'web',
  description: 'rkt pod web (example.com/web:1.0)',
  rkt: ['/usr/bin/node', '/opt/rkt/rkt'],
  globalFlags: ['--dir=/var/lib/rkt', '--local-config=/etc/rkt', '--system-config=/usr/lib/rkt'],
  runArgs: ['--net=host', 'example.com/web:1.0', '--exec=/bin/sh', '--', '-c', 'echo "$HOME" 100% done'],
  uuidFile: '/run/rkt-web.uuid',
  restart: 'always',
  restartSec: '5s',
  timeoutStartSec: '5min',
  timeoutStopSec: '30s',
};

const hasSystemdAnalyze = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { stdio: 'ignore' }).status === 0;

describe('systemd-unit.ts', () => {
  it('quotes arguments so that systemd reads them back as they were', () => {
    const nasty = ['plain', 'a b', '"quoted"', "it's", 'back\\slash', '$HOME', '${X}', '$$', '100%', '%n', ';', '\\;', '', 'tab\there', 'new\nline', 'ünïcode', '-x', '@x', 'a=b,c:d/e'];
    const line = execLine(['/bin/echo', ...nasty]);
    assert.deepEqual(parseExecLine(line).argv, ['/bin/echo', ...nasty]);
    assert.equal(quoteExecArg('--dir=/var/lib/rkt'), '--dir=/var/lib/rkt');
    assert.equal(quoteExecArg('$HOME'), '$$HOME');
    assert.equal(quoteExecArg('a b'), '"a b"');
    assert.equal(quoteExecArg(';'), '";"');
    assert.throws(() => execLine(['rkt', 'run']), /absolute/);
  });

  it('writes a Type=notify service: run with --uuid-file-save, stop with rkt stop, gc --mark-only after', () => {
    const text = systemdUnit(SPEC);
    const v = unitValues(text);
    const one = (key: string) => {
      assert.equal(v.get(key)?.length, 1, key);
      return v.get(key)![0]!;
    };
    assert.equal(one('Type'), 'notify');
    assert.equal(one('NotifyAccess'), 'all');
    assert.equal(one('KillMode'), 'mixed');
    assert.equal(one('Restart'), 'always');
    assert.equal(one('RestartSec'), '5s');
    assert.equal(one('TimeoutStartSec'), '5min');
    assert.equal(one('TimeoutStopSec'), '30s');
    assert.equal(one('SuccessExitStatus'), '143');
    assert.equal(one('WantedBy'), 'multi-user.target');
    assert.equal(one('Description'), 'rkt pod web (example.com/web:1.0)');
    assert.deepEqual(parseExecLine(one('ExecStart')), {
      ignoreFailure: false,
      argv: [...SPEC.rkt, ...SPEC.globalFlags, 'run', '--uuid-file-save=/run/rkt-web.uuid', ...SPEC.runArgs],
    });
    assert.deepEqual(parseExecLine(one('ExecStop')), { ignoreFailure: false, argv: [...SPEC.rkt, ...SPEC.globalFlags, 'stop', '--uuid-file=/run/rkt-web.uuid'] });
    assert.deepEqual(parseExecLine(one('ExecStopPost')), { ignoreFailure: true, argv: [...SPEC.rkt, ...SPEC.globalFlags, 'gc', '--mark-only'] });
    assert.match(text, /^# Written by rkt unit/);
    assert.ok(text.endsWith('\n'));
  });

  it('names a unit after the first image; time spans in systemd units', () => {
    assert.equal(unitNameFor('example.com/web:1.0'), 'web');
    assert.equal(unitNameFor('example.com/tools/Log_Shipper,arch=armv6l'), 'log_shipper');
    assert.equal(unitNameFor('./build/hello-1.0.0-linux-amd64.aci'), 'hello-1.0.0-linux-amd64');
    assert.equal(unitNameFor('https://example.com/x/app.aci'), 'app');
    assert.equal(unitNameFor('sha512-0a1b2c'), undefined);
    assert.deepEqual([0, 5000, 300_000, 7_200_000, 1500].map(timeSpan), ['infinity', '5s', '5min', '2h', '1500ms']);
  });
});

describe('rkt unit', () => {
  const rkt = (args: string[], cwd: string) => spawnSync(process.execPath, [RKT, ...args], { cwd, encoding: 'utf8', env: { PATH: HOST_PATH } });

  it('prints the unit; --output writes it once and then says it is unchanged', { skip: !fs.existsSync(RKT) && 'no dist/rkt: npm run build' }, (t) => {
    const dir = emptyDir(t);
    const args = [`--dir=${dir}/data`, '--insecure-options=image', 'unit', '--restart=on-failure', '--', '--net=none', 'example.com/web:1.0'];
    const printed = rkt(args, dir);
    assert.equal(printed.status, 0, printed.stderr);
    assert.equal(printed.stderr, '');
    const start = parseExecLine(unitValues(printed.stdout).get('ExecStart')![0]!).argv;
    assert.deepEqual(start, [
      process.execPath,
      fs.realpathSync(RKT),
      `--dir=${dir}/data`,
      '--local-config=/etc/rkt',
      '--system-config=/usr/lib/rkt',
      '--insecure-options=image',
      'run',
      '--uuid-file-save=/run/rkt-web.uuid',
      '--net=none',
      'example.com/web:1.0',
    ]);
    assert.deepEqual(unitValues(printed.stdout).get('Restart'), ['on-failure']);

    const file = path.join(dir, 'web.service');
    const first = rkt([...args.slice(0, 3), `--output=${file}`, ...args.slice(3)], dir);
    assert.equal(first.status, 0, first.stderr);
    assert.equal(first.stdout, '');
    assert.match(first.stderr, /^rkt: wrote .*web\.service; start it with: systemctl daemon-reload && systemctl enable --now web\.service\n$/);
    assert.equal(fs.readFileSync(file, 'utf8'), printed.stdout);
    const again = rkt([...args.slice(0, 3), `--output=${file}`, ...args.slice(3)], dir);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /already holds this unit: unchanged/);
  });

  it('refuses what a service cannot do, as one-line usage errors', { skip: !fs.existsSync(RKT) && 'no dist/rkt: npm run build' }, (t) => {
    const dir = emptyDir(t);
    for (const [args, pattern] of [
      [['unit'], /give rkt run's flags and images after --/],
      [['unit', '--', '--interactive', 'example.com/web'], /--interactive needs a terminal/],
      [['unit', '--', '--dir=/x', 'example.com/web'], /--dir is a global flag/],
      [['unit', '--', '--uuid-file-save=/x', 'example.com/web'], /--uuid-file=FILE/],
      [['unit', '--', 'sha512-0a1b'], /--name/],
      [['unit', '--name=a@b', '--', 'example.com/web'], /not a unit name/],
      [['unit', '--', '--no-such-flag', 'example.com/web'], /Unknown argument/],
    ] as const) {
      const r = rkt([...args], dir);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, pattern);
    }
  });

  it('systemd-analyze verify accepts the unit', { skip: (!hasSystemdAnalyze && 'no systemd-analyze (apt-get install systemd)') || (!fs.existsSync(RKT) && 'no dist/rkt') }, (t) => {
    const dir = emptyDir(t);
    const file = path.join(dir, 'hello.service');
    const made = rkt([`--dir=${dir}/data`, 'unit', `--output=${file}`, '--', '--net=host', 'example.com/hello:1.0', '--exec=/bin/sh', '--', '-c', 'echo "a b" $HOME 100% \\ done'], dir);
    assert.equal(made.status, 0, made.stderr);
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', env: { PATH: HOST_PATH, SYSTEMD_LOG_LEVEL: 'warning' } });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, new RegExp(`${file}:\\d+`), r.stderr);
  });
});

/** What stage0 hands stage1 for a NOTIFY_SOCKET: undefined while it passes none on. */
function stage0Passes(socket: string): string | undefined {
  return stage1Env({ PATH: '/bin', NOTIFY_SOCKET: socket })
    .find((kv) => kv.startsWith('NOTIFY_SOCKET='))
    ?.slice('NOTIFY_SOCKET='.length);
}

const whyNoPods = whyNotArch('amd64') || whyNoListener();
const NO_NOTIFY = 'stage0 does not hand NOTIFY_SOCKET to stage1 yet (src/stage0/entrypoints.ts stage1Env, and a bind of a path socket: see docs/fleet.md, "systemd")';

describe('the unit, run as systemd would run it', { skip: whyNoPods }, () => {
  for (const kind of ['path', 'abstract', 'none'] as const) {
    const why = kind === 'none' ? false : stage0Passes(kind === 'path' ? '/run/systemd/notify' : '@x') === undefined && NO_NOTIFY;
    it(`ExecStart runs the pod${kind === 'none' ? '' : ` and tells ${kind === 'path' ? 'a path' : 'an abstract'} NOTIFY_SOCKET READY=1 once the app runs`}; ExecStop stops it; ExecStopPost marks it`, { skip: why }, async (t) => {
      const w = new PodWorld(t);
      const image = probeImage('amd64');
      const uuidFile = path.join(w.dir, 'web.uuid');
      const made = spawnSync(process.execPath, w.argv(['unit', '--name=web', `--uuid-file=${uuidFile}`, '--', '--net=host', image, '--exec=/bin/probe', '--', 'sleep', '300', '/tmp/term']), {
        encoding: 'utf8',
        env: { PATH: HOST_PATH },
      });
      assert.equal(made.status, 0, made.stderr);
      const unit = unitValues(made.stdout);
      const [start, stop, stopPost] = ['ExecStart', 'ExecStop', 'ExecStopPost'].map((k) => parseExecLine(unit.get(k)![0]!));

      let listener: NotifyListener | undefined;
      if (kind !== 'none') {
        listener = await listenNotify(kind === 'path' ? path.join(w.dir, 'notify.sock') : `@rkt-unit-test-${process.pid}-${Date.now()}`);
        t.after(() => listener!.close());
      }
      // systemd gives the service a minimal environment, and NOTIFY_SOCKET for Type=notify.
      const env = { PATH: HOST_PATH, ...(listener && { NOTIFY_SOCKET: listener.address }) };
      const service = spawn(start!.argv[0]!, start!.argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      service.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => service.on('close', (code) => resolve(code)));
      t.after(() => service.kill('SIGKILL'));

      const uuid = await w.uuidFrom(uuidFile);
      const podDir = path.join(w.data, 'pods/run', uuid);
      if (listener) {
        const ready = await listener.waitFor('READY=1');
        assert.ok(fs.existsSync(path.join(podDir, 'rkt/started', 'probe-amd64')), 'the app had started when READY=1 came');
        assert.equal(ready.pid, await w.podPid(uuid), 'READY=1 comes from the pod PID 1, in the service');
        assert.equal(listener.messages.length, 1);
      }
      const status = w.rkt(['status', '--wait-ready=30s', '--format=json', uuid]);
      assert.equal(status.status, 0, status.stderr + stderr);
      assert.equal((JSON.parse(status.stdout) as { ready: boolean }).ready, true);

      const stopped = spawnSync(stop!.argv[0]!, stop!.argv.slice(1), { encoding: 'utf8', env: { PATH: HOST_PATH } });
      assert.equal(stopped.status, 0, stopped.stderr);
      assert.equal(stopped.stdout, `${uuid}\n`);
      assert.equal(await exited, 42, `rkt run exits with the app's status (probe exits 42 on SIGTERM): ${stderr}`);

      const gc = spawnSync(stopPost!.argv[0]!, stopPost!.argv.slice(1), { encoding: 'utf8', env: { PATH: HOST_PATH } });
      assert.equal(gc.status, 0, gc.stderr);
      assert.deepEqual(w.pods(), [`exited-garbage/${uuid}`]);
    });
  }
});
