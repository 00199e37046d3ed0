import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { readApp } from '../../appc/app.ts';
import { assertImageIDString } from '../../appc/hash.ts';
import { asBoolean, asInteger, asObject, asString, asStringMap, join, type JsonObject } from '../../appc/json-read.ts';
import { FieldError, quote, withManifestPrefix } from '../../appc/manifest-error.ts';
import { assertACIdentifier } from '../../appc/names.ts';
import type { App } from '../../appc/types.ts';
import type { RepoSource } from '../../debian/types.ts';
import { ExitCode, UserError } from '../../util/errors.ts';

// The cross-build spec (docs/cross-build.md): JSON or YAML, read strictly. Unlike an
// image manifest, a spec is written by hand for this tool only, so an unknown key is a
// typo and an error, and keys match exactly.

export const CROSS_ARCHES = ['armv6l', 'armv7l', 'aarch64', 'amd64'] as const;
const RESERVED_LABELS = ['version', 'os', 'arch'];

export interface FileSpec {
  /** Where the file or directory comes from; may hold {arch} and {debarch}. */
  from: string;
  /** Absolute path in the image. */
  to: string;
  /** Permission bits that replace the source's. */
  mode?: number;
  /** Only these arches get the file; all when absent. */
  arches?: string[];
}

export interface DependencySpec {
  imageName: string;
  labels: Record<string, string>;
  imageID?: string;
  size?: number;
}

