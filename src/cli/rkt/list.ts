import type { CommandModule } from 'yargs';
import { formatPodTable, podJson } from '../../pod/format.ts';
import { listPods } from '../../pod/pods.ts';
import { printJson, withFormat, type Format } from '../format.ts';
import { contextFrom, type GlobalArgs } from './global.ts';

interface Args extends GlobalArgs {
  format: Format;
  full: boolean;
  legend: boolean;
}

export const listCommand: CommandModule<GlobalArgs, Args> = {
  command: 'list',
  describe: 'List pods',
  builder: (y) =>
    withFormat(y)
      .option('full', { type: 'boolean', default: false, describe: 'whole UUIDs and RFC 3339 times instead of short forms' })
      .option('legend', { type: 'boolean', default: true, describe: 'print the legend line (--no-legend leaves it out)' })
      .example('$0 list', 'the table: UUID APP IMAGE NAME STATE CREATED STARTED NETWORKS')
      .example('$0 list --no-legend --full | cut -f1', 'whole UUIDs, one a line')
      .example('$0 list --format json', 'for scripts')
      .epilogue(
        'States: embryo, preparing, aborted-prepare, prepared, running, exited, exited-garbage, garbage, deleting. ' +
          'JSON: an array, oldest first, of {uuid, state, path, createdAt, startedAt?, exitedAt?, pid?, exited, exitCode?, ' +
          'apps: [{name, imageId?, imageName?, state (prepared|running|exited), exitCode?}]}; times are RFC 3339, ' +
          'a field marked ? is left out when unknown.',
      ),
  handler: async (args) => {
    const pods = await listPods(contextFrom(args).dir);
    if (printJson(args.format, pods.map(podJson))) return;
    process.stdout.write(formatPodTable(pods, { full: args.full, legend: args.legend }));
  },
};
