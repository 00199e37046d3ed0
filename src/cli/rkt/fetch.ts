import { readFile } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import { fetchImage, PULL_POLICIES, type PullPolicy } from '../../fetch/fetcher.ts';
import { shortId } from '../../image/list.ts';
import { ExitCode, UserError } from '../../util/errors.ts';
import { printJson, withFormat, type Format } from '../format.ts';
import { parseResolve } from '../resolve-option.ts';
import { contextFrom, type GlobalArgs } from './global.ts';

interface Args extends GlobalArgs {
  images: string[];
  'pull-policy': PullPolicy;
  signature?: string;
  'ca-file'?: string;
  resolve?: string | string[];
  full: boolean;
  format: Format;
}

export const fetchCommand: CommandModule<GlobalArgs, Args> = {
  command: 'fetch <images..>',
  describe: 'Fetch images (a file, an https URL or an image name) and their dependencies into the store',
  builder: (y) =>
    withFormat(y)
      .positional('images', { type: 'string', array: true, demandOption: true, describe: 'FILE.aci, https://URL or NAME[:VERSION][,label=value...]' })
      .option('pull-policy', {
        choices: PULL_POLICIES,
        default: 'update' as PullPolicy,
        describe: 'new: use a stored image if there is one; update: ask the server (ETag, max-age); never: the store only',
      })
      .option('signature', { type: 'string', describe: 'the detached signature of the image (default: FILE.asc, or the URL + .asc)' })
      .option('ca-file', { type: 'string', describe: 'PEM file of CA certificates to trust, on top of the usual ones, for private HTTPS servers' })
      // For tests and staging servers (docs/rkt-fetch.md); hidden to keep --help short.
      .option('resolve', { type: 'string', hidden: true, describe: 'like curl --resolve: HOST[:PORT]=ADDRESS:PORT (repeatable)' })
      .option('full', { type: 'boolean', default: false, describe: 'print the whole image ID, not its first 32 hex digits (as rkt)' })
      .example('$0 fetch example.com/hello:1.0', "by discovery, for this board's os and arch")
      .example('$0 fetch --pull-policy=never ./hello-armv6l.aci', 'a side-loaded image and its hello-armv6l.aci.asc')
      .example('$0 fetch --format json https://example.com/hello.aci', '{id, name, labels, size} for a script')
      .epilogue(
        'Prints the image ID (nothing else) on stdout. Signatures are checked against keys trusted with rkt trust; ' +
          'plain http:// needs --insecure-options=http. See docs/rkt-fetch.md.',
      ),
  handler: async (args) => {
    if (args.signature !== undefined && args.images.length > 1) {
      throw new UserError('fetch: --signature belongs to one image; fetch the images one at a time', ExitCode.usage);
    }
    const ctx = contextFrom(args);
    const ca = args['ca-file'] === undefined ? undefined : await readCaFile(args['ca-file']);
    const resolve = parseResolve(args.resolve);
    for (const image of args.images) {
      const record = await fetchImage(image, ctx, { pullPolicy: args['pull-policy'], signature: args.signature, ca, resolve });
      const labels = Object.fromEntries(record.labels.map((l) => [l.name, l.value]));
      if (!printJson(args.format, { id: record.id, name: record.name, labels, size: record.size })) {
        process.stdout.write(`${args.full ? record.id : shortId(record.id)}\n`);
      }
    }
  },
};

async function readCaFile(path: string): Promise<Buffer> {
  const pem = await readFile(path).catch((err: unknown) => {
    throw new UserError(`--ca-file ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(err)}`, ExitCode.usage);
  });
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UserError(`--ca-file ${path}: no PEM certificate in it`, ExitCode.usage);
  return pem;
}
