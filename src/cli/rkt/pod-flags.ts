import { Readable } from 'node:stream';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { PULL_POLICIES, type PullPolicy } from '../../fetch/fetcher.ts';
import { splitRunArgs, type AppArgs } from '../../stage0/app-args.ts';
import { parseDnsFlags, parseHostsFlags } from '../../stage0/dns.ts';
import { parseNetFlag, parsePortFlag } from '../../stage0/network.ts';
import type { PrepareRequest } from '../../stage0/prepare.ts';
import { writeFileAtomic } from '../../util/atomic-file.ts';
import { ExitCode, UserError } from '../../util/errors.ts';
import { networkFrom, withNetworkOptions, type NetworkArgs } from '../network-options.ts';
import { addGlobalFlags, commandIndex } from './global.ts';

// The pod flags of `rkt run` and `rkt prepare`, as CoreOS rkt named them. Per-app
// flags follow each image, so yargs cannot parse these command lines alone: yargs
// shows --help and checks the command; the handler then splits the raw argv
// (src/stage0/app-args.ts) and parses only the pod part with these same definitions.

export interface PodFlags extends NetworkArgs {
  volume?: string[];
  'set-env'?: string[];
  'set-env-file'?: string[];
  'inherit-env': boolean;
  hostname?: string;
  interactive: boolean;
  'uuid-file-save'?: string;
  'pod-manifest'?: string;
  overlay: boolean;
  net: string;
  port?: string[];
  dns?: string[];
  'dns-search'?: string[];
  'dns-opt'?: string[];
  'hosts-entry'?: string[];
  'pull-policy': PullPolicy;
  'stage1-path'?: string;
  'stage1-name'?: string;
  'stage1-hash'?: string;
}

const GROUP = 'Pod options (before the first image):';

export function withPodFlags<T>(y: Argv<T>): Argv<T & PodFlags> {
  return withNetworkOptions(y)
    .option('volume', { type: 'string', array: true, group: GROUP, describe: 'NAME,kind=host,source=PATH[,readOnly=true] or NAME,kind=empty[,mode=0755,uid=0,gid=0] (repeatable)' })
    .option('set-env', { type: 'string', array: true, group: GROUP, describe: 'NAME=VALUE for every app (repeatable)' })
    .option('set-env-file', { type: 'string', array: true, group: GROUP, describe: 'a file of NAME=VALUE lines for every app (repeatable)' })
    .option('inherit-env', { type: 'boolean', default: false, group: GROUP, describe: "give the apps rkt's own environment, below the image's" })
    .option('hostname', { type: 'string', group: GROUP, describe: "the pod's hostname (default rkt-UUID)" })
    .option('interactive', { type: 'boolean', default: false, group: GROUP, describe: 'run the one app on this terminal, as its controlling tty' })
    .option('uuid-file-save', { type: 'string', group: GROUP, describe: "write the pod's UUID to this file" })
    .option('pod-manifest', { type: 'string', group: GROUP, describe: 'a pod manifest file to run instead of images and app flags' })
    // yargs reads --no-overlay as overlay=false.
    .option('overlay', { type: 'boolean', default: true, group: GROUP, describe: 'mount the images with overlayfs; --no-overlay copies them into the pod' })
    .option('net', {
      type: 'string',
      default: 'host',
      group: GROUP,
      describe: "host: the host's network; none: only loopback; default, or NAME[,NAME...] from <local-config>/net.d: a network namespace of its own on those CNI networks",
    })
    .option('port', { type: 'string', array: true, group: GROUP, describe: "NAME:[HOSTIP:]HOSTPORT: forward a host port to the app port NAME (a private --net's first network; repeatable)" })
    .option('dns', { type: 'string', array: true, group: GROUP, describe: "IP: a nameserver in the pod's /etc/resolv.conf (repeatable); host: the host's file; none: the image's" })
    .option('dns-search', { type: 'string', array: true, group: GROUP, describe: "DOMAIN: a search domain in the pod's /etc/resolv.conf (repeatable)" })
    .option('dns-opt', { type: 'string', array: true, group: GROUP, describe: "OPT: an option in the pod's /etc/resolv.conf, such as ndots:2 (repeatable)" })
    .option('hosts-entry', { type: 'string', array: true, group: GROUP, describe: "IP=HOST[,HOST...]: a line of the pod's /etc/hosts (repeatable); host: the host's file" })
    .option('pull-policy', { choices: PULL_POLICIES, default: 'new' as PullPolicy, group: GROUP, describe: 'new: a stored image if there is one; update: ask the server; never: the store only' })
    .option('stage1-path', { type: 'string', group: GROUP, describe: 'a stage1 ACI file' })
    .option('stage1-name', { type: 'string', group: GROUP, describe: 'a stage1 image by name, fetched and verified like any image' })
    .option('stage1-hash', { type: 'string', group: GROUP, describe: 'a stored stage1 image by ID' }) as unknown as Argv<T & PodFlags>;
}

