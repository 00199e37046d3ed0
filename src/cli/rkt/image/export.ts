import type { CommandModule } from 'yargs';
import { exportImage } from '../../../image/export.ts';
import { contextFrom, type GlobalArgs } from '../global.ts';

interface Args extends GlobalArgs {
  image: string;
  file: string;
  overwrite: boolean;
}

export const imageExportCommand: CommandModule<GlobalArgs, Args> = {
  command: 'export <image> <file>',
  describe: 'Write a stored image to an ACI file',
  builder: (y) =>
    y
      .positional('image', { type: 'string', demandOption: true, describe: 'image ID (or unique prefix) or name[:version][,label=value...]' })
      .positional('file', { type: 'string', demandOption: true, describe: 'the .aci file to write' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'replace FILE if it exists' })
      .example('$0 image export example.com/hello:1.0 hello.aci', 'copy an image to another board')
      .epilogue(
        'The file is the stored tar, gzip-compressed, so its image ID (gzip -dc FILE | sha512sum) is the stored one; ' +
          'the content is checked against the ID as it is written. The image is never fetched: it must be in the store.',
      ),
  handler: async (args) => {
    await exportImage(contextFrom(args), args.image, args.file, { overwrite: args.overwrite });
  },
};
