import type { CommandModule } from 'yargs';
import { checkCanRunPods, checkInteractive } from '../../stage0/preflight.ts';
import { preparePod } from '../../stage0/prepare.ts';
import { startPod } from '../../stage0/start.ts';
import { exitingAsRkt } from '../../util/errors.ts';
import { contextFrom, type GlobalArgs } from './global.ts';
import { parseRunLine, prepareRequest, saveUuid, withPodFlags, type PodFlags } from './pod-flags.ts';

export const runCommand: CommandModule<GlobalArgs, GlobalArgs & PodFlags> = {
  command: 'run [images..]',
  describe: 'Run images as a pod; exits with the status of its app',
  builder: (y) =>
    withPodFlags(y)
      // The images' own flags follow each image: see pod-flags.ts.
      .parserConfiguration({ 'unknown-options-as-args': true })
      .positional('images', { type: 'string', array: true, describe: 'IMAGE [app flags] [-- ARGS] [--- IMAGE2 ...]' })
      .example('$0 run --insecure-options=image ./busybox.aci --exec=/bin/sh -- -c "echo hi"', 'one app, its command replaced')
      .example('$0 run example.com/web:1.0 --- example.com/logger --name=log', 'two apps in one pod')
      .example('$0 run --volume data,kind=host,source=/srv/data example.com/db --mount volume=data,target=/var/lib/db', 'a host directory in the app')
      .example('$0 run --interactive ./busybox.aci --exec=/bin/sh', 'a shell on this terminal')
      .epilogue(
        'App flags (after an image): --exec=PATH, --name=NAME, --user=U, --group=G, --supplementary-gids=1,2, ' +
          '--working-dir=DIR, --readonly-rootfs, --mount volume=V,target=PATH, --environment=NAME=VALUE, --signature=FILE, ' +
          '--memory=SIZE (32M, 128Mi), --cpu=CORES (500m, 2): limits, see docs/isolators.md; ' +
          '`-- ARGS` replaces the image\'s arguments until `---`, which starts the next image. ' +
          'Exit status: the app\'s (in a multi-app pod the first failing app\'s, in manifest order); 254 when rkt itself fails. ' +
          'No Node process stays while the pod runs. See docs/running-pods.md.',
      ),
  handler: (args) =>
    exitingAsRkt(async () => {
      checkCanRunPods('run');
      const { flags, apps } = await parseRunLine('run');
      checkInteractive('run', flags.interactive);
      const ctx = contextFrom(args);
      const pod = await preparePod(ctx, await prepareRequest(flags, apps));
      try {
        await saveUuid(flags['uuid-file-save'], pod.uuid);
      } catch (err) {
        pod.lock.release();
        throw err;
      }
      await startPod(ctx, pod, 'prepare');
    }),
};
