import type { CommandModule } from 'yargs';
import { podManifestText } from '../../pod/manifest-text.ts';
import { contextFrom, type GlobalArgs } from './global.ts';

interface Args extends GlobalArgs {
  uuid: string;
  'pretty-print': boolean;
}

export const catManifestCommand: CommandModule<GlobalArgs, Args> = {
  command: 'cat-manifest <uuid>',
  describe: "Print a pod's manifest",
  builder: (y) =>
    y
      .positional('uuid', { type: 'string', demandOption: true, describe: 'the pod UUID, or a unique prefix of it' })
      .option('pretty-print', { type: 'boolean', default: true, describe: 'indent the JSON (--no-pretty-print: one line)' })
      .example('$0 cat-manifest 5bc080ca | jq .apps[].name', "the names of a pod's apps"),
  handler: async (args) => {
    process.stdout.write(await podManifestText(contextFrom(args).dir, args.uuid, { pretty: args['pretty-print'] }));
  },
};
