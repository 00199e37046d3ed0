import { spawn } from 'node:child_process';
import type { CommandModule } from 'yargs';
import type { RktContext } from '../../config/context.ts';
import type { HealthResult } from '../../pod/lookup.ts';
import type { PodInfo } from '../../pod/pods.ts';
import type { Stage1Runtime } from '../../pod/runtime.ts';
import { parseDuration } from '../../util/duration.ts';
import { ExitCode, UserError } from '../../util/errors.ts';
import { log } from '../../util/log.ts';
import { printJson, withFormat, type Format } from '../format.ts';
import { contextFrom, type GlobalArgs } from './global.ts';


interface Args extends GlobalArgs {
  uuid?: string;
  wait?: string;
  'wait-ready'?: string;
  app?: string;
  format: Format;
  '--'?: (string | number)[];
}

export const statusCommand: CommandModule<GlobalArgs, Args> = {
  command: 'status [uuid]',
  describe: "Show a pod's state; with --wait wait for it to exit, with --wait-ready for its apps to be up",
  builder: (y) =>
    withFormat(y)
      // What follows `--` is the health command, its own options included.
      .parserConfiguration({ 'populate--': true })
      .positional('uuid', { type: 'string', describe: 'the pod UUID, or a unique prefix of it (2 characters at least)' })
      .option('wait', {
        type: 'string',
        describe: 'wait for the pod to exit: --wait for as long as it takes, --wait=DURATION (30s, 5m) at most that long',
      })
      .option('wait-ready', {
        type: 'string',
        describe:
          'wait until the pod runs and every app has started, and the health command after -- (if any) exits 0 in it: ' +
          '--wait-ready for as long as it takes, --wait-ready=DURATION at most that long',
      })
      .option('app', { type: 'string', describe: 'the app the health command runs in (as rkt enter --app); needed when the pod has more than one' })
      .example('$0 status 5bc080ca', 'state=running, created=..., started=..., pid=..., exited=false')
      .example('$0 status --wait=5m 5bc080ca && $0 status --format json 5bc080ca | jq .exitCode', "wait for a pod, then read its exit status")
      .example('$0 status --wait-ready=60s --format json 5bc080ca -- /bin/hello check', 'wait until the service answers, then print its status')
      .epilogue(
        'Text: key=value lines: state, created, started (once stage1 started), pid and exited=false while running, ' +
          'exited=true and exited-at once it ran and exited, app-NAME=STATUS for each app that exited. ' +
          'JSON: {uuid, state, path, createdAt, startedAt?, readyAt?, exitedAt?, pid?, ready?, exited, exitCode?, apps: ' +
          '[{name, imageId?, imageName?, state, exitCode?}]}, as one element of `rkt list --format json` (docs/json.md). ' +
          'A pod being prepared or prepared is waited for too. --wait-ready: ready means running with every app started; ' +
          'the health command, run in the pod as by rkt enter (as root, with the app\'s environment), is tried every second ' +
          '(10 s at most each) once the pod is ready; its output is not shown. Exit status: 0 (whatever the pod exited ' +
          `with); 1 when --wait or --wait-ready runs out; ${ExitCode.notReady} when with --wait-ready the pod stops, or an app ` +
          'fails, before it is ready.',
      ),
  handler: async (args) => {
    const health = (args['--'] ?? []).map(String);
    const { uuid, wait } = waitArgs(args.uuid, args.wait, args['wait-ready']);
    if (health.length > 0 && wait?.until !== 'ready') throw new UserError('status: a health command (after --) needs --wait-ready', ExitCode.usage);
    if (args.app !== undefined && health.length === 0) throw new UserError('status: --app names the app of the health command (after --)', ExitCode.usage);
    const ctx = contextFrom(args);
    const timeoutMs = wait?.ms === 'forever' ? undefined : wait?.ms;
    const [{ formatPodStatus, podJson }, { getPod, waitForExit, waitForReady }] = await Promise.all([import('../../pod/format.ts'), import('../../pod/lookup.ts')]);
    let info: PodInfo;
    if (wait === undefined) info = await getPod(ctx.dir, uuid);
    else if (wait.until === 'exit') info = await waitForExit(ctx.dir, uuid, timeoutMs);
    else {
      if (health.length > 0) (await import('../../stage0/preflight.ts')).checkCanRunPods('status --wait-ready with a health command');
      info = await waitForReady(ctx.dir, uuid, { timeoutMs, ...(health.length > 0 && { health: healthCheck(ctx, health, args.app) }) });
    }
    if (printJson(args.format, podJson(info))) return;
    process.stdout.write(formatPodStatus(info));
  },
};

interface Wait {
  until: 'exit' | 'ready';
  ms: number | 'forever';
}

/**
 * `--wait` and `--wait-ready` take an optional value, which yargs cannot say: in
 * `status --wait UUID` the UUID arrives as the value. A UUID prefix is hex and never a
 * duration (they need a unit), so a value that is not a duration is the UUID, when none
 * was given otherwise.
 */
