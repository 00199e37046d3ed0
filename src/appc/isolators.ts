import { asBoolean, asInteger, asObject, asString, asStringMap, field, join, readList, readString, requireString, type JsonObject } from './json-read.ts';
import { FieldError, quote } from './manifest-error.ts';
import { assertACIdentifier } from './names.ts';
import { parseQuantity } from './quantity.ts';
import type { Isolator } from './types.ts';

// The isolators of spec/ace.md, with the value schemas of the reference implementation.
// Known values are read into a canonical shape (so stage0 can rely on `value.limit`);
// unknown isolators are kept as they came, since an executor may ignore them.

/** resource/*: quantities kept as written, read with parseQuantity. */
export interface ResourceValue {
  default?: true;
  request?: string;
  limit?: string;
}
export interface CapabilitiesSetValue {
  set: string[];
}
export interface SeccompSetValue {
  set: string[];
  errno?: string;
}
export interface SELinuxContextValue {
  user: string;
  role: string;
  type: string;
  level: string;
}
export interface AppArmorProfileValue {
  profile: string;
}

interface KnownIsolator {
  /** Whether one list may hold several (the reference allows it for caps and no-new-privileges). */
  readonly multiple: boolean;
  readonly conflicts?: string;
  readonly read: (value: unknown, path: string) => unknown;
}

const KNOWN: Readonly<Record<string, KnownIsolator>> = {
  'resource/cpu': { multiple: false, read: (v, p) => readResource(v, p, false) },
  'resource/memory': { multiple: false, read: (v, p) => readResource(v, p, false) },
  'resource/block-bandwidth': { multiple: false, read: (v, p) => readResource(v, p, true) },
  'resource/block-iops': { multiple: false, read: (v, p) => readResource(v, p, true) },
  'resource/network-bandwidth': { multiple: false, read: (v, p) => readResource(v, p, true) },
  'os/linux/capabilities-retain-set': { multiple: true, conflicts: 'os/linux/capabilities-remove-set', read: readCapabilities },
  'os/linux/capabilities-remove-set': { multiple: true, conflicts: 'os/linux/capabilities-retain-set', read: readCapabilities },
  'os/linux/no-new-privileges': { multiple: true, read: asBoolean },
  'os/linux/seccomp-retain-set': { multiple: false, conflicts: 'os/linux/seccomp-remove-set', read: readSeccomp },
  'os/linux/seccomp-remove-set': { multiple: false, conflicts: 'os/linux/seccomp-retain-set', read: readSeccomp },
  'os/linux/oom-score-adj': { multiple: false, read: (v, p) => asInteger(v, p, -1000, 1000) },
  'os/linux/cpu-shares': { multiple: false, read: (v, p) => asInteger(v, p, 2, 262144) },
  'os/linux/selinux-context': { multiple: false, read: readSELinux },
  'os/linux/apparmor-profile': { multiple: false, read: readAppArmor },
  'os/unix/sysctl': { multiple: false, read: asStringMap },
};

export function isKnownIsolator(name: string): boolean {
  return Object.hasOwn(KNOWN, name);
}

/** The `isolators` list of an app or a pod. */
export function readIsolators(obj: JsonObject, path: string): Isolator[] {
  const isolators = readList(obj, 'isolators', path, readIsolator);
  assertCombination(isolators, join(path, 'isolators'));
  return isolators;
}

function readIsolator(item: unknown, path: string): Isolator {
  const obj = asObject(item, path);
  const name = assertACIdentifier(requireString(obj, 'name', path), join(path, 'name'));
  const raw = field(obj, 'value');
  const known = Object.hasOwn(KNOWN, name) ? KNOWN[name] : undefined;
  if (!known) return { name, value: raw ?? null };
  if (raw === undefined) throw new FieldError(join(path, 'value'), `is required for ${name}`);
  return { name, value: known.read(raw, join(path, 'value')) };
}

