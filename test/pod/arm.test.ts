import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { ACE_PATH, ARCHES, PodWorld, parseInfo, probeImage, stage1Of, whyNotArch, type Arch } from '../helpers/pods.ts';

// The core checks of run.test.ts on each ARM arch, with that arch's stage1
// (dist/stage1-<arch>.aci) and the probe built for it, all under qemu-user through
// binfmt_misc: armv6l on an emulated ARM1176 (a Pi Zero), which QEMU_CPU selects for
// stage1 (stage0 passes QEMU_* on) and, through --set-env, for the app.

for (const arch of ['armv6l', 'armv7l', 'aarch64'] as const satisfies readonly Arch[]) {
  const { cpu } = ARCHES[arch];
  const env: Record<string, string> = cpu ? { QEMU_CPU: cpu } : {};
  const setEnv = cpu ? [`--set-env=QEMU_CPU=${cpu}`] : [];
  const app = `probe-${arch}`;

  describe(`pods on ${arch}${cpu ? ` (QEMU_CPU=${cpu})` : ''}`, { skip: whyNotArch(arch) }, () => {
    let img: string;
    before(() => {
      img = probeImage(arch);
    });

    const podFlags = (more: string[] = []) => [`--stage1-path=${stage1Of(arch)}`, ...setEnv, ...more];

    test('exit status, PID 1, hostname, env, uname, /proc, /dev and an empty volume', (t) => {
      const w = new PodWorld(t);
      const uuidFile = path.join(w.dir, 'uuid');
      const r = w.rkt(
        [
          'run',
          ...podFlags([`--uuid-file-save=${uuidFile}`, '--volume=scratch,kind=empty']),
          img,
          '--mount=volume=scratch,target=/scratch',
          '--',
          'write',
          '/scratch/f',
          `from ${arch}`,
          '::',
          'info',
          '::',
          'read',
          '/proc/1/cmdline',
          '::',
          'exit',
          '7',
        ],
        { env },
      );
      assert.equal(r.status, 7, r.stderr);
      const uuid = fs.readFileSync(uuidFile, 'utf8').trim();
      const i = parseInfo(r.stdout);
      assert.equal(i.fields['machine'], arch, 'uname -m in the app');
      assert.ok(Number(i.fields['pid']) < 10, `app pid ${i.fields['pid']}`);
      assert.equal(i.fields['ppid'], '1');
      assert.equal(i.fields['proc1'], 'yes');
      assert.equal(i.fields['hostname'], `rkt-${uuid}`);
      assert.deepEqual(i.env, { PATH: ACE_PATH, container: 'rkt', AC_APP_NAME: app, ...env });
      for (const dev of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'console']) assert.equal(i.dev[`/dev/${dev}`], 'chr', `/dev/${dev}`);
      assert.deepEqual([i.dev['/dev/pts'], i.dev['/dev/shm'], i.dev['/dev/ptmx']], ['dir', 'dir', 'lnk']);
      // PID 1 is the stage1 init; under binfmt_misc its command line starts with the interpreter.
      const cmdline = r.stdout.slice(r.stdout.lastIndexOf('\n') + 1);
      assert.ok(cmdline.endsWith('/init\0run\0'), JSON.stringify(cmdline));
      assert.equal(fs.readFileSync(path.join(w.podPath(uuid)!, 'volumes/scratch/f'), 'utf8'), `from ${arch}\n`);
      const status = w.rkt(['status', uuid], { env });
      assert.match(status.stdout, new RegExp(`^app-${app}=7$`, 'm'));
    });

    test('enter runs a command in the app; stop delivers SIGTERM', async (t) => {
      const w = new PodWorld(t);
      const uuidFile = path.join(w.dir, 'uuid');
      const pod = w.start(
        ['run', ...podFlags([`--uuid-file-save=${uuidFile}`, '--volume=out,kind=empty', '--hostname=arm-pod']), img, '--mount=volume=out,target=/out', '--', 'sleep', '60', '/out/term'],
        { env },
      );
      await pod.waitForStdout(/^ready$/m, 60_000);
      const uuid = await w.uuidFrom(uuidFile);

      // rkt enters an emulated pod with the host's own stage1 (qemu-user cannot setns into a mount namespace).
      const entered = w.rkt(['enter', uuid, '/bin/probe', 'info'], { env });
      assert.equal(entered.status, 0, entered.stderr);
      const i = parseInfo(entered.stdout);
      assert.equal(i.fields['hostname'], 'arm-pod');
      assert.equal(i.fields['machine'], arch);
      assert.equal(i.fields['proc1'], 'yes');
      assert.ok(Number(i.fields['pid']) < 100, `pid ${i.fields['pid']}`);
      assert.equal(i.env['AC_APP_NAME'], app);
      assert.equal(w.rkt(['enter', uuid, '/bin/probe', 'exit', '5'], { env }).status, 5);

      const stop = w.rkt(['stop', uuid], { env });
      assert.equal(stop.status, 0, stop.stderr);
      const exited = await pod.exited;
      assert.equal(exited.status, 42, exited.stderr);
      assert.equal(fs.readFileSync(path.join(w.podPath(uuid)!, 'volumes/out/term'), 'utf8'), 'term\n');
      assert.match(w.rkt(['status', uuid], { env }).stdout, new RegExp(`^app-${app}=42$`, 'm'));
    });

    if (cpu === 'arm1176') {
      test('the emulation really is ARMv6: an armv7l probe dies there with SIGILL (132)', (t) => {
        const why = whyNotArch('armv7l');
        if (why) return t.skip(`no armv7l probe to compare with: ${why}`);
        const w = new PodWorld(t);
        const armv7 = probeImage('armv7l');
        const r = w.rkt(['run', ...podFlags(), armv7, '--', 'exit', '0'], { env });
        assert.equal(r.status, 128 + 4, r.stderr);
        // Without QEMU_CPU for the app, qemu's default CPU runs the same image.
        const ok = w.rkt(['run', `--stage1-path=${stage1Of(arch)}`, armv7, '--', 'exit', '0'], { env });
        assert.equal(ok.status, 0, ok.stderr);
      });
    }
  });
}
