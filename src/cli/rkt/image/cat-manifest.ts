import type { CommandModule } from 'yargs';
import { imageManifestText } from '../../../image/manifest.ts';
import { contextFrom, type GlobalArgs } from '../global.ts';

interface Args extends GlobalArgs {
  image: string;
  'pretty-print': boolean;
}

export const imageCatManifestCommand: CommandModule<GlobalArgs, Args> = {
  command: 'cat-manifest <image>',
  describe: "Print a stored image's manifest",
  builder: (y) =>
    y
      .positional('image', { type: 'string', demandOption: true, describe: 'image ID (or unique prefix) or name[:version][,label=value...]' })
      .option('pretty-print', { type: 'boolean', default: true, describe: 'indent the JSON (--no-pretty-print: one line)' })
      .example('$0 image cat-manifest example.com/hello:1.0 | jq .app.exec', "read an image's command"),
  handler: async (args) => {
    process.stdout.write(await imageManifestText(contextFrom(args), args.image, { pretty: args['pretty-print'] }));
  },
};
