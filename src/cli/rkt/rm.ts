import type { CommandModule } from 'yargs';
import { removePodReporting, stage1GcFromStore } from '../../pod/pods.ts';
import { describeError, ExitCode, UserError } from '../../util/errors.ts';
import { printJson, withFormat, type Format } from '../format.ts';
import { contextFrom, type GlobalArgs } from './global.ts';
import { uuidsFromFile } from './uuid-file.ts';

interface Args extends GlobalArgs {
  uuids?: string[];
  'uuid-file'?: string;
  format: Format;
}

export const rmCommand: CommandModule<GlobalArgs, Args> = {
  command: 'rm [uuids..]',
  describe: 'Remove pods that are not running',
  builder: (y) =>
    withFormat(y)
      .positional('uuids', { type: 'string', array: true, describe: 'pod UUIDs, or unique prefixes of them' })
      .option('uuid-file', { type: 'string', describe: 'also remove the pod whose UUID this file holds (rkt run --uuid-file-save)' })
      .example('$0 rm 5bc080ca', 'remove one exited pod')
      .example('$0 rm --uuid-file=/run/web.uuid', 'remove the pod a service ran')
      .epilogue(
        'A running pod, or one being prepared or removed, is refused. A pod that ran is handed to its stage1 gc ' +
          'entrypoint first. A whole UUID of a pod that is not there is reported on stderr and is not an error, so ' +
          'removing twice succeeds; a prefix that matches nothing is an error. Exit status 1 when any pod cannot be ' +
          'removed. JSON: {removed: [uuid], absent: [argument], failed: [{ref, error}]}.',
      ),
  handler: async (args) => {
    const ctx = contextFrom(args);
    const refs = [...(args.uuids ?? []), ...(args['uuid-file'] ? await uuidsFromFile(args['uuid-file']) : [])];
    if (refs.length === 0) throw new UserError('rm: name a pod: rkt rm UUID..., or --uuid-file=FILE', ExitCode.usage);
    const report = { removed: [] as string[], absent: [] as string[], failed: [] as { ref: string; error: string }[] };
    const stage1Gc = stage1GcFromStore(ctx.dir);
    for (const ref of refs) {
      try {
        const uuid = await removePodReporting(ctx.dir, ref, stage1Gc, { warn: (line) => ctx.warn(`rkt: ${line}`) });
        if (uuid === undefined) report.absent.push(ref);
        else report.removed.push(uuid);
      } catch (err) {
        report.failed.push({ ref, error: describeError(err) });
      }
    }
    if (report.failed.length > 0) process.exitCode = ExitCode.invalid;
    if (printJson(args.format, report)) return;
    for (const uuid of report.removed) process.stdout.write(`"${uuid}"\n`);
    for (const ref of report.absent) process.stderr.write(`rkt: pod "${ref}" is not there: nothing to remove\n`);
    for (const { ref, error } of report.failed) process.stderr.write(`rkt: cannot remove pod "${ref}": ${error}\n`);
  },
};
