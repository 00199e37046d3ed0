import { assertUnique, join, readList, type JsonObject } from './json-read.ts';
import { readNameValue } from './labels.ts';
import { FieldError, quote } from './manifest-error.ts';
import type { Annotation } from './types.ts';

export function getAnnotation(annotations: readonly Annotation[], name: string): string | undefined {
  return annotations.find((a) => a.name === name)?.value;
}

/** Annotations with unique names; the well-known ones must hold what spec/aci.md says. */
export function readAnnotations(obj: JsonObject, path: string): Annotation[] {
  const annotations = readList(obj, 'annotations', path, readNameValue);
  const at = join(path, 'annotations');
  assertUnique(annotations, (a) => a.name, at, 'name');
  annotations.forEach((a, i) => {
    const where = join(join(at, i), 'value');
    const must = annotationValueRule(a.name, a.value);
    if (must) throw new FieldError(where, `${quote(a.value)} must be ${must} (${a.name})`);
  });
  return annotations;
}

/**
 * What spec/aci.md requires of a well-known annotation's value that this one lacks
 * ("an RFC3339 timestamp"), or undefined when it is fine (or the name is not one of them).
 */
export function annotationValueRule(name: string, value: string): string | undefined {
  if (name === 'created' && !isRFC3339(value)) return 'an RFC3339 timestamp';
  if ((name === 'homepage' || name === 'documentation') && !isHttpUrl(value)) return 'an absolute http or https URL';
  return undefined;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))$/;

export function isRFC3339(s: string): boolean {
  const m = RFC3339.exec(s);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  // setUTCFullYear rolls over out-of-range parts, so only a real date comes back unchanged.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  const realDay = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
  const zoneOk = m[8] === 'Z' || (Number(m[9]) < 24 && Number(m[10]) < 60);
  return realDay && hour < 24 && minute < 60 && second < 60 && zoneOk;
}

function isHttpUrl(s: string): boolean {
  try {
    const url = new URL(s);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
