import type { CommandModule } from 'yargs';
import { getPod } from '../../pod/pods.ts';
import { runEntrypoint } from '../../stage0/entrypoints.ts';
import { contextFrom, type GlobalArgs } from './global.ts';

interface Args extends GlobalArgs {
  uuids: string[];
  force: boolean;
}

export const stopCommand: CommandModule<GlobalArgs, Args> = {
  command: 'stop <uuids..>',
  describe: 'Stop running pods: SIGTERM to their apps (SIGKILL with --force)',
  builder: (y) =>
    y
      .positional('uuids', { type: 'string', array: true, demandOption: true, describe: 'pod UUIDs or unique prefixes' })
      .option('force', { type: 'boolean', default: false, describe: 'kill the pod at once (SIGKILL to its PID 1)' })
      .example('$0 stop 5bc080ca && $0 status --wait=30s 5bc080ca', 'stop a pod and wait until it has exited')
      .epilogue('Returns once the signal is sent. A pod that has already exited is reported on stderr and not an error.'),
  handler: async (args) => {
    const ctx = contextFrom(args);
    for (const uuid of args.uuids) {
      const pod = await getPod(ctx.dir, uuid);
      if (pod.state !== 'running' || pod.pid === undefined || !pod.runtime) {
        ctx.warn(`rkt: pod ${pod.uuid} is not running (${pod.state})`);
        continue;
      }
      await runEntrypoint(ctx.dir, pod.runtime.stage1, 'stop', [String(pod.pid), ...(args.force ? ['--force'] : [])], pod.path);
      process.stdout.write(`${pod.uuid}\n`);
    }
  },
};
