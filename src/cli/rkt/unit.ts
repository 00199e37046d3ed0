import { readFile, realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import yargs from 'yargs';
import type { CommandModule } from 'yargs';
import { RESTART_POLICIES, isUnitName, systemdUnit, timeSpan, unitNameFor, type RestartPolicy } from '../../pod/systemd-unit.ts';
import { splitRunArgs } from '../../stage0/app-args.ts';
import { writeFileAtomic } from '../../util/atomic-file.ts';
import { parseDuration } from '../../util/duration.ts';
import { ExitCode, UserError } from '../../util/errors.ts';
import { addGlobalFlags, type GlobalArgs } from './global.ts';

interface Args extends GlobalArgs {
  name?: string;
  restart: RestartPolicy;
  'restart-sec': number;
  'timeout-start': number;
  'timeout-stop': number;
  'uuid-file'?: string;
  output?: string;
  '--'?: (string | number)[];
}

/** Global flags are the unit's, for every command it runs; inside the run line they would be ambiguous. */
const GLOBAL_FLAGS = ['dir', 'local-config', 'system-config', 'insecure-options', 'trust-keys-from-https', 'debug'];

export const unitCommand: CommandModule<GlobalArgs, Args> = {
  command: 'unit',
  describe: 'Write a systemd service that runs a pod: rkt run with these flags, stopped with rkt stop, marked for gc when it ends',
  builder: (y) =>
    y
      // Everything after `--` is rkt run's, its own `--` and `---` included.
      .parserConfiguration({ 'populate--': true })
      .option('name', { type: 'string', describe: 'the unit name, without .service (default: from the first image, example.com/web:1.0 -> web)' })
      .option('restart', { choices: RESTART_POLICIES, default: 'always' as RestartPolicy, describe: "systemd's Restart=: when to start the pod again after it exits" })
      .option('restart-sec', { type: 'string', default: '5s', coerce: (v: string) => parseDuration(v, '--restart-sec'), describe: 'how long to wait before a restart' })
      .option('timeout-start', {
        type: 'string',
        default: '5m',
        coerce: (v: string) => parseDuration(v, '--timeout-start'),
        describe: 'how long fetching and starting may take until every app runs (0s: no limit)',
      })
      .option('timeout-stop', {
        type: 'string',
        default: '30s',
        coerce: (v: string) => parseDuration(v, '--timeout-stop'),
        describe: 'how long the apps get to exit after SIGTERM before they are killed',
      })
      .option('uuid-file', { type: 'string', describe: "where rkt run saves the pod's UUID and rkt stop reads it (default /run/rkt-NAME.uuid)" })
      .option('output', { type: 'string', describe: 'write the unit to this file (atomically) instead of stdout' })
      .example('$0 --dir=/var/lib/rkt unit --output=/etc/systemd/system/web.service -- --net=host example.com/web:1.0', 'then: systemctl daemon-reload && systemctl enable --now web')
      .example('$0 unit --name=web --restart=on-failure -- example.com/web:1.0 --- example.com/log:2', 'a two-app pod, restarted only when it fails')
      .epilogue(
        'After `--` come rkt run\'s pod flags, images and app flags (see rkt run --help); global flags (--dir, ' +
          '--insecure-options, ...) go before `--` and are written into every command of the unit. The service is ' +
          'Type=notify: stage1 tells systemd READY=1 once every app has started. ExecStart runs rkt as this command ' +
          'ran (the same node and bundle). Writing a file that already holds the same unit changes nothing and says so. ' +
          'See docs/fleet.md.',
      ),
  handler: async (args) => {
    const runArgs = (args['--'] ?? []).map(String);
    const firstImage = await checkRunLine(runArgs);
    const name = args.name ?? (firstImage === undefined ? undefined : unitNameFor(firstImage));
    if (name === undefined) throw new UserError('unit: give the unit a name with --name (the first image gives none)', ExitCode.usage);
    if (!isUnitName(name)) throw new UserError(`unit: --name "${name}" is not a unit name (letters, digits and -_.:, without .service)`, ExitCode.usage);
    const uuidFile = resolve(args['uuid-file'] ?? `/run/rkt-${name}.uuid`);
    const text = systemdUnit({
      name,
      description: `rkt pod ${name}${firstImage ? ` (${firstImage})` : ''}`,
      rkt: await rktCommand(),
      globalFlags: globalFlags(args),
      runArgs,
      uuidFile,
      restart: args.restart,
      restartSec: timeSpan(args['restart-sec']),
      timeoutStartSec: timeSpan(args['timeout-start']),
      timeoutStopSec: timeSpan(args['timeout-stop']),
    });
    if (args.output === undefined) {
      process.stdout.write(text);
      return;
    }
    const file = resolve(args.output);
    if ((await readOptional(file)) === text) {
      process.stderr.write(`rkt: ${file} already holds this unit: unchanged\n`);
      return;
    }
    await writeFileAtomic(file, Readable.from([text]));
    process.stderr.write(`rkt: wrote ${file}; start it with: systemctl daemon-reload && systemctl enable --now ${name}.service\n`);
  },
};

/**
 * Checks the run line as `rkt run` would parse it (pod flags, then images and their
 * flags), so that a mistake shows now rather than in the journal. Returns the first image.
 */
async function checkRunLine(tokens: string[]): Promise<string | undefined> {
  if (tokens.length === 0) throw new UserError('unit: give rkt run\'s flags and images after --: rkt unit -- example.com/web:1.0', ExitCode.usage);
  const { podArgs, apps } = splitRunArgs(tokens);
  for (const t of podArgs) {
    const flag = /^--?(?:no-)?([^=]+)/.exec(t)?.[1];
    if (flag !== undefined && GLOBAL_FLAGS.includes(flag)) {
      throw new UserError(`unit: ${t.split('=')[0]} is a global flag: give it before -- (the unit's every command gets it)`, ExitCode.usage);
    }
  }
  // pod-flags.ts brings the fetcher along: loaded only now, as rkt run's parsing is.
  const { withPodFlags } = await import('./pod-flags.ts');
  const flags = await withPodFlags(addGlobalFlags(yargs(podArgs)))
    .strict()
    .help(false)
    .version(false)
    .fail((msg, err) => {
      throw new UserError(`unit: ${msg ?? err?.message}`, ExitCode.usage);
    })
    .parseAsync();
  if (flags.interactive) throw new UserError('unit: --interactive needs a terminal, and a service has none', ExitCode.usage);
  if (flags['uuid-file-save'] !== undefined) throw new UserError('unit: the unit saves the UUID itself: use rkt unit --uuid-file=FILE, not --uuid-file-save', ExitCode.usage);
  if (apps.length === 0 && flags['pod-manifest'] === undefined) throw new UserError('unit: name an image (or --pod-manifest) after --', ExitCode.usage);
  return apps[0]?.image;
}

/** This rkt, as it runs now: node, node's own options (tsx when run from source), the script. */
async function rktCommand(): Promise<string[]> {
  const script = process.argv[1];
  if (script === undefined) throw new UserError('unit: cannot tell where this rkt is (no script path)');
  return [process.execPath, ...process.execArgv, await realpath(script)];
}

function globalFlags(args: GlobalArgs): string[] {
  const flags = [`--dir=${args.dir}`, `--local-config=${args['local-config']}`, `--system-config=${args['system-config']}`];
  const insecure = [...(args['insecure-options'] ?? [])];
  if (insecure.length > 0) flags.push(`--insecure-options=${insecure.join(',')}`);
  if (args['trust-keys-from-https']) flags.push('--trust-keys-from-https');
  if (args.debug) flags.push('--debug');
  return flags;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
