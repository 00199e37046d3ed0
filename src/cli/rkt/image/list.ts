import type { CommandModule } from 'yargs';
import { DEFAULT_LIST_FIELDS, formatImageTable, listImages, parseFields, SORT_ORDERS, type ListField, type SortOrder } from '../../../image/list.ts';
import { printJson, withFormat, type Format } from '../../format.ts';
import { contextFrom, type GlobalArgs } from '../global.ts';

interface Args extends GlobalArgs {
  format: Format;
  fields: ListField[];
  sort: ListField[];
  order: SortOrder;
  legend: boolean;
  full: boolean;
}

export const imageListCommand: CommandModule<GlobalArgs, Args> = {
  command: 'list',
  aliases: ['ls'],
  describe: 'List the images in the local store',
  builder: (y) =>
    withFormat(y)
      .option('fields', {
        type: 'string',
        default: DEFAULT_LIST_FIELDS.join(','),
        coerce: (v: string) => parseFields(v, '--fields'),
        describe: 'comma-separated columns of the table: id, name, labels, size, importtime, lastused',
      })
      .option('sort', {
        type: 'string',
        default: 'importtime',
        coerce: (v: string) => parseFields(v, '--sort'),
        describe: 'comma-separated fields to sort by (same names as --fields)',
      })
      .option('order', { choices: SORT_ORDERS, default: 'asc' as SortOrder, describe: 'sort order' })
      .option('legend', { type: 'boolean', default: true, describe: 'print the legend line (--no-legend leaves it out)' })
      .option('full', {
        type: 'boolean',
        default: false,
        describe: 'whole image IDs, sizes in bytes and RFC 3339 times instead of short forms',
      })
      .example('$0 image list', 'the table: ID NAME SIZE IMPORT TIME LAST USED')
      .example('$0 image list --no-legend --full --fields=id', 'whole image IDs, one a line')
      .example('$0 image list --format json', 'for scripts')
      .epilogue(
        'JSON: an array of {id, name, labels: {name: value}, size (bytes), importTime, lastUsedTime (RFC 3339)}, ' +
          'always every field, sorted as --sort/--order say. --fields, --full and --no-legend shape the text table only.',
      ),
  handler: async (args) => {
    const infos = await listImages(contextFrom(args), { sort: args.sort, order: args.order });
    if (printJson(args.format, infos)) return;
    process.stdout.write(formatImageTable(infos, { fields: args.fields, full: args.full, legend: args.legend }));
  },
};
