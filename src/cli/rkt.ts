import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ExitCode } from '../util/errors.ts';
import { addCommands } from './rkt/commands.ts';
import { addGlobalFlags, commandIndex } from './rkt/global.ts';
import { runCli } from './run-cli.ts';

// rkt: the App Container runtime's stage0. Commands that need syscalls Node lacks
// load the FFI part on first use, so the others work on every board.
const argv = yargsView(hideBin(process.argv));
const parser = addGlobalFlags(yargs(argv))
  .usage('rkt: run App Container images as pods\n\nUsage: $0 <command> [options]')
  .example('$0 run --insecure-options=image ./busybox.aci --exec=/bin/echo -- hello', 'run an image as a pod')
  .example('$0 version', 'show versions and whether this board can run pods')
  .example('$0 --dir=/data/rkt image list', 'use a store on another disk')
  .epilogue(
    'Each command has --help with an example. Global options are flags only: rkt reads no environment variables ' +
      'for them, so a script shows everything a command did. Documentation: docs/',
  );
await addCommands(parser, argv);

await runCli('rkt', parser, ExitCode.rktFailure);

/**
 * What yargs parses. After `--`, `rkt run` and `rkt prepare` lines hold an app's own
 * arguments (`-- httpd -h /www`), which yargs would read as rkt's --help; those commands
 * read their whole line themselves (cli/rkt/pod-flags.ts), so yargs stops before it.
 */
function yargsView(argv: string[]): string[] {
  const at = commandIndex(argv);
  if (at < 0 || !['run', 'prepare'].includes(argv[at]!)) return argv;
  const end = argv.indexOf('--', at);
  return end < 0 ? argv : argv.slice(0, end);
}
