import { readAnnotations } from './annotations.ts';
import { assertAbsolute, readApp, writeApp } from './app.ts';
import { assertImageIDString } from './hash.ts';
import { asObject, asString, field, join, readInteger, readList, readString, requireString, type JsonObject } from './json-read.ts';
import { dropEmpty, stringify } from './json-write.ts';
import { readLabels } from './labels.ts';
import { FieldError, quote, withManifestPrefix } from './manifest-error.ts';
import { parseManifestJson } from './manifest-json.ts';
import { assertACIdentifier } from './names.ts';
import { readACVersion } from './spec-version.ts';
import type { Dependency, ImageManifest } from './types.ts';

const PREFIX = 'manifest';

/** Parse and validate the `manifest` file of an ACI. Bad JSON is a ManifestError too. */
export function parseImageManifest(text: string | Uint8Array): ImageManifest {
  return validateImageManifest(parseManifestJson(PREFIX, text));
}

/** Validate a parsed JSON value (or a built ImageManifest) and return its normalized form. */
export function validateImageManifest(value: unknown): ImageManifest {
  return withManifestPrefix(PREFIX, () => readImageManifest(asObject(value, '')));
}

/** The canonical JSON of a manifest; throws ManifestError if it is not valid. */
export function serializeImageManifest(m: ImageManifest, opts: { pretty?: boolean } = {}): string {
  const valid = validateImageManifest(m);
  return stringify(
    dropEmpty({
      acKind: valid.acKind,
      acVersion: valid.acVersion,
      name: valid.name,
      labels: valid.labels,
      app: valid.app && writeApp(valid.app),
      annotations: valid.annotations,
      dependencies: valid.dependencies.map((d) => dropEmpty({ imageName: d.imageName, imageID: d.imageID, labels: d.labels, size: d.size })),
      pathWhitelist: valid.pathWhitelist,
    }),
    opts.pretty,
  );
}

function readImageManifest(obj: JsonObject): ImageManifest {
  const acKind = readString(obj, 'acKind', '');
  if (acKind !== 'ImageManifest') throw new FieldError('acKind', `${quote(acKind ?? '')} must be "ImageManifest"`);
  const manifest: ImageManifest = {
    acKind,
    acVersion: readACVersion(obj),
    name: assertACIdentifier(requireString(obj, 'name', ''), 'name'),
    labels: readLabels(obj, ''),
    annotations: readAnnotations(obj, ''),
    dependencies: readList(obj, 'dependencies', '', readDependency),
    pathWhitelist: readPathWhitelist(obj),
  };
  const app = field(obj, 'app');
  if (app !== undefined) manifest.app = readApp(app, 'app');
  return manifest;
}

function readDependency(item: unknown, path: string): Dependency {
  const obj = asObject(item, path);
  const dep: Dependency = {
    imageName: assertACIdentifier(requireString(obj, 'imageName', path), join(path, 'imageName')),
    labels: readLabels(obj, path),
  };
  const imageID = readString(obj, 'imageID', path);
  if (imageID) dep.imageID = assertImageIDString(imageID, join(path, 'imageID'));
  // The reference writes an unknown size as 0 and leaves it out: 0 means "not given".
  const size = readInteger(obj, 'size', path, 0, Number.MAX_SAFE_INTEGER);
  if (size) dep.size = size;
  return dep;
}

function readPathWhitelist(obj: JsonObject): string[] {
  const paths = readList(obj, 'pathWhitelist', '', (v, at) => assertAbsolute(asString(v, at), at));
  paths.forEach((p, i) => {
    if (paths.indexOf(p) !== i) throw new FieldError(`pathWhitelist[${i}]`, `${quote(p)} is a duplicate`);
  });
  return paths;
}
