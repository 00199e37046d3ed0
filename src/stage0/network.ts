import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseImageManifest } from '../appc/image-manifest.ts';
import type { ExposedPort, Port, PodManifest } from '../appc/types.ts';
import type { NetMode, PodRuntime } from '../pod/runtime.ts';
import { ExitCode, UserError } from '../util/errors.ts';

// A pod's private network (docs/networking.md): stage0 makes a network namespace the
// pod will join, bound to POD/netns so it outlives every process, and hands it to the
// CNI plugins (https://www.cni.dev/docs/spec/) before the hand-over; stage0 then
// setns's into it instead of unsharing one (handover.ts, native/takeover.c). Each
// network's config, interface and the plugin's result are kept in POD/net/<name>.json,
// for `rkt list` and for gc, which gives them back to the plugins (DEL), unmounts
// POD/netns and removes it (tearDownPodNetwork, from src/pod/remove.ts).
//
// Every call here is synchronous: it runs in the `rkt run` process just before the
// hand-over, and the plugins are quick.

/** Relative to the pod directory. */
export const NETNS_FILE = 'netns';
export const NET_DIR = 'net';

/** Where the plugins are looked for, in order: Debian's containernetworking-plugins, then upstream's. */
export const CNI_PLUGIN_PATH = ['/usr/lib/cni', '/opt/cni/bin'];

/** CoreOS rkt's default network: a veth pair to the host, an address from 172.16.28.0/24, masqueraded out. */
export const DEFAULT_NETWORK: NetConf = {
  cniVersion: '0.4.0',
  name: 'default',
  type: 'ptp',
  ipMasq: true,
  ipam: { type: 'host-local', subnet: '172.16.28.0/24', routes: [{ dst: '0.0.0.0/0' }] },
};

const PLUGIN_TIMEOUT_MS = 30_000;

/** A CNI network config (one plugin, the .conf form). */
export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  [key: string]: unknown;
}

/** POD/net/<name>.json: what DEL needs, and what `rkt list` shows. */
export interface NetRecord {
  name: string;
  ifname: string;
  cniPath: string;
  conf: NetConf;
  /** The plugin's ADD result; absent while (or if) ADD has not succeeded. */
  result?: { ips?: { address: string }[] } & Record<string, unknown>;
  /** The portmap config chained after the network, when the pod has --port forwards. */
  portmap?: NetConf;
}

/** A resolved --port: a pod port on the host. */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
  hostIP?: string;
}

/** --net's value: host, none, or networks by name (`default`, a net.d conf's name), comma-separated. */
export function parseNetFlag(value: string): { net: NetMode; networks?: string[] } {
  if (value === 'host' || value === 'none') return { net: value };
  const networks = value.split(',').map((n) => n.trim());
  if (value === '' || networks.some((n) => !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(n))) {
    throw new UserError(`--net=${value}: host, none, or network names (default, or a name from net.d), comma-separated`, ExitCode.usage);
  }
  if (networks.includes('host') || networks.includes('none')) throw new UserError(`--net=${value}: host and none stand alone`, ExitCode.usage);
  if (new Set(networks).size !== networks.length) throw new UserError(`--net=${value}: a network is named twice`, ExitCode.usage);
  return { net: 'private', networks };
}

/** --port NAME:[HOSTIP:]HOSTPORT, as the pod manifest's `ports` entry. */
export function parsePortFlag(value: string): ExposedPort {
  const m = /^([a-z0-9][a-z0-9-]*):(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d+)$/.exec(value);
  const hostPort = m ? Number(m[3]) : 0;
  if (!m || hostPort < 1 || hostPort > 65535) throw new UserError(`--port=${value}: give NAME:[HOSTIP:]HOSTPORT, NAME an image port's name`, ExitCode.usage);
  return { name: m[1]!, hostPort, ...(m[2] ? { hostIP: m[2] } : {}) };
}

/** The network configs of `names`: `default` built in (a net.d conf named default replaces it), the rest from `<localConfig>/net.d/*.conf`. */
export function loadNetworks(localConfig: string, names: readonly string[]): NetConf[] {
  const dir = join(localConfig, 'net.d');
  const found = new Map<string, { conf: NetConf; file: string }>();
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.conf')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const f of files) {
    const file = join(dir, f);
    let conf: NetConf;
    try {
      conf = JSON.parse(readFileSync(file, 'utf8')) as NetConf;
    } catch (err) {
      throw new UserError(`network config ${file}: ${(err as Error).message}`);
    }
    if (typeof conf !== 'object' || conf === null || typeof conf.name !== 'string' || typeof conf.type !== 'string') {
      throw new UserError(`network config ${file}: a CNI network config needs "name" and "type"`);
    }
    if (found.has(conf.name)) throw new UserError(`network ${conf.name}: in both ${found.get(conf.name)!.file} and ${file}`);
    found.set(conf.name, { conf: { ...conf, cniVersion: typeof conf.cniVersion === 'string' ? conf.cniVersion : '0.4.0' }, file });
  }
  return names.map((name) => {
    const conf = found.get(name)?.conf ?? (name === 'default' ? DEFAULT_NETWORK : undefined);
    if (!conf) {
      const known = ['default', ...[...found.keys()].filter((n) => n !== 'default')];
      throw new UserError(`--net: no network ${name} (known: ${known.join(', ')}; configs are read from ${dir}/*.conf)`);
    }
    return conf;
  });
}

