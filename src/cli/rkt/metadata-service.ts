import type { CommandModule } from 'yargs';
import { DEFAULT_ADDRESS, DEFAULT_PORT, startMetadataService } from '../../metadata/server.ts';
import { ExitCode, UserError, withContext } from '../../util/errors.ts';
import { contextFrom, type GlobalArgs } from './global.ts';

interface Args extends GlobalArgs {
  'listen-port': number;
  'listen-address': string;
}

export const metadataServiceCommand: CommandModule<GlobalArgs, Args> = {
  command: 'metadata-service',
  describe: 'Run the appc metadata service for the pods of --dir (until SIGINT or SIGTERM)',
  builder: (y) =>
    y
      .option('listen-port', { type: 'number', default: DEFAULT_PORT, describe: 'TCP port to listen on' })
      .option('listen-address', { type: 'string', default: DEFAULT_ADDRESS, describe: 'address to listen on; pods must reach it' })
      .example('$0 metadata-service &', 'then pods prepared from now on get AC_METADATA_URL'),
  handler: async (args) => {
    const port = args['listen-port'];
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`metadata-service: --listen-port=${port} is not a TCP port`, ExitCode.usage);
    const ctx = contextFrom(args);
    const service = await startMetadataService({ dir: ctx.dir, port, address: args['listen-address'] }).catch((err: unknown) => {
      throw withContext('metadata-service', err);
    });
    process.stderr.write(`rkt: metadata service listening on ${service.url} for the pods of ${ctx.dir}\n`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        void service.close().then(resolve);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
  },
};