/** The images and app flags, and the parsed pod flags, from this process's raw argv. */
export async function parseRunLine(command: string): Promise<{ flags: PodFlags; apps: AppArgs[] }> {
  const { podArgs, apps } = splitRunArgs(tokensAfter(command, hideBin(process.argv)));
  const flags = await withPodFlags(addGlobalFlags(yargs(podArgs.map(noOverlayValue))))
    .strict()
    .help(false)
    .version(false)
    .fail((msg, err) => {
      throw new UserError(`${command}: ${msg ?? err?.message}`, ExitCode.usage);
    })
    .parseAsync();
  if (apps.length === 0 && flags['pod-manifest'] === undefined) throw new UserError(`${command}: name an image (or --pod-manifest)`, ExitCode.usage);
  return { flags: flags as unknown as PodFlags, apps };
}

/**
 * CoreOS rkt's Go flags took --no-overlay=true; yargs knows only --no-overlay and
 * --overlay=BOOL, so the valued form is rewritten to the latter.
 */
function noOverlayValue(token: string): string {
  const m = /^--no-overlay=(true|false)$/.exec(token);
  return m ? `--overlay=${m[1] === 'true' ? 'false' : 'true'}` : token;
}

/** The raw tokens after the command word, which the global flags and their values may precede. */
export function tokensAfter(command: string, argv: string[]): string[] {
  const at = commandIndex(argv);
  return argv[at] === command ? argv.slice(at + 1) : [];
}

export async function prepareRequest(flags: PodFlags, apps: AppArgs[]): Promise<PrepareRequest> {
  const { net, networks } = parseNetFlag(flags.net);
  const ports = (flags.port ?? []).map(parsePortFlag);
  const dnsFlags = { dns: flags.dns, dnsSearch: flags['dns-search'], dnsOpt: flags['dns-opt'], hostsEntry: flags['hosts-entry'] };
  const dns = parseDnsFlags(dnsFlags);
  const hosts = parseHostsFlags(dnsFlags);
  if (ports.length > 0 && net !== 'private') throw new UserError(`--port needs a network of the pod's own (--net=default): with --net=${net} there is nothing to forward to`, ExitCode.usage);
  return {
    apps,
    podManifest: flags['pod-manifest'],
    volumes: flags.volume,
    setEnv: flags['set-env'],
    setEnvFiles: flags['set-env-file'],
    inheritEnv: flags['inherit-env'],
    pullPolicy: flags['pull-policy'],
    fetch: await networkFrom(flags),
    stage1: { path: flags['stage1-path'], name: flags['stage1-name'], hash: flags['stage1-hash'] },
    noOverlay: !flags.overlay,
    hostname: flags.hostname,
    net,
    networks,
    ports,
    interactive: flags.interactive,
    dns,
    hosts,
  };
}

/** --uuid-file-save: the UUID and a newline, written atomically. */
export async function saveUuid(file: string | undefined, uuid: string): Promise<void> {
  if (file !== undefined) await writeFileAtomic(file, Readable.from([`${uuid}\n`]));
}
