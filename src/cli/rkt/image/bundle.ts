import type { CommandModule } from 'yargs';
import { exportBundle, importBundle } from '../../../image/bundle.ts';
import { shortId } from '../../../appc/image-id.ts';
import { printJson, withFormat, type Format } from '../../format.ts';
import { contextFrom, type GlobalArgs } from '../global.ts';

interface ExportArgs extends GlobalArgs {
  images: string[];
  'with-keys': boolean;
  overwrite: boolean;
}

export const imageExportBundleCommand: CommandModule<GlobalArgs, ExportArgs> = {
  command: 'export-bundle <images..>',
  describe: 'Write stored images, their dependencies and signatures (and keys) to one bundle file, for boards with no network',
  builder: (y) =>
    y
      .positional('images', { type: 'string', array: true, demandOption: true, describe: 'IMAGE... then the bundle file to write, last' })
      .option('with-keys', { type: 'boolean', default: false, describe: 'carry the public keys that verified the signatures' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'replace the bundle file if it exists' })
      .check((a) => {
        if ((a.images as string[]).length < 2) throw new Error('name at least one IMAGE and the bundle file');
        return true;
      })
      .example('$0 image export-bundle --with-keys example.com/web:1.0 web.bundle', 'web, its base image, signatures and key')
      .epilogue(
        'Each image must have been fetched signed: the bundle carries the signature it was verified with, checked again ' +
          'against the keystore as the bundle is written. The bundle is a plain tar, written under a temporary name. See docs/rkt-image.md.',
      ),
  handler: async (args) => {
    const file = args.images[args.images.length - 1]!;
    await exportBundle(contextFrom(args), args.images.slice(0, -1), file, { withKeys: args['with-keys'], overwrite: args.overwrite });
  },
};

interface ImportArgs extends GlobalArgs {
  bundle: string;
  'trust-keys': boolean;
  'skip-fingerprint-review': boolean;
  full: boolean;
  format: Format;
}

export const imageImportBundleCommand: CommandModule<GlobalArgs, ImportArgs> = {
  command: 'import-bundle <bundle>',
  describe: 'Verify and store the images of a bundle made by export-bundle, dependencies first',
  builder: (y) =>
    withFormat(y)
      .positional('bundle', { type: 'string', demandOption: true, describe: 'the bundle file' })
      .option('trust-keys', {
        type: 'boolean',
        default: false,
        describe: "first trust the bundle's keys, each for the names of the images it signs (reviewed as by rkt trust)",
      })
      .option('skip-fingerprint-review', { type: 'boolean', default: false, describe: 'with --trust-keys: trust without asking (for scripts)' })
      .option('full', { type: 'boolean', default: false, describe: 'print whole image IDs' })
      .example('$0 image import-bundle /media/usb/web.bundle', 'with the signing key already trusted')
      .example('$0 image import-bundle --trust-keys --skip-fingerprint-review --format json web.bundle', 'provisioning script')
      .epilogue(
        'Every image is verified as rkt fetch FILE.aci verifies it (signature by a trusted key, name, labels, arch). ' +
          'Prints the ID of each image of the bundle; images already stored are kept and reported as such. ' +
          'JSON: a list of {id, name, labels, status: imported|already-stored}.',
      ),
  handler: async (args) => {
    const ctx = contextFrom(args);
    const images = await importBundle(ctx, args.bundle, { trustKeys: args['trust-keys'], skipReview: args['skip-fingerprint-review'] });
    for (const image of images) {
      if (image.status === 'already-stored') ctx.warn(`rkt: ${shortId(image.id)} (${image.name}) already stored`);
    }
    if (printJson(args.format, images)) return;
    for (const image of images) process.stdout.write(`${args.full ? image.id : shortId(image.id)}\n`);
  },
};
