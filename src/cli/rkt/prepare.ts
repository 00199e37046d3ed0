import type { CommandModule } from 'yargs';
import { podDiffers, podFromUuidFile } from '../../pod/lookup.ts';
import { transition } from '../../pod/pods.ts';
import { checkCanRunPods } from '../../stage0/preflight.ts';
import { preparePod } from '../../stage0/prepare.ts';
import { contextFrom, type GlobalArgs } from './global.ts';
import { parseRunLine, prepareRequest, saveUuid, withPodFlags, type PodFlags } from './pod-flags.ts';

/** States in which the pod a --uuid-file-save file names is still the one to use. */
const LIVE = new Set(['preparing', 'prepared', 'running']);

export const prepareCommand: CommandModule<GlobalArgs, GlobalArgs & PodFlags> = {
  command: 'prepare [images..]',
  describe: 'Prepare a pod (fetch, render, check) to start later with run-prepared; prints its UUID',
  builder: (y) =>
    withPodFlags(y)
      .parserConfiguration({ 'unknown-options-as-args': true })
      .positional('images', { type: 'string', array: true, describe: 'IMAGE [app flags] [-- ARGS] [--- IMAGE2 ...], as for rkt run' })
      .example('$0 prepare --uuid-file-save=/run/web.uuid example.com/web:1.0', 'then: rkt run-prepared $(cat /run/web.uuid)')
      .epilogue(
        'Takes the flags of rkt run. A prepared pod not started within --expire-prepared (24h) is collected by rkt gc. ' +
          'Idempotent with --uuid-file-save: when the file names a pod that is still prepared or running with the ' +
          'images asked for (names and labels, or IDs; files and URLs always match) and the same --name flags, that ' +
          'pod\'s UUID is printed, stderr says so and nothing is prepared. Other flags are not compared: to change them, ' +
          'stop or remove the pod first.',
      ),
  handler: async (args) => {
    checkCanRunPods('prepare');
    const { flags, apps } = await parseRunLine('prepare');
    const ctx = contextFrom(args);
    const file = flags['uuid-file-save'];
    if (file !== undefined) {
      const existing = await podFromUuidFile(ctx.dir, file);
      if (existing && LIVE.has(existing.state)) {
        const why = podDiffers(existing, apps);
        if (why === undefined) {
          ctx.warn(`rkt: pod ${existing.uuid} (${file}) is already ${existing.state}: not preparing another`);
          process.stdout.write(`${existing.uuid}\n`);
          return;
        }
        ctx.warn(`rkt: pod ${existing.uuid} (${file}) is ${existing.state}, but ${why}: preparing a new one`);
      }
    }
    const pod = await preparePod(ctx, await prepareRequest(flags, apps));
    try {
      await transition(ctx.dir, pod.uuid, 'prepare', 'prepared');
      await saveUuid(file, pod.uuid);
    } finally {
      pod.lock.release();
    }
    process.stdout.write(`${pod.uuid}\n`);
  },
};
