import type { CommandModule } from 'yargs';
import { crossBuild } from '../../build/cross/build.ts';
import { PASSPHRASE_ENV } from '../../build/cross/sign.ts';
import { parseRepositoryFlag, readSpecFile } from '../../build/cross/spec.ts';
import { sourceDateEpoch } from '../../build/source-date-epoch.ts';
import { printJson, withFormat, type Format } from '../format.ts';

interface Args {
  spec: string;
  out: string;
  arch?: string;
  'sign-key'?: string;
  'base-url'?: string;
  repository?: string | string[];
  keyring?: string;
  'cache-dir'?: string;
  overwrite: boolean;
  'insecure-options'?: string;
  format: Format;
}

export const crossCommand: CommandModule<object, Args> = {
  command: 'cross <spec>',
  describe: 'Build one image per target arch from a spec, signed, in a directory any web server can serve for discovery',
  builder: (y) =>
    withFormat(y)
      .positional('spec', { type: 'string', demandOption: true, describe: 'the cross-build spec (JSON or YAML)' })
      .option('out', { type: 'string', demandOption: true, describe: 'output directory: images, signatures, index.html, pubkeys.asc' })
      .option('arch', { type: 'string', describe: "build only these of the spec's arches (comma-separated)" })
      .option('sign-key', { type: 'string', describe: `OpenPGP secret key file that signs each image (passphrase in $${PASSPHRASE_ENV})` })
      .option('base-url', { type: 'string', describe: 'absolute URL where --out is served (default https://HOST/ of the image name)' })
      .option('repository', {
        // Not an array option: that would swallow the SPEC after it. Repeats arrive as an array.
        type: 'string',
        describe: 'Debian repository "URI [SUITE [COMPONENT...]]" (a URL, file:// or a directory), replacing the spec\'s (repeatable)',
      })
      .option('keyring', { type: 'string', describe: 'keyring that signs the --repository Release files' })
      .option('cache-dir', { type: 'string', describe: 'keep downloaded package indexes and .debs here between builds' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'replace files in --out that differ from the new ones' })
      .option('insecure-options', { type: 'string', choices: ['image'], describe: 'image: use repositories that have no keyring, unverified' })
      .example('$0 cross hello.yaml --out site --sign-key key.asc', 'every arch of hello.yaml into site/, served as https://example.com/')
      .epilogue(
        `Prints "ARCH IMAGE-ID FILE" per arch. Set SOURCE_DATE_EPOCH for identical bytes on every build; put the --sign-key passphrase in ${PASSPHRASE_ENV}. Maintainer scripts of packages are not run. See docs/cross-build.md.`,
      ),
  handler: async (args) => {
    const results = await crossBuild(readSpecFile(args.spec), {
      outDir: args.out,
      arches: args.arch?.split(',').map((a) => a.trim()).filter(Boolean),
      signKey: args['sign-key'],
      passphrase: process.env[PASSPHRASE_ENV],
      baseUrl: args['base-url'],
      repositories: args.repository === undefined ? undefined : [args.repository].flat().map((r) => parseRepositoryFlag(r, args.keyring)),
      cacheDir: args['cache-dir'],
      overwrite: args.overwrite,
      insecure: args['insecure-options'] === 'image',
      sourceDateEpoch: sourceDateEpoch(),
      warn: (line) => process.stderr.write(`actool: warning: ${line}\n`),
    });
    if (printJson(args.format, results)) return;
    for (const r of results) process.stdout.write(`${r.arch} ${r.imageId} ${r.aci}\n`);
  },
};
