import { annotationValueRule } from '../../appc/annotations.ts';
import { serializeImageManifest, validateImageManifest } from '../../appc/image-manifest.ts';
import { isACIdentifier, isACName } from '../../appc/names.ts';
import { APPC_VERSION } from '../../appc/spec-version.ts';
import type { Annotation, App, ImageManifest, Label, MountPoint, Port } from '../../appc/types.ts';
import { parsePasswd } from '../../stage0/passwd.ts';
import { UserError } from '../../util/errors.ts';
import { parseJson } from './media.ts';
import { appcPlatform, platformText, type AppcPlatform } from './platform.ts';
import { appcIdentifier } from './reference.ts';

// A Docker/OCI image config as an appc image manifest (what docker2aci did). Pure.
//
//   Entrypoint + Cmd     app.exec (both kept as annotations, so one can be told from the other)
//   Env                  app.environment (names appc cannot hold are dropped)
//   WorkingDir           app.workingDirectory
//   User                 app.user / app.group: "uid:gid" and "name:group" as given; a
//                        user alone gets its primary group from the image's /etc/passwd
//                        (as Docker does), else 0; none is root (0:0)
//   ExposedPorts         app.ports, named "<port>-<proto>" ("80-tcp")
//   Volumes              app.mountPoints, named "volume-<path>" ("volume-var-lib-data")
//   Labels               annotations (names lowercased, other characters made "-")
//   created              the "created" annotation
//   os/architecture/variant  os and arch labels (platform.ts)
//   image name and tag   name and version label (the caller's naming)

export interface ContainerConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, unknown>;
  Volumes?: Record<string, unknown>;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  config: ContainerConfig;
  /** rootfs.diff_ids: the digests of the uncompressed layers, in order. */
  diffIds: string[];
}

/** Reads an image config, keeping the fields that matter and refusing wrong types in them. */
export function parseImageConfig(bytes: Uint8Array, what: string): ImageConfig {
  const doc = parseJson(bytes, what);
  const str = (v: unknown, field: string): string | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new UserError(`${what}: ${field} is not a string`);
    return v;
  };
  const strings = (v: unknown, field: string): string[] | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new UserError(`${what}: ${field} is not a list of strings`);
    return v as string[];
  };
  const object = (v: unknown, field: string): Record<string, unknown> | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw new UserError(`${what}: ${field} is not an object`);
    return v as Record<string, unknown>;
  };
  const c = object(doc['config'], 'config') ?? {};
  const config: ContainerConfig = {};
  const set = <K extends keyof ContainerConfig>(key: K, value: ContainerConfig[K] | undefined) => {
    if (value !== undefined) config[key] = value;
  };
  set('Entrypoint', strings(c['Entrypoint'], 'config.Entrypoint'));
  set('Cmd', strings(c['Cmd'], 'config.Cmd'));
  set('Env', strings(c['Env'], 'config.Env'));
  set('WorkingDir', str(c['WorkingDir'], 'config.WorkingDir'));
  set('User', str(c['User'], 'config.User'));
  set('ExposedPorts', object(c['ExposedPorts'], 'config.ExposedPorts'));
  set('Volumes', object(c['Volumes'], 'config.Volumes'));
  set('StopSignal', str(c['StopSignal'], 'config.StopSignal'));
  const labels = object(c['Labels'], 'config.Labels');
  if (labels) config.Labels = Object.fromEntries(Object.entries(labels).filter((e): e is [string, string] => typeof e[1] === 'string'));
  const rootfs = object(doc['rootfs'], 'rootfs');
  const out: ImageConfig = {
    architecture: str(doc['architecture'], 'architecture') ?? '',
    os: str(doc['os'], 'os') ?? '',
    config,
    diffIds: strings(rootfs?.['diff_ids'], 'rootfs.diff_ids') ?? [],
  };
  const variant = str(doc['variant'], 'variant');
  if (variant) out.variant = variant;
  const created = str(doc['created'], 'created');
  if (created) out.created = created;
  return out;
}

/** The appc os/arch of an image config, or a message saying appc has none for it. */
export function configPlatform(config: ImageConfig, what: string): AppcPlatform {
  const platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
  const appc = appcPlatform(platform);
  if (!appc) throw new UserError(`${what} is for ${platformText(platform) || 'no platform'}, which has no appc arch (amd64, arm64, arm/v7, arm/v6 and a few more have)`);
  return appc;
}

/** What the image is called, and where it came from (annotations under appc.io/docker/). */
export interface Naming {
  name: string;
  version?: string;
  provenance: Record<string, string>;
}

/** The image's /etc/passwd, when it has one: a user's primary group comes from there. */
export interface UserFiles {
  passwd?: string;
}

