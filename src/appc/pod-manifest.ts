import { isIPv4 } from 'node:net';
import { readAnnotations } from './annotations.ts';
import { assertAbsolute, readApp, writeApp, writeIsolators } from './app.ts';
import { assertImageIDString } from './hash.ts';
import { readIsolators } from './isolators.ts';
import { asObject, assertUnique, field, join, readBoolean, readList, readString, readStringMap, requireInteger, requireString, type JsonObject } from './json-read.ts';
import { dropEmpty, stringify } from './json-write.ts';
import { readLabels } from './labels.ts';
import { FieldError, quote, withManifestPrefix } from './manifest-error.ts';
import { parseManifestJson } from './manifest-json.ts';
import { assertACIdentifier, assertACName } from './names.ts';
import { readPort, writePort } from './ports.ts';
import { readACVersion } from './spec-version.ts';
import type { ExposedPort, Mount, PodManifest, RuntimeApp, RuntimeImage } from './types.ts';
import { readVolume, writeVolume } from './volumes.ts';

const PREFIX = 'pod manifest';

/** Parse and validate a pod manifest (a template, or the reified one stage1 reads). */
export function parsePodManifest(text: string | Uint8Array): PodManifest {
  return validatePodManifest(parseManifestJson(PREFIX, text));
}

/** Validate a parsed JSON value (or a built PodManifest) and return its normalized form. */
export function validatePodManifest(value: unknown): PodManifest {
  return withManifestPrefix(PREFIX, () => readPodManifest(asObject(value, '')));
}

/** The canonical JSON of a pod manifest; throws ManifestError if it is not valid. */
export function serializePodManifest(m: PodManifest, opts: { pretty?: boolean } = {}): string {
  const valid = validatePodManifest(m);
  return stringify(
    {
      acVersion: valid.acVersion,
      acKind: valid.acKind,
      // apps is the one list the reference always writes.
      apps: valid.apps.map(writeRuntimeApp),
      ...dropEmpty({
        volumes: valid.volumes.map(writeVolume),
        isolators: writeIsolators(valid.isolators),
        annotations: valid.annotations,
        ports: valid.ports.map((p) => dropEmpty({ name: p.name, hostPort: p.hostPort, hostIP: p.hostIP, podPort: p.podPort && writePort(p.podPort) })),
        userAnnotations: valid.userAnnotations,
        userLabels: valid.userLabels,
      }),
    },
    opts.pretty,
  );
}

function writeRuntimeApp(a: RuntimeApp): Record<string, unknown> {
  return dropEmpty({
    name: a.name,
    image: dropEmpty({ name: a.image.name, id: a.image.id, labels: a.image.labels }),
    app: a.app && writeApp(a.app),
    readOnlyRootFS: a.readOnlyRootFS || undefined,
    mounts: a.mounts.map((m) => dropEmpty({ volume: m.volume, path: m.path, appVolume: m.appVolume && writeVolume(m.appVolume) })),
    annotations: a.annotations,
  });
}

function readPodManifest(obj: JsonObject): PodManifest {
  const acKind = readString(obj, 'acKind', '');
  if (acKind !== 'PodManifest') throw new FieldError('acKind', `${quote(acKind ?? '')} must be "PodManifest"`);
  const apps = readList(obj, 'apps', '', readRuntimeApp);
  assertUnique(apps, (a) => a.name, 'apps', 'name');
  const volumes = readList(obj, 'volumes', '', readVolume);
  assertUnique(volumes, (v) => v.name, 'volumes', 'name');
  const ports = readList(obj, 'ports', '', readExposedPort);
  assertUnique(ports, (p) => p.name, 'ports', 'name');
  return {
    acVersion: readACVersion(obj),
    acKind,
    apps,
    volumes,
    isolators: readIsolators(obj, ''),
    annotations: readAnnotations(obj, ''),
    ports,
    userAnnotations: readStringMap(obj, 'userAnnotations', ''),
    userLabels: readStringMap(obj, 'userLabels', ''),
  };
}

function readRuntimeApp(item: unknown, path: string): RuntimeApp {
  const obj = asObject(item, path);
  const image = field(obj, 'image');
  if (image === undefined) throw new FieldError(join(path, 'image'), 'is required');
  const runtimeApp: RuntimeApp = {
    name: assertACName(requireString(obj, 'name', path), join(path, 'name')),
    image: readRuntimeImage(image, join(path, 'image')),
    readOnlyRootFS: readBoolean(obj, 'readOnlyRootFS', path) ?? false,
    mounts: readList(obj, 'mounts', path, readMount),
    annotations: readAnnotations(obj, path),
  };
  const app = field(obj, 'app');
  if (app !== undefined) runtimeApp.app = readApp(app, join(path, 'app'));
  return runtimeApp;
}

// The id may be missing in a template (examples/pod_template.json); a pod is only
// run once every image is resolved to one, which stage0 checks.
function readRuntimeImage(value: unknown, path: string): RuntimeImage {
  const obj = asObject(value, path);
  const image: RuntimeImage = { labels: readLabels(obj, path) };
  const name = readString(obj, 'name', path);
  if (name) image.name = assertACIdentifier(name, join(path, 'name'));
  const id = readString(obj, 'id', path);
  if (id) image.id = assertImageIDString(id, join(path, 'id'));
  if (!image.name && !image.id) throw new FieldError(path, 'needs a name or an id');
  return image;
}

function readMount(item: unknown, path: string): Mount {
  const obj = asObject(item, path);
  const mount: Mount = {
    volume: assertACName(requireString(obj, 'volume', path), join(path, 'volume')),
    path: assertAbsolute(requireString(obj, 'path', path), join(path, 'path')),
  };
  const appVolume = field(obj, 'appVolume');
  if (appVolume !== undefined) mount.appVolume = readVolume(appVolume, join(path, 'appVolume'));
  return mount;
}

function readExposedPort(item: unknown, path: string): ExposedPort {
  const obj = asObject(item, path);
  const port: ExposedPort = {
    name: assertACName(requireString(obj, 'name', path), join(path, 'name')),
    hostPort: requireInteger(obj, 'hostPort', path, 1, 65535),
  };
  const hostIP = readString(obj, 'hostIP', path);
  if (hostIP) {
    if (!isIPv4(hostIP)) throw new FieldError(join(path, 'hostIP'), `${quote(hostIP)} must be an IPv4 address like 203.0.113.23`);
    port.hostIP = hostIP;
  }
  const podPort = field(obj, 'podPort');
  if (podPort !== undefined) port.podPort = readPort(podPort, join(path, 'podPort'));
  return port;
}
