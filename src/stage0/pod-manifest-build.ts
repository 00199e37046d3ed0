import { FieldError } from '../appc/manifest-error.ts';
import { isACName } from '../appc/names.ts';
import { APPC_VERSION } from '../appc/spec-version.ts';
import type { App, ImageManifest, Label, Mount, PodManifest, RuntimeApp, Volume } from '../appc/types.ts';
import { readVolume } from '../appc/volumes.ts';
import { ExitCode, UserError } from '../util/errors.ts';
import type { AppArgs } from './app-args.ts';
import { applyAppArgs } from './app-runtime.ts';

// The reified pod manifest (spec/pods.md): every app with its image's ID, name and
// labels, its effective app (the image's, with the command line's overrides), its
// mounts, and the pod's volumes; from the command line or from a --pod-manifest file.
// Pure: the images are fetched and the file read by prepare.ts.

/** An image as prepare resolved it: fetched or found in the store. */
export interface ResolvedImage {
  id: string;
  name: string;
  labels: Label[];
  manifest: ImageManifest;
}

export interface BuiltPod {
  manifest: PodManifest;
  /** One-line notices for the user (implicit volumes), each starting "rkt: ". */
  warnings: string[];
}

/** A pod manifest from the command line: `apps[i]` runs `images[i]`. */
export function buildPodManifest(input: { images: readonly ResolvedImage[]; apps: readonly AppArgs[]; volumes: readonly string[] }): BuiltPod {
  const { images, apps } = input;
  if (apps.length === 0) throw new UserError('run: name at least one image', ExitCode.usage);
  if (images.length !== apps.length) throw new Error(`buildPodManifest: ${images.length} images for ${apps.length} apps`);
  const volumes = input.volumes.map(parseVolumeFlag);
  const seenVolumes = new Set<string>();
  for (const v of volumes) {
    if (seenVolumes.has(v.name)) throw new UserError(`--volume ${v.name} is given twice`, ExitCode.usage);
    seenVolumes.add(v.name);
  }
  const names = appNames(apps, images);
  const runtimeApps = apps.map((args, i): RuntimeApp => {
    const image = images[i]!;
    return {
      name: names[i]!,
      image: runtimeImage(image),
      app: applyAppArgs(names[i]!, image.name, image.manifest.app, args),
      readOnlyRootFS: args.readOnlyRootFS ?? false,
      mounts: args.mounts.map((m) => ({ volume: m.volume, path: m.target })),
      annotations: [],
    };
  });
  return completeMounts({
    acVersion: APPC_VERSION,
    acKind: 'PodManifest',
    apps: runtimeApps,
    volumes,
    isolators: [],
    annotations: [],
    ports: [],
    userAnnotations: {},
    userLabels: {},
  });
}

/**
 * A --pod-manifest file made whole: `images[i]` is the stored image of its app i
 * (prepare looked each up by ID, or by name and labels, in the store). Each app gets
 * its image's ID, name and labels, and the image's app where the file gave none.
 */
export function reifyPodManifest(template: PodManifest, images: readonly ResolvedImage[]): BuiltPod {
  if (template.apps.length === 0) throw new UserError('--pod-manifest: the pod manifest has no apps');
  if (images.length !== template.apps.length) throw new Error(`reifyPodManifest: ${images.length} images for ${template.apps.length} apps`);
  const apps = template.apps.map((ra, i): RuntimeApp => {
    const image = images[i]!;
    const app: App | undefined = ra.app ?? image.manifest.app;
    if (!app || app.exec.length === 0) throw new UserError(`--pod-manifest: app ${ra.name}: neither the pod manifest nor image ${image.name} gives an exec`);
    return { ...structuredClone(ra), image: runtimeImage(image), app: structuredClone(app) };
  });
  return completeMounts({ ...structuredClone(template), apps });
}

function runtimeImage(image: ResolvedImage): RuntimeApp['image'] {
  return { name: image.name, id: image.id, labels: image.labels.map((l) => ({ ...l })) };
}

/**
 * The app names: --name where given (explicit names must differ), else the last
 * component of the image name made an AC Name, with -2, -3... for repeats (running one
 * image twice needs no --name).
 */
export function appNames(apps: readonly AppArgs[], images: readonly { name: string }[]): string[] {
  const taken = new Set<string>();
  for (const a of apps) {
    if (a.name === undefined) continue;
    if (taken.has(a.name)) throw new UserError(`run: two apps are named ${a.name}; give each app its own --name`, ExitCode.usage);
    taken.add(a.name);
  }
  return apps.map((a, i) => {
    if (a.name !== undefined) return a.name;
    const base = appNameFromImage(images[i]!.name);
    let name = base;
    for (let n = 2; taken.has(name); n++) name = `${base}-${n}`;
    taken.add(name);
    return name;
  });
}

