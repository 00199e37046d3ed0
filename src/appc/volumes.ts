import { assertAbsolute } from './app.ts';
import { asObject, field, join, readBoolean, readInteger, readString, requireString, type JsonObject } from './json-read.ts';
import { dropEmpty } from './json-write.ts';
import { FieldError, quote } from './manifest-error.ts';
import { assertACName } from './names.ts';
import type { Volume } from './types.ts';

const MAX_ID = 2 ** 32 - 1;

/** A pod volume, or a mount's appVolume (spec/pods.md). */
export function readVolume(item: unknown, path: string): Volume {
  const obj = asObject(item, path);
  const name = assertACName(requireString(obj, 'name', path), join(path, 'name'));
  const kind = requireString(obj, 'kind', path);
  const volume: Volume = kind === 'host' ? readHost(obj, path, name) : kind === 'empty' ? readEmpty(obj, path, name) : badKind(kind, path);
  const readOnly = readBoolean(obj, 'readOnly', path);
  if (readOnly !== undefined) volume.readOnly = readOnly;
  const recursive = readBoolean(obj, 'recursive', path);
  if (recursive !== undefined) volume.recursive = recursive;
  return volume;
}

export function writeVolume(v: Volume): Record<string, unknown> {
  return dropEmpty({ name: v.name, kind: v.kind, source: v.source, readOnly: v.readOnly, recursive: v.recursive, mode: v.mode, uid: v.uid, gid: v.gid });
}

function badKind(kind: string, path: string): never {
  throw new FieldError(join(path, 'kind'), `${quote(kind)} must be host or empty`);
}

function readHost(obj: JsonObject, path: string, name: string): Volume {
  for (const key of ['mode', 'uid', 'gid']) {
    if (field(obj, key) !== undefined) throw new FieldError(join(path, key), 'is only for empty volumes');
  }
  const source = requireString(obj, 'source', path);
  return { name, kind: 'host', source: assertAbsolute(source, join(path, 'source')) };
}

// The reference fills in the defaults spec/pods.md gives, so readers need not.
function readEmpty(obj: JsonObject, path: string, name: string): Volume {
  if (readString(obj, 'source', path)) throw new FieldError(join(path, 'source'), 'must not be set for an empty volume');
  const mode = readString(obj, 'mode', path) || '0755';
  if (!/^[0-7]{1,4}$/.test(mode)) throw new FieldError(join(path, 'mode'), `${quote(mode)} must be an octal file mode like 0755`);
  const uid = readInteger(obj, 'uid', path, 0, MAX_ID) ?? 0;
  const gid = readInteger(obj, 'gid', path, 0, MAX_ID) ?? 0;
  return { name, kind: 'empty', mode, uid, gid };
}
