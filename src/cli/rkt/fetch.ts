import type { CommandModule } from 'yargs';
import { fetchImage, PULL_POLICIES, type PullPolicy } from '../../fetch/fetcher.ts';
import { shortId } from '../../appc/image-id.ts';
import { ExitCode, UserError } from '../../util/errors.ts';
import { printJson, withFormat, type Format } from '../format.ts';
import { networkFrom, withNetworkOptions, type NetworkArgs } from '../network-options.ts';
import { contextFrom, type GlobalArgs } from './global.ts';

interface Args extends GlobalArgs, NetworkArgs {
  images: string[];
  'pull-policy': PullPolicy;
  signature?: string;
  full: boolean;
  format: Format;
}

export const fetchCommand: CommandModule<GlobalArgs, Args> = {
  command: 'fetch <images..>',
  describe: 'Fetch images (a file, an https URL or an image name) and their dependencies into the store',
  builder: (y) =>
    withNetworkOptions(withFormat(y))
      .positional('images', { type: 'string', array: true, demandOption: true, describe: 'FILE.aci, https://URL, NAME[:VERSION][,label=value...], docker://[REGISTRY/]NAME[:TAG|@DIGEST], docker-archive:FILE or oci:DIR[:REF]' })
      .option('pull-policy', {
        choices: PULL_POLICIES,
        default: 'update' as PullPolicy,
        describe: 'new: use a stored image if there is one; update: ask the server (ETag, max-age); never: the store only',
      })
      .option('signature', { type: 'string', describe: 'the detached signature of the image (default: FILE.asc, or the URL + .asc)' })
      .option('full', { type: 'boolean', default: false, describe: 'print the whole image ID, not its first 32 hex digits (as rkt)' })
      .example('$0 fetch example.com/hello:1.0', "by discovery, for this board's os and arch")
      .example('$0 fetch --pull-policy=never ./hello-armv6l.aci', 'a side-loaded image and its hello-armv6l.aci.asc')
      .example('$0 fetch --format json https://example.com/hello.aci', '{id, name, labels, size} for a script')
      .example('$0 fetch --insecure-options=image docker://busybox:1.36', 'a Docker image, converted to an ACI for this board (docs/docker.md)')
      .epilogue(
        'Prints the image ID (nothing else) on stdout. Signatures are checked against keys trusted with rkt trust; ' +
          'plain http:// needs --insecure-options=http. See docs/rkt-fetch.md.',
      ),
  handler: async (args) => {
    if (args.signature !== undefined && args.images.length > 1) {
      throw new UserError('fetch: --signature belongs to one image; fetch the images one at a time', ExitCode.usage);
    }
    const ctx = contextFrom(args);
    const net = await networkFrom(args);
    for (const image of args.images) {
      const started = Date.now();
      const record = await fetchImage(image, ctx, { ...net, pullPolicy: args['pull-policy'], signature: args.signature });
      // Idempotent for scripts: exit 0 either way, and say which it was.
      if (Date.parse(record.importedAt) < started) ctx.warn(`rkt: ${image}: already in the store`);
      const labels = Object.fromEntries(record.labels.map((l) => [l.name, l.value]));
      if (!printJson(args.format, { id: record.id, name: record.name, labels, size: record.size })) {
        process.stdout.write(`${args.full ? record.id : shortId(record.id)}\n`);
      }
    }
  },
};
