import type { CommandModule } from 'yargs';
import { verifyStore } from '../../../image/maintenance.ts';
import { ExitCode } from '../../../util/errors.ts';
import { printJson, withFormat, type Format } from '../../format.ts';
import { contextFrom, type GlobalArgs } from '../global.ts';

interface Args extends GlobalArgs {
  repair: boolean;
  format: Format;
}

export const imageVerifyCommand: CommandModule<GlobalArgs, Args> = {
  command: 'verify',
  describe: 'Check every stored image against its ID and every rendered tree; --repair removes what is broken',
  builder: (y) =>
    withFormat(y)
      .option('repair', {
        type: 'boolean',
        default: false,
        describe: 'remove broken images and trees, so the next fetch or render makes them again',
      })
      .example('$0 image verify', 'after a power cut: is the store intact?')
      .example('$0 image verify --repair --format json', 'repair, and report for a script')
      .epilogue(
        'Prints one line per problem (KIND ID: PROBLEM, "(removed)" when repaired). Exit status 0 when no problem remains, ' +
          '1 when one remains unrepaired. Leftovers of interrupted commands are not damage: they are counted, and gc removes them. ' +
          'JSON: {blobsChecked, treesChecked, problems: [{kind, id, problem, removed}], leftovers: [path]}.',
      ),
  handler: async (args) => {
    const report = await verifyStore(contextFrom(args), args.repair);
    if (report.problems.some((p) => !p.removed)) process.exitCode = ExitCode.invalid;
    if (printJson(args.format, report)) return;
    for (const p of report.problems) process.stdout.write(`${p.kind} ${p.id}: ${p.problem}${p.removed ? ' (removed)' : ''}\n`);
    process.stderr.write(
      `rkt: checked ${report.blobsChecked} image(s) and ${report.treesChecked} tree(s): ` +
        `${report.problems.length} problem(s), ${report.problems.filter((p) => p.removed).length} repaired` +
        (report.leftovers.length > 0 ? `; ${report.leftovers.length} leftover(s) of interrupted commands, which rkt image gc removes` : '') +
        '\n',
    );
  },
};
