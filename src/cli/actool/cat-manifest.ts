import type { CommandModule } from 'yargs';
import { readAciFile } from '../../appc/aci-reader.ts';
import { serializeImageManifest } from '../../appc/image-manifest.ts';

interface Args {
  aci: string;
  'pretty-print': boolean;
}

export const catManifestCommand: CommandModule<object, Args> = {
  command: 'cat-manifest <aci>',
  describe: "Print an image's manifest",
  builder: (y) =>
    y
      .positional('aci', { type: 'string', demandOption: true, describe: 'the .aci file' })
      .option('pretty-print', { type: 'boolean', default: false, describe: 'indent the JSON' })
      .example('$0 cat-manifest --pretty-print hello.aci', 'read the manifest of an image'),
  handler: async (args) => {
    // The image is read whole: a manifest is only trusted once every entry has
    // passed the same checks as `validate`.
    const { manifest, manifestBytes } = await readAciFile(args.aci);
    const text = args['pretty-print'] ? serializeImageManifest(manifest, { pretty: true }) : manifestBytes.toString('utf8');
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  },
};
