import type { CommandModule } from 'yargs';
import { gcImages } from '../../../image/maintenance.ts';
import { parseDuration } from '../../../util/duration.ts';
import { printJson, withFormat, type Format } from '../../format.ts';
import { contextFrom, type GlobalArgs } from '../global.ts';

interface Args extends GlobalArgs {
  'grace-period': number;
  format: Format;
}

export const imageGcCommand: CommandModule<GlobalArgs, Args> = {
  command: 'gc',
  describe: 'Remove images not used for a while, unused rendered trees and leftovers of interrupted writes',
  builder: (y) =>
    withFormat(y)
      .option('grace-period', {
        type: 'string',
        default: '24h',
        coerce: (v: string) => parseDuration(v, '--grace-period'),
        describe: 'how long since an image was last used before it is removed (24h, 30m, 0s...)',
      })
      .example('$0 image gc --grace-period=48h', 'remove images not used for two days')
      .epilogue('JSON: {removedImages: [id], removedTrees: [id], removedLeftovers: [path]}.'),
  handler: async (args) => {
    const report = await gcImages(contextFrom(args), args['grace-period']);
    if (printJson(args.format, report)) return;
    for (const id of report.removedTrees) process.stderr.write(`rkt: removed treestore "${id}"\n`);
    for (const p of report.removedLeftovers) process.stderr.write(`rkt: removed leftover "${p}"\n`);
    for (const id of report.removedImages) process.stdout.write(`successfully removed aci for image: "${id}"\n`);
    process.stderr.write(`rkt: ${report.removedImages.length} image(s) successfully removed\n`);
  },
};
