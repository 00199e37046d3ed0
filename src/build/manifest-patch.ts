import { emptyApp } from '../appc/app.ts';
import { serializeImageManifest, validateImageManifest } from '../appc/image-manifest.ts';
import type { App, ImageManifest, Isolator, MountPoint, Port } from '../appc/types.ts';
import { UserError } from '../util/errors.ts';

// What `actool patch-manifest` changes, parsed from its flags. The list formats are
// rkt's: entries separated by ":", an entry is "NAME,key=value,...". Pure, so it
// can be tested without an image.

export interface ManifestPatch {
  name?: string;
  exec?: string[];
  user?: string;
  group?: string;
  supplementaryGIDs?: number[];
  capabilities?: string[];
  mounts?: MountPoint[];
  ports?: Port[];
  isolators?: Isolator[];
}

export interface PatchFlags {
  name?: string;
  exec?: string;
  user?: string;
  group?: string;
  'supplementary-groups'?: string;
  capability?: string[];
  mounts?: string[];
  ports?: string[];
  isolators?: string[];
}

export function patchFromFlags(flags: PatchFlags): ManifestPatch {
  const patch: ManifestPatch = {};
  if (flags.name !== undefined) patch.name = flags.name;
  if (flags.exec !== undefined) patch.exec = flags.exec.split(/\s+/).filter(Boolean);
  if (flags.user !== undefined) patch.user = flags.user;
  if (flags.group !== undefined) patch.group = flags.group;
  if (flags['supplementary-groups'] !== undefined) patch.supplementaryGIDs = parseGids(flags['supplementary-groups']);
  if (flags.capability) patch.capabilities = flags.capability.flatMap((c) => c.split(',')).filter(Boolean);
  if (flags.mounts) patch.mounts = entries(flags.mounts).map(parseMount);
  if (flags.ports) patch.ports = entries(flags.ports).map(parsePort);
  if (flags.isolators) patch.isolators = flags.isolators.flatMap(splitIsolators).map(parseIsolator);
  return patch;
}

/** Applies a patch and re-validates, so a patch can never produce an invalid manifest. */
export function applyPatch(manifest: ImageManifest, patch: ManifestPatch): ImageManifest {
  const next: ImageManifest = structuredClone(manifest);
  if (patch.name !== undefined) next.name = patch.name;
  const touchesApp = Object.keys(patch).some((k) => k !== 'name');
  if (touchesApp) {
    // An image without an app (a base layer) gets one; root runs it unless told otherwise.
    const app: App = next.app ?? emptyApp();
    if (patch.exec) app.exec = patch.exec;
    if (patch.user !== undefined) app.user = patch.user;
    if (patch.group !== undefined) app.group = patch.group;
    if (patch.supplementaryGIDs) app.supplementaryGIDs = patch.supplementaryGIDs;
    if (patch.mounts) app.mountPoints = patch.mounts;
    if (patch.ports) app.ports = patch.ports;
    if (patch.capabilities) setIsolator(app, { name: 'os/linux/capabilities-retain-set', value: { set: patch.capabilities } });
    for (const isolator of patch.isolators ?? []) setIsolator(app, isolator);
    next.app = app;
  }
  return validateImageManifest(JSON.parse(serializeImageManifest(next)));
}

function setIsolator(app: App, isolator: Isolator): void {
  app.isolators = [...app.isolators.filter((i) => i.name !== isolator.name), isolator];
}

function entries(values: string[]): string[] {
  return values.flatMap((v) => v.split(':')).filter(Boolean);
}

function parseGids(text: string): number[] {
  return text.split(',').filter(Boolean).map((g) => {
    if (!/^\d+$/.test(g)) throw new UserError(`--supplementary-groups: "${g}" must be a numeric group id`);
    return Number(g);
  });
}

/** "NAME,key=value,..." into the name and its settings. */
function nameAndSettings(entry: string, flag: string): [string, Map<string, string>] {
  const [name = '', ...rest] = entry.split(',');
  const settings = new Map<string, string>();
  for (const kv of rest) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UserError(`--${flag}: "${kv}" in "${entry}" must be key=value`);
    settings.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return [name, settings];
}

function parseMount(entry: string): MountPoint {
  const [name, s] = nameAndSettings(entry, 'mounts');
  const path = s.get('path');
  if (!path) throw new UserError(`--mounts: "${entry}" needs path=..., e.g. work,path=/var/work,readOnly=true`);
  return { name, path, readOnly: parseBool(s.get('readOnly') ?? 'false', 'mounts') };
}

function parsePort(entry: string): Port {
  const [name, s] = nameAndSettings(entry, 'ports');
  const port = Number(s.get('port'));
  if (!Number.isInteger(port)) throw new UserError(`--ports: "${entry}" needs port=NUMBER, e.g. http,protocol=tcp,port=8080`);
  return {
    name,
    protocol: (s.get('protocol') ?? 'tcp') as Port['protocol'],
    port,
    count: Number(s.get('count') ?? 1),
    socketActivated: parseBool(s.get('socketActivated') ?? 'false', 'ports'),
  };
}

/** Isolators come as "NAME,key=value,..." or as "NAME=JSON"; JSON may hold ":" so it is never split. */
function splitIsolators(value: string): string[] {
  return /^[^,=]+=[[{"tf\d-]/.test(value) ? [value] : entries([value]);
}

function parseIsolator(entry: string): Isolator {
  const json = /^([^,=]+)=(.*)$/s.exec(entry);
  if (json) {
    try {
      return { name: json[1] ?? '', value: JSON.parse(json[2] ?? '') };
    } catch {
      throw new UserError(`--isolators: the value of "${json[1]}" is not valid JSON`);
    }
  }
  const [name, s] = nameAndSettings(entry, 'isolators');
  return { name, value: Object.fromEntries(s) };
}

function parseBool(text: string, flag: string): boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new UserError(`--${flag}: "${text}" must be true or false`);
}