export interface CrossSpec {
  /** The directory relative paths in the spec start from: the spec file's own. */
  baseDir: string;
  name: string;
  version: string;
  arches: string[];
  app?: App;
  files: FileSpec[];
  packages: string[];
  repositories: RepoSource[];
  /** Map armv6l and armv7l to Raspbian's armhf instead of Debian's armel and armhf. */
  raspbian: boolean;
  /** Also install the repository's Essential packages. */
  essential: boolean;
  dependencies: DependencySpec[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const FIELDS = ['name', 'version', 'arches', 'app', 'files', 'packages', 'repositories', 'raspbian', 'essential', 'dependencies', 'labels', 'annotations'];

/** Reads and checks a spec file; every problem is one line naming the field. */
export function readSpecFile(file: string): CrossSpec {
  return parseSpec(readFileSync(file, 'utf8'), dirname(resolve(file)));
}

/** Parses a spec's text (JSON is YAML too); `baseDir` anchors its relative paths. */
export function parseSpec(text: string, baseDir: string): CrossSpec {
  let value: unknown;
  try {
    value = parse(text);
  } catch (err) {
    throw new UserError(`spec: not JSON or YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  return withManifestPrefix('spec', () => readSpec(asObject(value ?? {}, ''), baseDir));
}

function readSpec(obj: JsonObject, baseDir: string): CrossSpec {
  onlyKeys(obj, '', FIELDS);
  const labels = readMap(obj, 'labels', '', true);
  const spec: CrossSpec = {
    baseDir,
    name: assertACIdentifier(required(obj, 'name', asString), 'name'),
    version: checkVersion(required(obj, 'version', asVersion)),
    arches: readArches(obj),
    files: list(obj, 'files', '', readFile),
    packages: list(obj, 'packages', '', asPackageName),
    repositories: list(obj, 'repositories', '', (v, at) => readRepository(v, at, baseDir)),
    raspbian: optional(obj, 'raspbian', asBoolean) ?? false,
    essential: optional(obj, 'essential', asBoolean) ?? false,
    dependencies: list(obj, 'dependencies', '', readDependency),
    labels,
    annotations: readMap(obj, 'annotations', '', false),
  };
  checkNamePath(spec.name);
  if (obj['app'] !== undefined) spec.app = readApp(obj['app'], 'app');
  return spec;
}

function readArches(obj: JsonObject): string[] {
  const arches = required(obj, 'arches', (v, at) => {
    if (!Array.isArray(v) || v.length === 0) throw new FieldError(at, 'must list at least one arch');
    return v.map((a, i) => asArch(a, join(at, i)));
  });
  arches.forEach((a, i) => {
    if (arches.indexOf(a) !== i) throw new FieldError(join('arches', i), `${quote(a)} is a duplicate`);
  });
  return arches;
}

function asArch(value: unknown, at: string): string {
  const arch = asString(value, at);
  if (!(CROSS_ARCHES as readonly string[]).includes(arch)) {
    throw new FieldError(at, `${quote(arch)} is not a target arch (one of: ${CROSS_ARCHES.join(', ')})`);
  }
  return arch;
}

function readFile(value: unknown, at: string): FileSpec {
  const obj = asObject(value, at);
  onlyKeys(obj, at, ['from', 'to', 'mode', 'arches']);
  const from = required(obj, 'from', asString, at);
  for (const [, key] of from.matchAll(/\{([^{}]*)\}/g)) {
    if (key !== 'arch' && key !== 'debarch') {
      throw new FieldError(join(at, 'from'), `${quote(from)} has an unknown placeholder {${key}} (use {arch} or {debarch})`);
    }
  }
  const to = required(obj, 'to', asString, at);
  if (!to.startsWith('/') || to.split('/').some((part) => part === '.' || part === '..')) {
    throw new FieldError(join(at, 'to'), `${quote(to)} must be an absolute path without . or .. parts`);
  }
  const file: FileSpec = { from, to };
  const mode = optional(obj, 'mode', asMode, at);
  if (mode !== undefined) file.mode = mode;
  const arches = optional(obj, 'arches', (v, p) => (Array.isArray(v) ? v : [v]).map((a, i) => asArch(a, join(p, i))), at);
  if (arches) file.arches = arches;
  return file;
}

// YAML 1.2 reads 0755 as the decimal 755: a mode must be a quoted octal string.
function asMode(value: unknown, at: string): number {
  if (typeof value !== 'string' || !/^0?[0-7]{3,4}$/.test(value)) {
    throw new FieldError(at, `${quote(value)} must be an octal mode in quotes, such as "0755"`);
  }
  return parseInt(value, 8);
}

// YAML reads `version: 1.10` as the number 1.1: a version must be written as a string.
function asVersion(value: unknown, at: string): string {
  if (typeof value === 'number') throw new FieldError(at, `${quote(value)} must be a string: quote it ("${value}")`);
  return asString(value, at);
}

// The version names the image file (NAME-VERSION-OS-ARCH.aci), so it must be one path part.
function checkVersion(version: string): string {
  if (version.includes('/') || version === '.' || version === '..') {
    throw new FieldError('version', `${quote(version)} cannot hold "/" or be . or ..: it is part of a file name`);
  }
  return version;
}

// An AC Identifier may hold "a/../b", but the name is also a path under DIR.
function checkNamePath(name: string): void {
  if (name.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new FieldError('name', `${quote(name)} has an empty, . or .. part, which cannot name files in the output`);
  }
}

function asPackageName(value: unknown, at: string): string {
  const name = asString(value, at);
  if (!/^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[^\s=]+)?$/.test(name)) {
    throw new FieldError(at, `${quote(name)} is not a Debian package name (NAME, NAME:ARCH or NAME=VERSION)`);
  }
  return name;
}

function readRepository(value: unknown, at: string, baseDir: string): RepoSource {
  const obj = asObject(value, at);
  onlyKeys(obj, at, ['uri', 'suite', 'components', 'keyring']);
  const repo: RepoSource = { uri: resolveUri(required(obj, 'uri', asString, at), baseDir) };
  const suite = optional(obj, 'suite', asString, at);
  if (suite !== undefined) repo.suite = suite;
  const components = optional(obj, 'components', (v, p) => (Array.isArray(v) ? v : [v]).map((c, i) => asString(c, join(p, i))), at);
  if (components) repo.components = components;
  const keyring = optional(obj, 'keyring', asString, at);
  if (keyring !== undefined) repo.keyring = resolve(baseDir, keyring);
  if (repo.components && !repo.suite) throw new FieldError(join(at, 'components'), 'need a suite');
  return repo;
}

/** A URL stays as it is; a local path is taken from `baseDir`. */
function resolveUri(uri: string, baseDir: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(uri) ? uri : resolve(baseDir, uri);
}

function readDependency(value: unknown, at: string): DependencySpec {
  const obj = asObject(value, at);
  onlyKeys(obj, at, ['imageName', 'labels', 'imageID', 'size']);
  const dep: DependencySpec = {
    imageName: assertACIdentifier(required(obj, 'imageName', asString, at), join(at, 'imageName')),
    labels: readMap(obj, 'labels', at, false),
  };
  const id = optional(obj, 'imageID', asString, at);
  if (id !== undefined) dep.imageID = assertImageIDString(id, join(at, 'imageID'));
  const size = optional(obj, 'size', (v, p) => asInteger(v, p, 1, Number.MAX_SAFE_INTEGER), at);
  if (size !== undefined) dep.size = size;
  return dep;
}

/** A map of AC Identifier -> string (labels, annotations); `reserved` refuses version, os and arch. */
function readMap(obj: JsonObject, key: string, path: string, reserved: boolean): Record<string, string> {
  const at = join(path, key);
  const map = optional(obj, key, asStringMap, path) ?? {};
  for (const name of Object.keys(map)) {
    assertACIdentifier(name, `${at}.${name}`);
    if (name === 'name') throw new FieldError(`${at}.${name}`, 'is reserved: the image name goes in the name field');
    if (reserved && RESERVED_LABELS.includes(name)) {
      throw new FieldError(`${at}.${name}`, `is set by actool cross (version from the version field, os and arch per target)`);
    }
  }
  return map;
}

function onlyKeys(obj: JsonObject, path: string, known: string[]): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) throw new FieldError(join(path, key), `is not a field here (known: ${known.join(', ')})`);
  }
}

type Reader<T> = (value: unknown, at: string) => T;

function optional<T>(obj: JsonObject, key: string, read: Reader<T>, path = ''): T | undefined {
  const value = obj[key];
  return value === undefined || value === null ? undefined : read(value, join(path, key));
}

function required<T>(obj: JsonObject, key: string, read: Reader<T>, path = ''): T {
  const value = optional(obj, key, read, path);
  if (value === undefined || value === '') throw new FieldError(join(path, key), 'is required');
  return value;
}

function list<T>(obj: JsonObject, key: string, path: string, read: Reader<T>): T[] {
  return (
    optional(obj, key, (v, at) => {
      if (!Array.isArray(v)) throw new FieldError(at, 'must be a list');
      return v.map((item, i) => read(item, join(at, i)));
    }, path) ?? []
  );
}

/** A file's `from` for one arch: {arch} is the appc arch, {debarch} the Debian one. */
export function fillPlaceholders(from: string, vars: { arch: string; debarch: string }): string {
  return from.replaceAll('{arch}', vars.arch).replaceAll('{debarch}', vars.debarch);
}

/** --repository "URI [SUITE [COMPONENT...]]", as a sources.list line without "deb"; paths from the working directory. */
export function parseRepositoryFlag(text: string, keyring: string | undefined): RepoSource {
  const [uri, suite, ...components] = text.trim().split(/\s+/);
  if (!uri) throw new UserError('cross: --repository needs a URI or a directory, then optionally a suite and components', ExitCode.usage);
  const repo: RepoSource = { uri: resolveUri(uri, process.cwd()) };
  if (suite !== undefined) repo.suite = suite;
  if (components.length > 0) repo.components = components;
  if (keyring !== undefined) repo.keyring = resolve(keyring);
  return repo;
}