/**
 * The pod's `ports` as port mappings: each names a port of one of its apps (its image's
 * manifest, or the pod manifest's app), or brings its own podPort.
 */
export function resolvePorts(manifest: PodManifest, appPorts: ReadonlyMap<string, Port[]>): PortMapping[] {
  return manifest.ports.map((exposed) => {
    const port = exposed.podPort ?? [...appPorts.values()].flat().find((p) => p.name === exposed.name);
    if (!port) {
      const names = [...new Set([...appPorts.values()].flat().map((p) => p.name))];
      throw new UserError(`--port ${exposed.name}: no app of the pod has a port of that name${names.length ? ` (ports: ${names.join(', ')})` : ''}`);
    }
    return { hostPort: exposed.hostPort, containerPort: port.port, protocol: port.protocol, ...(exposed.hostIP ? { hostIP: exposed.hostIP } : {}) };
  });
}

/** Each app's ports: the pod manifest's app, else its image's manifest in the store. */
export function appPortsOf(manifest: PodManifest, runtime: PodRuntime, treePath: (treeId: string) => string): Map<string, Port[]> {
  const result = new Map<string, Port[]>();
  for (const app of runtime.apps) {
    const own = manifest.apps.find((a) => a.name === app.name)?.app;
    result.set(app.name, own ? own.ports : (parseImageManifest(readFileSync(join(treePath(app.treeId), 'manifest'))).app?.ports ?? []));
  }
  return result;
}

/**
 * For startPod: checks the pod's networks and ports against the config and the apps
 * (before the pod moves to run/), and returns what joins it to them once it is there.
 */
export function planPodNetwork(
  localConfig: string,
  pod: { uuid: string; runtime: PodRuntime; manifest: PodManifest },
  treePath: (treeId: string) => string,
): ((path: string) => void) | undefined {
  if (pod.runtime.options.net !== 'private') return undefined;
  const networks = loadNetworks(localConfig, pod.runtime.options.networks ?? ['default']);
  const ports = resolvePorts(pod.manifest, appPortsOf(pod.manifest, pod.runtime, treePath));
  for (const conf of networks) findPlugin(conf.type, CNI_PLUGIN_PATH);
  if (ports.length > 0) findPlugin('portmap', CNI_PLUGIN_PATH);
  return (path) => void setUpPodNetwork({ path, uuid: pod.uuid, networks, ports });
}

/** The first directory of `dirs` that holds plugin `type`. */
function findPlugin(type: string, dirs: readonly string[]): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(type)) throw new UserError(`CNI plugin type ${JSON.stringify(type)} is not a plain name`);
  for (const dir of dirs) if (existsSync(join(dir, type))) return join(dir, type);
  throw new UserError(`CNI plugin ${type} not found in ${dirs.join(':')}: install containernetworking-plugins`);
}

/** Runs one CNI plugin; ADD's parsed result, or nothing for DEL. */
function cni(command: 'ADD' | 'DEL', conf: NetConf, opts: { uuid: string; netns: string; ifname: string; cniPath: string }): Record<string, unknown> | undefined {
  const dirs = opts.cniPath.split(':');
  const plugin = findPlugin(conf.type, dirs);
  const r = spawnSync(plugin, [], {
    input: JSON.stringify(conf),
    encoding: 'utf8',
    timeout: PLUGIN_TIMEOUT_MS,
    env: {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: opts.uuid,
      CNI_NETNS: opts.netns,
      CNI_IFNAME: opts.ifname,
      CNI_PATH: opts.cniPath,
    },
  });
  if (r.error) throw new Error(`CNI ${command} ${conf.name} (${conf.type}): ${r.error.message}`);
  if (r.status !== 0) {
    // A failing plugin prints {code, msg, details} on stdout.
    let msg = (r.stderr || r.stdout).trim();
    try {
      const e = JSON.parse(r.stdout) as { msg?: string; details?: string };
      msg = [e.msg, e.details].filter(Boolean).join(': ') || msg;
    } catch {
      // not JSON: the raw text
    }
    throw new Error(`CNI ${command} ${conf.name} (${conf.type}): ${msg || `exit status ${r.status}`}`);
  }
  return command === 'ADD' ? (JSON.parse(r.stdout) as Record<string, unknown>) : undefined;
}

export interface PodNetworkInput {
  /** The pod directory. */
  path: string;
  uuid: string;
  networks: NetConf[];
  ports: PortMapping[];
  cniPath?: string;
}

/**
 * Makes POD/netns and joins it to each network, eth0 first; the port forwards go on the
 * first network through the portmap plugin. Undoes everything it did on failure.
 * Returns the path of the namespace file, for the hand-over to join.
 */
