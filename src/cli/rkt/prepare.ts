import type { CommandModule } from 'yargs';
import { transition } from '../../pod/pods.ts';
import { checkCanRunPods } from '../../stage0/preflight.ts';
import { preparePod } from '../../stage0/prepare.ts';
import { contextFrom, type GlobalArgs } from './global.ts';
import { parseRunLine, prepareRequest, saveUuid, withPodFlags, type PodFlags } from './pod-flags.ts';

export const prepareCommand: CommandModule<GlobalArgs, GlobalArgs & PodFlags> = {
  command: 'prepare [images..]',
  describe: 'Prepare a pod (fetch, render, check) to start later with run-prepared; prints its UUID',
  builder: (y) =>
    withPodFlags(y)
      .parserConfiguration({ 'unknown-options-as-args': true })
      .positional('images', { type: 'string', array: true, describe: 'IMAGE [app flags] [-- ARGS] [--- IMAGE2 ...], as for rkt run' })
      .example('$0 prepare --uuid-file-save=/run/web.uuid example.com/web:1.0', 'then: rkt run-prepared $(cat /run/web.uuid)')
      .epilogue('Takes the flags of rkt run. A prepared pod not started within --expire-prepared (24h) is collected by rkt gc.'),
  handler: async (args) => {
    checkCanRunPods('prepare');
    const { flags, apps } = await parseRunLine('prepare');
    const ctx = contextFrom(args);
    const pod = await preparePod(ctx, await prepareRequest(flags, apps));
    try {
      await transition(ctx.dir, pod.uuid, 'prepare', 'prepared');
      await saveUuid(flags['uuid-file-save'], pod.uuid);
    } finally {
      pod.lock.release();
    }
    process.stdout.write(`${pod.uuid}\n`);
  },
};
