import type { Argv } from 'yargs';
import { describeError, ExitCode, UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';

/**
 * Runs a yargs program and turns every failure into one line on stderr and a stable
 * exit code: usage mistakes exit 2, a UserError its own code, anything unexpected
 * `unexpectedCode` (rkt, like CoreOS rkt, uses 254 for its own failures).
 */
export async function runCli(program: string, parser: Argv, unexpectedCode: number = ExitCode.invalid): Promise<void> {
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
      // A failing option `coerce` reaches us as yargs' own YError: a command-line mistake.
      if (err && err.name !== 'YError') throw err;
      // Throwing (not returning) is what stops yargs from running the command anyway.
      throw new UsageError(`${oneLine(msg ?? err?.message ?? 'invalid command line')}; see '${program} --help'`);
    });
  skipHelpCache(parser);
  try {
    await parser.parseAsync();
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${program}: ${err.message}\n`);
      process.exitCode = ExitCode.usage;
      return;
    }
    log().debug({ err }, 'command failed');
    process.stderr.write(`${program}: ${describeError(err)}\n`);
    process.exitCode = err instanceof UserError ? err.exitCode : unexpectedCode;
  }
}

interface YargsInternals {
  getInternalMethods?(): { getUsageInstance?(): { cacheHelpMessage?(): void } };
}

/**
 * yargs renders a command's whole help as it starts the command's handler, to keep for a
 * later showHelp(): 20 ms on x86 (text layout, ICU's segmenter), far more on a Pi, and
 * wasted here, since `fail` above throws instead of showing help.
 */
function skipHelpCache(parser: Argv): void {
  const usage = (parser as unknown as YargsInternals).getInternalMethods?.().getUsageInstance?.();
  if (usage?.cacheHelpMessage) usage.cacheHelpMessage = () => undefined;
}

function oneLine(msg: string): string {
  return msg.replace(/\s*\n\s*/g, '; ').replace(/[.;\s]+$/, '');
}

class UsageError extends Error {}
