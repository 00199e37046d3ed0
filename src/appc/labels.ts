import { asObject, assertUnique, field, join, readList, requireString, asString, type JsonObject } from './json-read.ts';
import { FieldError, quote } from './manifest-error.ts';
import { assertACIdentifier } from './names.ts';
import { VALID_OS_ARCH, isKnownOs } from './platform.ts';
import type { Label } from './types.ts';

export function getLabel(labels: readonly Label[], name: string): string | undefined {
  return labels.find((l) => l.name === name)?.value;
}

/** A name/value pair whose name is an AC Identifier (labels, annotations). */
export function readNameValue(item: unknown, path: string): Label {
  const obj = asObject(item, path);
  const name = assertACIdentifier(requireString(obj, 'name', path), join(path, 'name'));
  const raw = field(obj, 'value');
  const value = raw === undefined ? '' : asString(raw, join(path, 'value'));
  return { name, value };
}

/** Labels of an image, a dependency or a pod's image reference (spec/aci.md). */
export function readLabels(obj: JsonObject, path: string): Label[] {
  const labels = readList(obj, 'labels', path, readNameValue);
  const at = join(path, 'labels');
  labels.forEach((l, i) => {
    if (l.name === 'name') {
      throw new FieldError(join(join(at, i), 'name'), '"name" is reserved: the image name goes in the name field');
    }
  });
  assertUnique(labels, (l) => l.name, at, 'name');
  assertOsArch(labels, at);
  return labels;
}

// As in the reference, arch is only checked against a known os: alone it means nothing.
function assertOsArch(labels: readonly Label[], path: string): void {
  const osAt = labels.findIndex((l) => l.name === 'os');
  if (osAt < 0) return;
  const os = labels[osAt]!.value;
  if (!isKnownOs(os)) {
    const oses = Object.keys(VALID_OS_ARCH).sort().join(', ');
    throw new FieldError(join(join(path, osAt), 'value'), `os ${quote(os)} is not supported (one of: ${oses})`);
  }
  const archAt = labels.findIndex((l) => l.name === 'arch');
  if (archAt < 0) return;
  const arch = labels[archAt]!.value;
  const arches = VALID_OS_ARCH[os] ?? [];
  if (!arches.includes(arch)) {
    throw new FieldError(join(join(path, archAt), 'value'), `arch ${quote(arch)} is not valid for ${os} (one of: ${arches.join(', ')})`);
  }
}
