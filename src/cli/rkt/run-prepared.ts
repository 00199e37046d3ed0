import type { CommandModule } from 'yargs';
import { checkCanRunPods } from '../../stage0/preflight.ts';
import { startPrepared } from '../../stage0/start.ts';
import { exitingAsRkt } from '../../util/errors.ts';
import { contextFrom, type GlobalArgs } from './global.ts';

interface Args extends GlobalArgs {
  uuid: string;
  interactive?: boolean;
}

export const runPreparedCommand: CommandModule<GlobalArgs, Args> = {
  command: 'run-prepared <uuid>',
  describe: 'Start a prepared pod; exits with the status of its app',
  builder: (y) =>
    y
      .positional('uuid', { type: 'string', demandOption: true, describe: 'the pod UUID, or a unique prefix of it' })
      .option('interactive', { type: 'boolean', describe: 'run the one app on this terminal (default: as prepared)' })
      .example('$0 run-prepared $(cat /run/web.uuid)', 'start what rkt prepare --uuid-file-save wrote'),
  handler: (args) =>
    exitingAsRkt(async () => {
      checkCanRunPods('run-prepared');
      await startPrepared(contextFrom(args), args.uuid, { interactive: args.interactive });
    }),
};
