import { asInteger, asObject, asString, assertUnique, field, join, readBoolean, readList, readString, readStringMap, requireString, type JsonObject } from './json-read.ts';
import { dropEmpty } from './json-write.ts';
import { readIsolators } from './isolators.ts';
import { FieldError, quote } from './manifest-error.ts';
import { assertACName } from './names.ts';
import { readPort, writePort } from './ports.ts';
import type { App, EnvironmentVariable, EventHandler, Isolator, MountPoint, Port } from './types.ts';

// The `app` object of an image manifest, also a pod app's override (spec/aci.md).

export function readApp(value: unknown, path: string): App {
  const obj = asObject(value, path);
  const app: App = {
    exec: readExec(obj, path),
    eventHandlers: readEventHandlers(obj, path),
    user: requireString(obj, 'user', path),
    group: requireString(obj, 'group', path),
    supplementaryGIDs: readList(obj, 'supplementaryGIDs', path, (v, at) => asInteger(v, at, 0, 2 ** 32 - 1)),
    environment: readEnvironment(obj, path),
    mountPoints: readMountPoints(obj, path),
    ports: readPorts(obj, path),
    isolators: readIsolators(obj, path),
    userAnnotations: readStringMap(obj, 'userAnnotations', path),
    userLabels: readStringMap(obj, 'userLabels', path),
  };
  const workingDirectory = readString(obj, 'workingDirectory', path);
  if (workingDirectory) app.workingDirectory = assertAbsolute(workingDirectory, join(path, 'workingDirectory'));
  return app;
}

export function writeApp(app: App): Record<string, unknown> {
  return dropEmpty({
    exec: app.exec,
    eventHandlers: app.eventHandlers.map((h) => ({ name: h.name, exec: h.exec })),
    user: app.user,
    group: app.group,
    supplementaryGIDs: app.supplementaryGIDs,
    workingDirectory: app.workingDirectory,
    environment: app.environment.map((e) => ({ name: e.name, value: e.value })),
    mountPoints: app.mountPoints.map((m) => dropEmpty({ name: m.name, path: m.path, readOnly: m.readOnly || undefined })),
    ports: app.ports.map(writePort),
    isolators: writeIsolators(app.isolators),
    userAnnotations: app.userAnnotations,
    userLabels: app.userLabels,
  });
}

export function writeIsolators(isolators: readonly Isolator[]): Record<string, unknown>[] {
  return isolators.map((i) => ({ name: i.name, value: i.value }));
}

export function assertAbsolute(p: string, path: string): string {
  if (!p.startsWith('/')) throw new FieldError(path, `${quote(p)} must be an absolute path`);
  return p;
}

// exec may be absent (the pod or the command line gives it); a relative exec[0] is
// looked up in PATH by the ACE, as spec/aci.md says.
function readExec(obj: JsonObject, path: string): string[] {
  const exec = readList(obj, 'exec', path, asString);
  if (exec[0] === '') throw new FieldError(join(join(path, 'exec'), 0), 'must not be empty');
  return exec;
}

function readEventHandlers(obj: JsonObject, path: string): EventHandler[] {
  const handlers = readList(obj, 'eventHandlers', path, (item, at): EventHandler => {
    const h = asObject(item, at);
    const name = requireString(h, 'name', at);
    if (name !== 'pre-start' && name !== 'post-stop') throw new FieldError(join(at, 'name'), `${quote(name)} must be pre-start or post-stop`);
    const exec = readExec(h, at);
    if (exec.length === 0) throw new FieldError(join(at, 'exec'), 'must not be empty');
    return { name, exec };
  });
  assertUnique(handlers, (h) => h.name, join(path, 'eventHandlers'), 'name');
  return handlers;
}

// POSIX names plus "." and "-", which spec/aci.md allows for practical reasons.
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function readEnvironment(obj: JsonObject, path: string): EnvironmentVariable[] {
  const env = readList(obj, 'environment', path, (item, at): EnvironmentVariable => {
    const e = asObject(item, at);
    const name = requireString(e, 'name', at);
    if (!ENV_NAME.test(name)) throw new FieldError(join(at, 'name'), `${quote(name)} must be letters, digits, "_", "." or "-", not starting with a digit`);
    const value = field(e, 'value');
    return { name, value: value === undefined ? '' : asString(value, join(at, 'value')) };
  });
  assertUnique(env, (e) => e.name, join(path, 'environment'), 'name');
  return env;
}

function readMountPoints(obj: JsonObject, path: string): MountPoint[] {
  const mountPoints = readList(obj, 'mountPoints', path, (item, at): MountPoint => {
    const m = asObject(item, at);
    return {
      name: assertACName(requireString(m, 'name', at), join(at, 'name')),
      path: assertAbsolute(requireString(m, 'path', at), join(at, 'path')),
      readOnly: readBoolean(m, 'readOnly', at) ?? false,
    };
  });
  assertUnique(mountPoints, (m) => m.name, join(path, 'mountPoints'), 'name');
  return mountPoints;
}

function readPorts(obj: JsonObject, path: string): Port[] {
  const ports = readList(obj, 'ports', path, readPort);
  assertUnique(ports, (p) => p.name, join(path, 'ports'), 'name');
  return ports;
}

/** An app with nothing set but user and group 0, as rkt gives an image that had none. */
export function emptyApp(): App {
  return {
    exec: [],
    eventHandlers: [],
    user: '0',
    group: '0',
    supplementaryGIDs: [],
    environment: [],
    mountPoints: [],
    ports: [],
    isolators: [],
    userAnnotations: {},
    userLabels: {},
  };
}
