import type { CommandModule } from 'yargs';
import { gcPods, stage1GcFromStore } from '../../pod/pods.ts';
import { parseDuration } from '../../util/duration.ts';
import { printJson, withFormat, type Format } from '../format.ts';
import { contextFrom, type GlobalArgs } from './global.ts';

interface Args extends GlobalArgs {
  'grace-period': number;
  'expire-prepared': number;
  'mark-only': boolean;
  format: Format;
}

export const gcCommand: CommandModule<GlobalArgs, Args> = {
  command: 'gc',
  describe: 'Garbage-collect pods: mark exited and failed ones, delete those marked long enough ago',
  builder: (y) =>
    withFormat(y)
      .option('grace-period', {
        type: 'string',
        default: '30m',
        coerce: (v: string) => parseDuration(v, '--grace-period'),
        describe: 'how long an exited pod stays marked (exited-garbage) before it is deleted',
      })
      .option('expire-prepared', {
        type: 'string',
        default: '24h',
        coerce: (v: string) => parseDuration(v, '--expire-prepared'),
        describe: 'how long a prepared pod may wait for run-prepared before it is garbage',
      })
      .option('mark-only', { type: 'boolean', default: false, describe: 'only mark pods as garbage; delete nothing' })
      .example('$0 gc', 'what a systemd timer runs: marks exited pods, deletes those exited 30 minutes ago')
      .example('$0 gc --grace-period=0s', 'delete every exited pod now')
      .epilogue(
        'Marks: exited pods move to exited-garbage, failed prepares and prepared pods older than --expire-prepared to ' +
          'garbage; embryos nobody holds are deleted. Then (unless --mark-only) deletes pods in exited-garbage marked at ' +
          'least --grace-period ago, after running their stage1 gc entrypoint, and every pod in garbage. Pods another rkt ' +
          'holds are left for the next run. Images are collected separately: rkt image gc. ' +
          'JSON: {marked: [uuid], removed: [uuid]}.',
      ),
  handler: async (args) => {
    const ctx = contextFrom(args);
    const report = await gcPods(ctx.dir, {
      gracePeriodMs: args['grace-period'],
      expirePreparedMs: args['expire-prepared'],
      markOnly: args['mark-only'],
      stage1Gc: stage1GcFromStore(ctx.dir),
      warn: (line) => ctx.warn(`rkt: ${line}`),
    });
    if (printJson(args.format, report)) return;
    for (const uuid of report.marked) process.stderr.write(`rkt: moving pod "${uuid}" to garbage\n`);
    for (const uuid of report.removed) process.stdout.write(`Garbage collecting pod "${uuid}"\n`);
  },
};
