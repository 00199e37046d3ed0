import type { CommandModule } from 'yargs';
import { detectHostArch } from '../../appc/arch.ts';
import { canRunArch } from '../../appc/compatible-arch.ts';
import type { RktContext } from '../../config/context.ts';
import { getPod } from '../../pod/pods.ts';
import type { Stage1Runtime } from '../../pod/runtime.ts';
import { checkCanRunPods } from '../../stage0/preflight.ts';
import { chooseStage1 } from '../../stage0/stage1-image.ts';
import { Store } from '../../store/store.ts';
import { execEntrypoint } from '../../stage0/entrypoints.ts';
import { ExitCode, exitingAsRkt, UserError, withContext } from '../../util/errors.ts';
import { contextFrom, type GlobalArgs } from './global.ts';

interface Args extends GlobalArgs {
  uuid: string;
  cmd?: string[];
  app?: string;
}

/**
 * The stage1 whose enter entrypoint joins the pod. An emulated stage1 cannot: qemu-user
 * runs threads, and the kernel refuses setns(CLONE_NEWNS) to a threaded process. The
 * enter protocol does not depend on the arch, so the host's own default stage1 does it.
 */
async function enterStage1(ctx: RktContext, stage1: Stage1Runtime): Promise<Stage1Runtime> {
  const host = detectHostArch();
  if (canRunArch(host.arch, stage1.arch)) return stage1;
  const needed = `enter: the pod's stage1 is ${stage1.arch}, which runs here under qemu; entering it needs this machine's own stage1 (stage1-${host.arch}.aci) as well`;
  const native = await chooseStage1(ctx, await Store.open(ctx.dir), {}, { pullPolicy: 'never' }, host).catch((err: unknown) => {
    throw withContext(needed, err);
  });
  if (!canRunArch(host.arch, native.stage1.arch)) throw new UserError(`${needed}, and only a ${native.stage1.arch} one was found`);
  return native.stage1;
}

export const enterCommand: CommandModule<GlobalArgs, Args> = {
  command: 'enter <uuid> [cmd..]',
  describe: "Run a command in a running pod's app (default /bin/sh), in its namespaces and root",
  builder: (y) =>
    y
      // The command's own options (ls -l) are its arguments, not rkt's.
      .parserConfiguration({ 'unknown-options-as-args': true })
      .positional('uuid', { type: 'string', demandOption: true, describe: 'the pod UUID, or a unique prefix of it' })
      .positional('cmd', { type: 'string', array: true, describe: 'the command and its arguments' })
      .option('app', { type: 'string', describe: 'the app to enter; needed when the pod has more than one' })
      .example('$0 enter 5bc080ca', 'a shell in the pod')
      .example('$0 enter --app=web 5bc080ca /bin/cat /proc/1/status', "a command in one app's root")
      .epilogue("Runs as root with the app's environment. Exits with the command's status. See docs/running-pods.md."),
  handler: (args) =>
    exitingAsRkt(async () => {
      checkCanRunPods('enter');
      const ctx = contextFrom(args);
      const pod = await getPod(ctx.dir, args.uuid);
      if (pod.state !== 'running' || pod.pid === undefined || !pod.runtime) throw new UserError(`enter: pod ${pod.uuid} is not running (${pod.state})`);
      const names = pod.runtime.apps.map((a) => a.name);
      const app = args.app ?? (names.length === 1 ? names[0]! : undefined);
      if (app === undefined) throw new UserError(`enter: pod ${pod.uuid} has apps ${names.join(', ')}: choose one with --app`, ExitCode.usage);
      if (!names.includes(app)) throw new UserError(`enter: pod ${pod.uuid} has no app "${app}" (it has ${names.join(', ')})`, ExitCode.usage);
      await execEntrypoint(ctx.dir, await enterStage1(ctx, pod.runtime.stage1), 'enter', [String(pod.pid), app, ...(args.cmd ?? []).map(String)]);
    }),
};