export function manifestFromConfig(config: ImageConfig, naming: Naming, platform: AppcPlatform, files: UserFiles = {}): ImageManifest {
  if (!isACIdentifier(naming.name)) throw new UserError(`docker: "${naming.name}" cannot be an appc image name`);
  const labels: Label[] = [];
  if (naming.version !== undefined && naming.version !== '') labels.push({ name: 'version', value: naming.version });
  labels.push({ name: 'os', value: platform.os }, { name: 'arch', value: platform.arch });
  const c = config.config;
  const manifest: ImageManifest = {
    acKind: 'ImageManifest',
    acVersion: APPC_VERSION,
    name: naming.name,
    labels,
    app: appFrom(c, files),
    annotations: annotationsFrom(config, naming),
    dependencies: [],
    pathWhitelist: [],
  };
  return validateImageManifest(manifest);
}

/** The manifest's bytes as they go into the ACI. */
export function manifestBytes(m: ImageManifest): Buffer {
  return Buffer.from(serializeImageManifest(m, { pretty: true }));
}

function appFrom(c: ContainerConfig, files: UserFiles): App {
  const exec = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  const { user, group } = userAndGroup(c.User ?? '', files);
  const app: App = {
    exec: exec[0] === '' ? [] : exec,
    eventHandlers: [],
    user,
    group,
    supplementaryGIDs: [],
    environment: environmentFrom(c.Env ?? []),
    mountPoints: mountPointsFrom(c.Volumes ?? {}),
    ports: portsFrom(c.ExposedPorts ?? {}),
    isolators: [],
    userAnnotations: {},
    userLabels: {},
  };
  if (c.WorkingDir) app.workingDirectory = c.WorkingDir.startsWith('/') ? c.WorkingDir : `/${c.WorkingDir}`;
  return app;
}

/** Docker's USER as appc's user and group. */
export function userAndGroup(dockerUser: string, files: UserFiles): { user: string; group: string } {
  if (dockerUser === '') return { user: '0', group: '0' };
  const colon = dockerUser.indexOf(':');
  if (colon >= 0) return { user: dockerUser.slice(0, colon) || '0', group: dockerUser.slice(colon + 1) || '0' };
  const passwd = files.passwd === undefined ? [] : parsePasswd(files.passwd);
  const entry = passwd.find((e) => e.name === dockerUser) ?? (/^\d+$/.test(dockerUser) ? passwd.find((e) => e.uid === Number(dockerUser)) : undefined);
  return { user: dockerUser, group: entry ? String(entry.gid) : '0' };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function environmentFrom(env: string[]): App['environment'] {
  const vars = new Map<string, string>();
  for (const item of env) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    if (!ENV_NAME.test(name)) continue;
    vars.delete(name);
    vars.set(name, eq < 0 ? '' : item.slice(eq + 1));
  }
  return [...vars].map(([name, value]) => ({ name, value }));
}

/** "80/tcp", "53/udp", "8080" (tcp), "8000-8010/tcp"; sctp and malformed keys are left out. */
export function portsFrom(exposed: Record<string, unknown>): Port[] {
  const ports: Port[] = [];
  const names = new Set<string>();
  for (const key of Object.keys(exposed).sort(comparePorts)) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp))?$/i.exec(key.trim());
    if (!m) continue;
    const port = Number(m[1]);
    const end = m[2] === undefined ? port : Number(m[2]);
    const protocol = (m[3] ?? 'tcp').toLowerCase() as Port['protocol'];
    if (port < 1 || end < port || end > 65535) continue;
    const name = `${port}-${protocol}`;
    if (names.has(name)) continue;
    names.add(name);
    ports.push({ name, protocol, port, count: end - port + 1, socketActivated: false });
  }
  return ports;
}

function comparePorts(a: string, b: string): number {
  return parseInt(a, 10) - parseInt(b, 10) || (a < b ? -1 : a > b ? 1 : 0);
}

export function mountPointsFrom(volumes: Record<string, unknown>): MountPoint[] {
  const points: MountPoint[] = [];
  const names = new Set<string>();
  for (const raw of Object.keys(volumes).sort()) {
    const path = `/${raw.split('/').filter((p) => p !== '' && p !== '.').join('/')}`;
    if (path.split('/').includes('..')) continue;
    const base = `volume-${path.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'root'}`;
    let name = base;
    for (let n = 2; names.has(name); n++) name = `${base}-${n}`;
    if (!isACName(name)) continue;
    names.add(name);
    points.push({ name, path, readOnly: false });
  }
  return points;
}

function annotationsFrom(config: ImageConfig, naming: Naming): Annotation[] {
  const out = new Map<string, string>();
  const add = (name: string, value: string) => {
    if (out.has(name) || !isACIdentifier(name)) return;
    // A well-known name with a value of the wrong form would make the manifest invalid: dropped.
    if (annotationValueRule(name, value)) return;
    out.set(name, value);
  };
  if (config.created) add('created', config.created);
  for (const [name, value] of Object.entries(naming.provenance)) add(name, value);
  const c = config.config;
  if (c.Entrypoint) add('appc.io/docker/entrypoint', JSON.stringify(c.Entrypoint));
  if (c.Cmd) add('appc.io/docker/cmd', JSON.stringify(c.Cmd));
  if (c.StopSignal) add('appc.io/docker/stopsignal', c.StopSignal);
  for (const key of Object.keys(c.Labels ?? {}).sort()) add(appcIdentifier(key), c.Labels![key]!);
  return [...out].map(([name, value]) => ({ name, value }));
}