function assertCombination(isolators: readonly Isolator[], path: string): void {
  const seen = new Set<string>();
  isolators.forEach(({ name }, i) => {
    const known = Object.hasOwn(KNOWN, name) ? KNOWN[name] : undefined;
    const at = join(join(path, i), 'name');
    if (known && !known.multiple && seen.has(name)) throw new FieldError(at, `${quote(name)} may appear only once`);
    if (known?.conflicts && seen.has(known.conflicts)) throw new FieldError(at, `${quote(name)} cannot be used with ${known.conflicts}`);
    seen.add(name);
  });
}

function readResource(value: unknown, path: string, perDevice: boolean): ResourceValue {
  const obj = asObject(value, path);
  const isDefault = field(obj, 'default');
  const at = join(path, 'default');
  const out: ResourceValue = {};
  if (perDevice) {
    // block-bandwidth, block-iops and network-bandwidth only exist as a default for all devices.
    if (isDefault === undefined || !asBoolean(isDefault, at)) throw new FieldError(at, 'must be true');
    if (field(obj, 'request') !== undefined) throw new FieldError(join(path, 'request'), 'is not supported by this resource');
    out.default = true;
  } else if (isDefault !== undefined && asBoolean(isDefault, at)) {
    throw new FieldError(at, 'must be false');
  }
  for (const key of ['request', 'limit'] as const) {
    const q = readQuantity(obj, key, path);
    if (q !== undefined) out[key] = q;
  }
  return out;
}

// Go's resource.Quantity reads a JSON number as well as a string.
function readQuantity(obj: JsonObject, key: string, path: string): string | undefined {
  const raw = field(obj, key);
  const at = join(path, key);
  if (raw === undefined) return undefined;
  const text = typeof raw === 'number' ? String(raw) : asString(raw, at);
  let amount: number;
  try {
    amount = parseQuantity(text);
  } catch {
    throw new FieldError(at, `${quote(text)} is not a quantity (like 500m, 1G or 128Mi)`);
  }
  if (amount < 0) throw new FieldError(at, `${quote(text)} must not be negative`);
  return text;
}

function readSet(obj: JsonObject, path: string, check: (entry: string, path: string) => void): string[] {
  const set = readList(obj, 'set', path, asString);
  if (set.length === 0) throw new FieldError(join(path, 'set'), 'must not be empty');
  set.forEach((entry, i) => check(entry, join(join(path, 'set'), i)));
  return set;
}

function readCapabilities(value: unknown, path: string): CapabilitiesSetValue {
  const set = readSet(asObject(value, path), path, (cap, at) => {
    if (!/^CAP_[A-Z0-9_]+$/.test(cap)) throw new FieldError(at, `${quote(cap)} must be a capability name like CAP_NET_ADMIN`);
  });
  return { set };
}

function readSeccomp(value: unknown, path: string): SeccompSetValue {
  const obj = asObject(value, path);
  const set = readSet(obj, path, (syscall, at) => {
    if (syscall === '') throw new FieldError(at, 'must not be empty');
  });
  // An empty errno means "kill with SIGSYS", the same as no errno.
  const errno = readString(obj, 'errno', path);
  if (!errno) return { set };
  if (!/^[A-Z][A-Z0-9]*$/.test(errno)) throw new FieldError(join(path, 'errno'), `${quote(errno)} must be an upper-case errno name like EPERM`);
  return { set, errno };
}

function readSELinux(value: unknown, path: string): SELinuxContextValue {
  const obj = asObject(value, path);
  const part = (key: string, colonAllowed: boolean): string => {
    const s = requireString(obj, key, path);
    if (!colonAllowed && s.includes(':')) throw new FieldError(join(path, key), `${quote(s)} must not contain ":"`);
    return s;
  };
  return { user: part('user', false), role: part('role', false), type: part('type', false), level: part('level', true) };
}

function readAppArmor(value: unknown, path: string): AppArmorProfileValue {
  return { profile: requireString(asObject(value, path), 'profile', path) };
}
