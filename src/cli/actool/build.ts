import type { CommandModule } from 'yargs';
import { buildAci } from '../../build/build-aci.ts';
import { sourceDateEpoch } from '../../build/source-date-epoch.ts';

interface Args {
  dir: string;
  out: string;
  overwrite: boolean;
  compression: boolean;
  'owner-root': boolean;
}

export const buildCommand: CommandModule<object, Args> = {
  command: 'build <dir> <out>',
  describe: 'Build an ACI from an image layout (a manifest file and a rootfs/ directory)',
  builder: (y) =>
    y
      .positional('dir', { type: 'string', demandOption: true, describe: 'image layout directory' })
      .positional('out', { type: 'string', demandOption: true, describe: 'the .aci file to write' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'replace OUT if it exists' })
      .option('compression', {
        type: 'boolean',
        default: true,
        describe: 'gzip the image (--no-compression writes a plain tar)',
      })
      .option('owner-root', {
        type: 'boolean',
        default: false,
        describe: 'record every entry as owned by root (0:0), whoever builds',
      })
      .example('$0 build --owner-root hello/ hello-1.0-linux-armv7l.aci', 'build as a normal user, files owned by root in the image')
      .epilogue(
        'Prints the image ID. Set SOURCE_DATE_EPOCH to clamp file times: the same tree then gives the same image ID on every machine.',
      ),
  handler: async (args) => {
    const { imageId } = await buildAci(args.dir, args.out, {
      overwrite: args.overwrite,
      compress: args.compression,
      ownerRoot: args['owner-root'],
      sourceDateEpoch: sourceDateEpoch(),
    });
    process.stdout.write(`${imageId}\n`);
  },
};
