import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { setDebug } from '../util/log.ts';
import { buildCommand } from './actool/build.ts';
import { catManifestCommand } from './actool/cat-manifest.ts';
import { crossCommand } from './actool/cross.ts';
import { discoverCommand } from './actool/discover.ts';
import { patchManifestCommand } from './actool/patch-manifest.ts';
import { validateCommand } from './actool/validate.ts';
import { versionCommand } from './actool/version.ts';
import { runCli } from './run-cli.ts';

// actool builds and inspects App Container images. It runs unprivileged on Linux
// and macOS: nothing it imports may need root or a Linux-only module.
const parser = yargs(hideBin(process.argv))
  .usage('actool: build, validate and inspect App Container images (ACIs)\n\nUsage: $0 <command> [options]')
  .option('debug', { type: 'boolean', default: false, global: true, describe: 'log details to stderr' })
  .middleware((args) => setDebug(Boolean(args.debug)))
  .command(buildCommand)
  .command(validateCommand)
  .command(catManifestCommand)
  .command(patchManifestCommand)
  .command(discoverCommand)
  .command(crossCommand)
  .command(versionCommand)
  .example('$0 build --owner-root layout/ hello.aci', 'build an image as a normal user')
  .epilogue('Each command has --help with an example. Documentation: docs/actool.md');

await runCli('actool', parser);
