import { FieldError, quote } from './manifest-error.ts';

// The reference implementation decodes manifests with Go's encoding/json: keys match
// their field case-insensitively, the last matching key wins, null means "absent", and
// unknown keys are ignored. These readers do the same and name the field path on error.

export type JsonObject = { readonly [key: string]: unknown };

/** The value of `key` in `obj`, matched case-insensitively; undefined when absent or null. */
export function field(obj: JsonObject, key: string): unknown {
  const wanted = key.toLowerCase();
  let found: unknown;
  for (const k of Object.keys(obj)) {
    if (k.toLowerCase() === wanted) found = obj[k];
  }
  return found === null ? undefined : found;
}

export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

function expect(what: string, path: string, value: unknown): never {
  throw new FieldError(path, `must be ${what}, not ${kindOf(value)}`);
}

export function asObject(value: unknown, path: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) expect('an object', path, value);
  return value as JsonObject;
}

export function asString(value: unknown, path: string): string {
  if (typeof value !== 'string') expect('a string', path, value);
  return value;
}

export function asBoolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') expect('a boolean', path, value);
  return value;
}

/** An integer within [min, max]. */
export function asInteger(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number') expect('an integer', path, value);
  if (!Number.isInteger(value)) throw new FieldError(path, `${quote(value)} must be an integer`);
  if (value < min || value > max) throw new FieldError(path, `${value} must be between ${min} and ${max}`);
  return value;
}

/** A list read element by element; absent reads as empty. */
export function readList<T>(obj: JsonObject, key: string, path: string, read: (item: unknown, path: string) => T): T[] {
  const value = field(obj, key);
  const at = join(path, key);
  if (value === undefined) return [];
  if (!Array.isArray(value)) expect('an array', at, value);
  return value.map((item, i) => read(item, join(at, i)));
}

export function readString(obj: JsonObject, key: string, path: string): string | undefined {
  const value = field(obj, key);
  return value === undefined ? undefined : asString(value, join(path, key));
}

/** A string field that must be present and non-empty. */
export function requireString(obj: JsonObject, key: string, path: string): string {
  const value = readString(obj, key, path);
  if (value === undefined || value === '') throw new FieldError(join(path, key), 'is required');
  return value;
}

export function readBoolean(obj: JsonObject, key: string, path: string): boolean | undefined {
  const value = field(obj, key);
  return value === undefined ? undefined : asBoolean(value, join(path, key));
}

export function readInteger(obj: JsonObject, key: string, path: string, min: number, max: number): number | undefined {
  const value = field(obj, key);
  return value === undefined ? undefined : asInteger(value, join(path, key), min, max);
}

export function requireInteger(obj: JsonObject, key: string, path: string, min: number, max: number): number {
  const value = readInteger(obj, key, path, min, max);
  if (value === undefined) throw new FieldError(join(path, key), 'is required');
  return value;
}

/** A JSON object of string values (userAnnotations, userLabels): keys are free and exact. */
export function asStringMap(value: unknown, path: string): Record<string, string> {
  const entries = Object.entries(asObject(value, path));
  // fromEntries defines own properties, so a "__proto__" key stays a plain key.
  return Object.fromEntries(entries.map(([k, v]) => [k, asString(v, `${path}[${JSON.stringify(k)}]`)]));
}

export function readStringMap(obj: JsonObject, key: string, path: string): Record<string, string> {
  const value = field(obj, key);
  return value === undefined ? {} : asStringMap(value, join(path, key));
}

/** Reject a second item with the same key, naming the later one. */
export function assertUnique<T>(items: readonly T[], keyOf: (item: T) => string, path: string, key: string): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const k = keyOf(item);
    if (seen.has(k)) throw new FieldError(join(join(path, i), key), `${quote(k)} is a duplicate`);
    seen.add(k);
  });
}
