import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ExitCode } from '../util/errors.ts';
import { catManifestCommand } from './rkt/cat-manifest.ts';
import { enterCommand } from './rkt/enter.ts';
import { fetchCommand } from './rkt/fetch.ts';
import { gcCommand } from './rkt/gc.ts';
import { addGlobalFlags } from './rkt/global.ts';
import { imageCommand } from './rkt/image.ts';
import { listCommand } from './rkt/list.ts';
import { prepareCommand } from './rkt/prepare.ts';
import { rmCommand } from './rkt/rm.ts';
import { runPreparedCommand } from './rkt/run-prepared.ts';
import { runCommand } from './rkt/run.ts';
import { statusCommand } from './rkt/status.ts';
import { stopCommand } from './rkt/stop.ts';
import { trustCommand } from './rkt/trust.ts';
import { versionCommand } from './rkt/version.ts';
import { runCli } from './run-cli.ts';

// rkt: the App Container runtime's stage0. Commands that need syscalls Node lacks
// load the FFI part on first use, so the others work on every board.
const parser = addGlobalFlags(yargs(hideBin(process.argv)))
  .usage('rkt: run App Container images as pods\n\nUsage: $0 <command> [options]')
  .command(runCommand)
  .command(prepareCommand)
  .command(runPreparedCommand)
  .command(fetchCommand)
  .command(imageCommand)
  .command(listCommand)
  .command(statusCommand)
  .command(stopCommand)
  .command(enterCommand)
  .command(catManifestCommand)
  .command(rmCommand)
  .command(gcCommand)
  .command(trustCommand)
  .command(versionCommand)
  .example('$0 run --insecure-options=image ./busybox.aci --exec=/bin/echo -- hello', 'run an image as a pod')
  .example('$0 version', 'show versions and whether this board can run pods')
  .example('$0 --dir=/data/rkt image list', 'use a store on another disk')
  .epilogue(
    'Each command has --help with an example. Global options are flags only: rkt reads no environment variables ' +
      'for them, so a script shows everything a command did. Documentation: docs/',
  );

await runCli('rkt', parser, ExitCode.rktFailure);
