import type { Argv } from 'yargs';
import { describeError, ExitCode, UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';

/**
 * Runs a yargs program and turns every failure into one line on stderr and a stable
 * exit code: usage mistakes exit 2, a UserError its own code, anything unexpected
 * `unexpectedCode` (rkt, like CoreOS rkt, uses 254 for its own failures).
 */
export async function runCli(program: string, parser: Argv, unexpectedCode: number = ExitCode.invalid): Promise<void> {
  let usageFailed = false;
  parser
    .scriptName(program)
    .strict()
    .demandCommand(1, 'name a command')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      // yargs reports each broken rule; the first says enough.
      if (usageFailed) return;
      usageFailed = true;
      process.stderr.write(`${program}: ${oneLine(msg)}; see '${program} --help'\n`);
      process.exitCode = ExitCode.usage;
    });
  try {
    await parser.parseAsync();
  } catch (err) {
    if (usageFailed) return;
    log().debug({ err }, 'command failed');
    process.stderr.write(`${program}: ${describeError(err)}\n`);
    process.exitCode = err instanceof UserError ? err.exitCode : unexpectedCode;
  }
}

function oneLine(msg: string): string {
  return msg.replace(/\s*\n\s*/g, '; ').replace(/[.;\s]+$/, '');
}