export function setUpPodNetwork(pod: PodNetworkInput): string {
  const cniPath = pod.cniPath ?? CNI_PLUGIN_PATH.join(':');
  const netns = join(pod.path, NETNS_FILE);
  const netDir = join(pod.path, NET_DIR);
  try {
    mkdirSync(netDir, { mode: 0o755 });
    closeSync(openSync(netns, 'wx', 0o444));
    // util-linux's unshare binds the new namespace to the file from its own process: no
    // FFI, and this process stays in the host's namespaces.
    const r = spawnSync('unshare', [`--net=${netns}`, 'true'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) throw new Error(`make the network namespace ${netns}: ${r.error?.message ?? r.stderr.trim()}`);
    for (const [i, conf] of pod.networks.entries()) {
      const record: NetRecord = { name: conf.name, ifname: `eth${i}`, cniPath, conf };
      const recordFile = join(netDir, `${conf.name}.json`);
      // Written before ADD: a plugin that half-succeeded is still given its DEL.
      writeFileSync(recordFile, JSON.stringify(record));
      const opts = { uuid: pod.uuid, netns, ifname: record.ifname, cniPath };
      record.result = cni('ADD', conf, opts) as NetRecord['result'];
      writeFileSync(recordFile, JSON.stringify(record));
      if (i === 0 && pod.ports.length > 0) {
        const portmap: NetConf = {
          cniVersion: conf.cniVersion,
          name: conf.name,
          type: 'portmap',
          capabilities: { portMappings: true },
          snat: true,
          runtimeConfig: { portMappings: pod.ports },
        };
        record.portmap = portmap;
        writeFileSync(recordFile, JSON.stringify(record));
        cni('ADD', { ...portmap, prevResult: record.result }, opts);
      }
    }
    return netns;
  } catch (err) {
    try {
      tearDownPodNetwork(pod.path, pod.uuid, () => undefined, cniPath);
    } catch {
      // the first error is the one to report; gc tries again
    }
    throw err;
  }
}

/** The networks a pod was joined to, from POD/net/ (none for a pod without). */
export function podNetworks(podPath: string): NetRecord[] {
  let files: string[];
  try {
    files = readdirSync(join(podPath, NET_DIR)).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const records: NetRecord[] = [];
  for (const f of files) {
    try {
      records.push(JSON.parse(readFileSync(join(podPath, NET_DIR, f), 'utf8')) as NetRecord);
    } catch {
      // half-written by a killed rkt: nothing to show; gc removes the file with the pod
    }
  }
  return records.sort((a, b) => a.ifname.localeCompare(b.ifname, 'en', { numeric: true }));
}

/** `rkt list`'s NETWORKS: name:ip for each network with an address. */
export function describeNetworks(podPath: string): string {
  return podNetworks(podPath)
    .flatMap((r) => (r.result?.ips ?? []).map((ip) => `${r.name}:ip4=${ip.address.split('/')[0]}`))
    .join(',');
}

/**
 * Gives the pod's networks back (CNI DEL, portmap first, last network first), then
 * unmounts POD/netns and removes it, with POD/net/. A DEL that fails is reported to
 * `warn` and the rest goes on: once the namespace is gone the kernel removes its veths.
 * Throws only when POD/netns stays mounted. The plugins are looked for in `cniPath`
 * (the one the networks were set up with), never in a directory a file in the pod
 * directory names: DEL runs them as root.
 */
export function tearDownPodNetwork(podPath: string, uuid: string, warn: (line: string) => void, cniPath = CNI_PLUGIN_PATH.join(':')): void {
  const netns = join(podPath, NETNS_FILE);
  // POD/netns is a file stage0 made and bound a namespace to. Anything else there (a
  // symlink to /proc/1/ns/net, to a mount point on the host) is not the pod's: neither
  // handed to the plugins, whose DEL would then act on another namespace, nor given to
  // umount, which follows symlinks; only the link itself is removed.
  const kind = lstatOrUndefined(netns);
  if (kind?.isSymbolicLink()) rmSync(netns, { force: true });
  const haveNetns = kind !== undefined && !kind.isSymbolicLink();
  for (const record of podNetworks(podPath).reverse()) {
    const opts = { uuid, netns: haveNetns ? netns : '', ifname: record.ifname, cniPath };
    const del = (conf: NetConf) => {
      try {
        cni('DEL', record.result ? { ...conf, prevResult: record.result } : conf, opts);
      } catch (err) {
        warn(`pod ${uuid}: ${(err as Error).message}`);
      }
    };
    if (record.portmap) del(record.portmap);
    del(record.conf);
  }
  if (haveNetns) {
    const r = spawnSync('umount', [netns], { encoding: 'utf8' });
    // "not mounted": an unshare that failed, or a second gc after a crash
    if (r.status !== 0 && !/not mounted/.test(r.stderr)) throw new Error(`pod ${uuid}: umount ${netns}: ${r.error?.message ?? r.stderr.trim()}`);
    rmSync(netns, { force: true });
  }
  rmSync(join(podPath, NET_DIR), { recursive: true, force: true });
}

function lstatOrUndefined(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