/** `example.com/hello` -> `hello`, made an AC Name: lowercase, anything else becomes "-". */
export function appNameFromImage(imageName: string): string {
  const last = imageName.split('/').filter(Boolean).pop() ?? '';
  const name = last
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
  return isACName(name) ? name : 'app';
}

/**
 * rkt's --volume: `NAME,kind=host,source=/path[,readOnly=BOOL][,recursive=BOOL]` or
 * `NAME,kind=empty[,mode=0755][,uid=N][,gid=N][,readOnly=BOOL]`, checked as a pod
 * manifest's volume is.
 */
export function parseVolumeFlag(text: string): Volume {
  const [name = '', ...pairs] = text.split(',');
  const bad = (why: string): UserError => new UserError(`--volume "${text}": ${why}`, ExitCode.usage);
  if (name === '' || name.includes('=')) throw bad('must start with the volume name, as NAME,kind=host,source=/path or NAME,kind=empty');
  const obj: Record<string, unknown> = { name };
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (eq < 0) throw bad(`"${pair}" is not KEY=VALUE`);
    if (key in obj) throw bad(`${key} is given twice`);
    switch (key) {
      case 'kind':
      case 'source':
      case 'mode':
        obj[key] = value;
        break;
      case 'readOnly':
      case 'recursive':
        if (value !== 'true' && value !== 'false') throw bad(`${key} must be true or false`);
        obj[key] = value === 'true';
        break;
      case 'uid':
      case 'gid':
        if (!/^\d+$/.test(value)) throw bad(`${key} must be a number`);
        obj[key] = Number(value);
        break;
      default:
        throw bad(`unknown key ${key} (kind, source, readOnly, recursive, mode, uid, gid)`);
    }
  }
  if (obj['kind'] === undefined) throw bad('needs kind=host or kind=empty');
  try {
    return readVolume(obj, '');
  } catch (err) {
    if (err instanceof FieldError) throw bad(err.message);
    throw err;
  }
}

/** A hostname for the pod's UTS namespace: RFC 1123 labels, at most 63 characters each and 253 in all. */
export function checkHostname(hostname: string): string {
  const label = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
  if (hostname.length > 253 || !hostname.split('.').every((l) => label.test(l))) {
    throw new UserError(`--hostname "${hostname}" must be a host name (letters, digits and - in dot-separated labels)`, ExitCode.usage);
  }
  return hostname;
}

/**
 * Checks every mount and binds each app's mount points, as CoreOS rkt's stage1 did:
 * a mount point with no mount for it gets the pod volume of its name, and without
 * one an implicit empty volume (with a notice), so the manifest states every mount.
 */
function completeMounts(manifest: PodManifest): BuiltPod {
  const warnings: string[] = [];
  const volumes = new Map(manifest.volumes.map((v) => [v.name, v]));
  for (const ra of manifest.apps) {
    for (const m of ra.mounts) {
      if (!m.appVolume && !volumes.has(m.volume)) {
        throw new UserError(`app ${ra.name}: mount ${m.path} names volume ${m.volume}, which the pod does not have; add --volume ${m.volume},kind=...`, ExitCode.usage);
      }
    }
    for (const mp of ra.app?.mountPoints ?? []) {
      // As stage0's mount plan reads it: a mount naming the mount point's volume, or at its path, fulfils it.
      if (ra.mounts.some((m) => m.volume === mp.name || samePath(m.path, mp.path))) continue;
      if (!volumes.has(mp.name)) {
        const implicit: Volume = { name: mp.name, kind: 'empty', mode: '0755', uid: 0, gid: 0 };
        volumes.set(mp.name, implicit);
        manifest.volumes.push(implicit);
        warnings.push(`rkt: app ${ra.name}: no volume for mount point ${mp.name} (${mp.path}); using an empty volume, deleted with the pod`);
      }
      ra.mounts.push({ volume: mp.name, path: mp.path });
    }
    checkOverlaps(ra.name, ra.mounts);
  }
  return { manifest, warnings };
}

function checkOverlaps(app: string, mounts: readonly Mount[]): void {
  const paths = mounts.map((m) => normalize(m.path));
  for (let i = 0; i < paths.length; i++) {
    for (let j = i + 1; j < paths.length; j++) {
      const [a, b] = [paths[i]!, paths[j]!];
      if (a === b) throw new UserError(`app ${app}: two mounts at ${a}`, ExitCode.usage);
      if (within(a, b) || within(b, a)) throw new UserError(`app ${app}: mounts at ${a} and ${b} overlap; use separate paths`, ExitCode.usage);
    }
  }
}

function normalize(p: string): string {
  const parts: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

function samePath(a: string, b: string): boolean {
  return normalize(a) === normalize(b);
}

function within(inner: string, outer: string): boolean {
  return outer === '/' || inner.startsWith(`${outer}/`);
}