function waitArgs(uuid: string | undefined, wait: string | undefined, waitReady: string | undefined): { uuid: string; wait?: Wait } {
  if (wait !== undefined && waitReady !== undefined) throw new UserError('status: --wait and --wait-ready exclude each other', ExitCode.usage);
  const value = wait ?? waitReady;
  if (value === undefined) return { uuid: required(uuid) };
  const until = wait !== undefined ? 'exit' : 'ready';
  const flag = until === 'exit' ? '--wait' : '--wait-ready';
  if (value === '' || value === 'true') return { uuid: required(uuid), wait: { until, ms: 'forever' } };
  if (uuid === undefined && !/[hms]/.test(value)) return { uuid: value, wait: { until, ms: 'forever' } };
  return { uuid: required(uuid), wait: { until, ms: parseDuration(value, flag) } };
}

function required(uuid: string | undefined): string {
  if (uuid === undefined) throw new UserError('status: name a pod: rkt status UUID', ExitCode.usage);
  return uuid;
}

/** Output kept from a health command, for the message when it never passes. */
const KEEP_OUTPUT = 4096;

/**
 * The health check: `cmd` in the pod's app through stage1's enter entrypoint, as `rkt
 * enter UUID CMD` runs it, but as a child (this process goes on polling) with its
 * output captured, so stdout keeps only the status document.
 */
function healthCheck(ctx: RktContext, cmd: string[], appFlag: string | undefined): (pod: PodInfo, timeoutMs: number) => Promise<HealthResult> {
  let stage1: Stage1Runtime | undefined;
  return async (pod, timeoutMs) => {
    if (!pod.runtime || pod.pid === undefined) return { ok: false, detail: 'the pod has no runtime.json or pid yet' };
    const app = chooseApp(pod, appFlag);
    const [{ entrypointPath, stage1Env }, { StorePaths }, { lockFile }] = await Promise.all([
      import('../../stage0/entrypoints.ts'),
      import('../../store/layout.ts'),
      import('../../sys/flock.ts'),
    ]);
    stage1 ??= await enterStage1(ctx, pod.runtime.stage1);
    const entry = await entrypointPath(ctx.dir, stage1, 'enter');
    // As runEntrypoint does: the tree stays while the entrypoint runs from it.
    const lock = await lockFile(new StorePaths(ctx.dir).treeLock(stage1.treeId), 'shared');
    try {
      const result = await runCaptured(entry, ['enter', String(pod.pid), app, ...cmd], stage1Env(), timeoutMs);
      log().debug({ cmd, ...result }, 'health check');
      return result;
    } finally {
      lock.release();
    }
  };
}

function chooseApp(pod: PodInfo, appFlag: string | undefined): string {
  const names = pod.runtime!.apps.map((a) => a.name);
  const app = appFlag ?? (names.length === 1 ? names[0]! : undefined);
  if (app === undefined) throw new UserError(`status: pod ${pod.uuid} has apps ${names.join(', ')}: choose the health command's with --app`, ExitCode.usage);
  if (!names.includes(app)) throw new UserError(`status: pod ${pod.uuid} has no app "${app}" (it has ${names.join(', ')})`, ExitCode.usage);
  return app;
}

/**
 * The stage1 whose enter entrypoint joins the pod: the pod's own, or the host's when the
 * pod's runs under qemu (see enter.ts: qemu's threads cannot setns into a mount namespace).
 */
async function enterStage1(ctx: RktContext, stage1: Stage1Runtime): Promise<Stage1Runtime> {
  const [{ detectHostArch }, { canRunArch }] = await Promise.all([import('../../appc/arch.ts'), import('../../appc/compatible-arch.ts')]);
  const host = detectHostArch();
  if (canRunArch(host.arch, stage1.arch)) return stage1;
  const [{ chooseStage1 }, { Store }] = await Promise.all([import('../../stage0/stage1-image.ts'), import('../../store/store.ts')]);
  const native = await chooseStage1(ctx, await Store.open(ctx.dir), {}, { pullPolicy: 'never' }, host);
  if (!canRunArch(host.arch, native.stage1.arch)) {
    throw new UserError(`status: the pod's stage1 is ${stage1.arch}, which runs here under qemu, and the health check needs a ${host.arch} stage1 too`);
  }
  return native.stage1;
}

/** Runs `file` with stdin empty and its output captured; SIGKILL after `timeoutMs`. */
function runCaptured(file: string, args: string[], stage1Env: string[], timeoutMs: number): Promise<HealthResult> {
  return new Promise((resolve) => {
    const env = Object.fromEntries(stage1Env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer) => {
      output = (output + d.toString('utf8')).slice(-KEEP_OUTPUT);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const last = () => output.trim().split('\n').pop()?.trim();
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, detail: err.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve({ ok: true, detail: 'exited 0' });
      const how = timedOut ? `did not finish within ${timeoutMs} ms` : code !== null ? `exited ${code}` : `was killed by ${signal}`;
      const said = last();
      resolve({ ok: false, detail: `the health command ${how}${said ? `: ${said}` : ''}` });
    });
  });
}
