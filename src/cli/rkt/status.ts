import type { CommandModule } from 'yargs';
import { formatPodStatus, podJson } from '../../pod/format.ts';
import { getPod, waitForExit } from '../../pod/pods.ts';
import { parseDuration } from '../../util/duration.ts';
import { ExitCode, UserError } from '../../util/errors.ts';
import { printJson, withFormat, type Format } from '../format.ts';
import { contextFrom, type GlobalArgs } from './global.ts';

interface Args extends GlobalArgs {
  uuid?: string;
  wait?: string;
  format: Format;
}

export const statusCommand: CommandModule<GlobalArgs, Args> = {
  command: 'status [uuid]',
  describe: "Show a pod's state, and with --wait wait for it to exit",
  builder: (y) =>
    withFormat(y)
      .positional('uuid', { type: 'string', describe: 'the pod UUID, or a unique prefix of it (2 characters at least)' })
      .option('wait', {
        type: 'string',
        describe: 'wait for the pod to exit: --wait for as long as it takes, --wait=DURATION (30s, 5m) at most that long',
      })
      .example('$0 status 5bc080ca', 'state=running, created=..., started=..., pid=..., exited=false')
      .example('$0 status --wait=5m 5bc080ca && $0 status --format json 5bc080ca | jq .exitCode', "wait for a pod, then read its exit status")
      .epilogue(
        'Text: key=value lines: state, created, started (once stage1 started), pid and exited=false while running, ' +
          'exited=true and exited-at once it ran and exited, app-NAME=STATUS for each app that exited. ' +
          'JSON: {uuid, state, path, createdAt, startedAt?, exitedAt?, pid?, exited, exitCode?, apps: [{name, imageId?, ' +
          'imageName?, state, exitCode?}]}, as one element of `rkt list --format json`. A pod being prepared or prepared ' +
          'is waited for too. Exit status 0 whatever the pod exited with; 1 when --wait runs out.',
      ),
  handler: async (args) => {
    const { uuid, waitMs } = waitArgs(args.uuid, args.wait);
    const dir = contextFrom(args).dir;
    const info = waitMs === undefined ? await getPod(dir, uuid) : await waitForExit(dir, uuid, waitMs === 'forever' ? undefined : waitMs);
    if (printJson(args.format, podJson(info))) return;
    process.stdout.write(formatPodStatus(info));
  },
};

/**
 * `--wait` takes an optional value, which yargs cannot say: in `status --wait UUID` the
 * UUID arrives as the value. A UUID prefix is hex and never a duration (they need a unit),
 * so a value that is not a duration is the UUID, when none was given otherwise.
 */
function waitArgs(uuid: string | undefined, wait: string | undefined): { uuid: string; waitMs?: number | 'forever' } {
  if (wait === undefined) {
    if (uuid === undefined) throw new UserError('status: name a pod: rkt status UUID', ExitCode.usage);
    return { uuid };
  }
  if (wait === '' || wait === 'true') return { uuid: required(uuid), waitMs: 'forever' };
  if (uuid === undefined && !/[hms]/.test(wait)) return { uuid: wait, waitMs: 'forever' };
  return { uuid: required(uuid), waitMs: parseDuration(wait, '--wait') };
}

function required(uuid: string | undefined): string {
  if (uuid === undefined) throw new UserError('status: name a pod: rkt status UUID', ExitCode.usage);
  return uuid;
}
