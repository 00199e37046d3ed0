import type { CommandModule } from 'yargs';
import { removeImages } from '../../../image/remove.ts';
import { ExitCode } from '../../../util/errors.ts';
import { printJson, withFormat, type Format } from '../../format.ts';
import { contextFrom, type GlobalArgs } from '../global.ts';

interface Args extends GlobalArgs {
  images: string[];
  format: Format;
}

export const imageRmCommand: CommandModule<GlobalArgs, Args> = {
  command: 'rm <images..>',
  describe: 'Remove images from the local store by ID (or unique prefix) or by name',
  builder: (y) =>
    withFormat(y)
      .positional('images', { type: 'string', array: true, demandOption: true, describe: 'image IDs, ID prefixes or names' })
      .example('$0 image rm sha512-5f0b6c2d', 'remove one image by ID prefix')
      .example('$0 image rm example.com/hello:1.0', 'remove every stored image of that name and version')
      .epilogue(
        'A name removes every image of that name whose labels include the given ones. ' +
          'An image that is not in the store is reported on stderr and is not an error, so removing twice succeeds. ' +
          'Exit status 1 when an argument cannot be resolved (an ambiguous prefix) or an image cannot be removed. ' +
          'JSON: {removed: [{id, name}], absent: [argument], failed: [{ref, error}]}.',
      ),
  handler: async (args) => {
    const report = await removeImages(contextFrom(args), args.images);
    if (report.failed.length > 0) process.exitCode = ExitCode.invalid;
    if (printJson(args.format, report)) return;
    for (const { id, name } of report.removed) process.stdout.write(`successfully removed aci for image: "${id}" ("${name}")\n`);
    for (const ref of report.absent) process.stderr.write(`rkt: image "${ref}" is not in the store: nothing to remove\n`);
    for (const { ref, error } of report.failed) process.stderr.write(`rkt: cannot remove "${ref}": ${error}\n`);
    if (report.removed.length > 0) process.stderr.write(`rkt: ${report.removed.length} image(s) successfully removed\n`);
  },
};
