import type { CommandModule } from 'yargs';
import { getPod } from '../../pod/pods.ts';
import { runEntrypoint } from '../../stage0/entrypoints.ts';
import { ExitCode, UserError } from '../../util/errors.ts';
import { contextFrom, type GlobalArgs } from './global.ts';
import { uuidsFromFile } from './uuid-file.ts';

interface Args extends GlobalArgs {
  uuids?: string[];
  'uuid-file'?: string;
  force: boolean;
}

export const stopCommand: CommandModule<GlobalArgs, Args> = {
  command: 'stop [uuids..]',
  describe: 'Stop running pods: SIGTERM to their apps (SIGKILL with --force)',
  builder: (y) =>
    y
      .positional('uuids', { type: 'string', array: true, describe: 'pod UUIDs or unique prefixes' })
      .option('uuid-file', { type: 'string', describe: 'also stop the pod whose UUID this file holds (rkt run --uuid-file-save)' })
      .option('force', { type: 'boolean', default: false, describe: 'kill the pod at once (SIGKILL to its PID 1)' })
      .example('$0 stop 5bc080ca && $0 status --wait=30s 5bc080ca', 'stop a pod and wait until it has exited')
      .example('$0 stop --uuid-file=/run/rkt-web.uuid', 'stop the pod a service ran')
      .epilogue('Returns once the signal is sent. A pod that has already exited is reported on stderr and not an error.'),
  handler: async (args) => {
    const ctx = contextFrom(args);
    const refs = [...(args.uuids ?? []), ...(args['uuid-file'] ? await uuidsFromFile(args['uuid-file']) : [])];
    if (refs.length === 0) throw new UserError('stop: name a pod: rkt stop UUID..., or --uuid-file=FILE', ExitCode.usage);
    for (const uuid of refs) {
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
