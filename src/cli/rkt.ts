import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ExitCode } from '../util/errors.ts';
import { setDebug } from '../util/log.ts';
import { versionCommand } from './rkt/version.ts';
import { runCli } from './run-cli.ts';

// rkt: the App Container runtime's stage0. Commands that need syscalls Node lacks
// load the FFI part on first use, so the others work on every board.
const parser = yargs(hideBin(process.argv))
  .usage('rkt: run App Container images as pods\n\nUsage: $0 <command> [options]')
  .option('debug', { type: 'boolean', default: false, global: true, describe: 'log details to stderr' })
  .middleware((args) => setDebug(Boolean(args.debug)))
  .command(versionCommand)
  .example('$0 version', 'show versions and whether this board can run pods')
  .epilogue('Each command has --help with an example. Documentation: docs/');

await runCli('rkt', parser, ExitCode.rktFailure);
