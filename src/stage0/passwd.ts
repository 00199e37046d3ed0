import { UserError } from '../util/errors.ts';

// An app's user and group, resolved as spec/aci.md says: a value starting with "/" is
// a file in the image whose owner (group) is used; anything else is looked up in the
// image's own /etc/passwd (/etc/group) first, and only if no entry has that name is an
// all-digit value taken as the number itself (POSIX allows all-digit user names).
// Pure: the caller reads the files and stats the path (see app-runtime.ts).

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 2 ** 32 - 1;

/** /etc/passwd lines `name:password:uid:gid:gecos:home:shell`; comments, NIS (+/-) and malformed lines are skipped, as glibc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const fields of records(text)) {
    if (fields.length < 7) continue;
    const uid = parseId(fields[2]!);
    const gid = parseId(fields[3]!);
    if (uid === undefined || gid === undefined) continue;
    entries.push({ name: fields[0]!, uid, gid, home: fields[5]!, shell: fields[6]! });
  }
  return entries;
}

/** /etc/group lines `name:password:gid:member,member`. */
export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const fields of records(text)) {
    if (fields.length < 4) continue;
    const gid = parseId(fields[2]!);
    if (gid === undefined) continue;
    entries.push({ name: fields[0]!, gid, members: fields[3]!.split(',').filter(Boolean) });
  }
  return entries;
}

function* records(text: string): Generator<string[]> {
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const fields = line.split(':');
    if (fields[0] === '') continue;
    yield fields;
  }
}

function parseId(s: string): number | undefined {
  if (!/^\d{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

/** What resolution needs from the image: the files' text (undefined: the image has none) and a path's owner. */
export interface IdSources {
  /** The app's name, for messages. */
  app: string;
  /** /etc/passwd of the image, undefined when it has none. */
  passwd: string | undefined;
  /** /etc/group of the image, undefined when it has none. */
  group: string | undefined;
  /** The owner of an absolute path in the image; throws a UserError naming the problem. */
  ownerOf: (path: string) => { uid: number; gid: number };
}

/** The UID of an app's `user`. */
export function resolveUser(user: string, src: IdSources): number {
  return resolveId('user', user, src);
}

/** The GID of an app's `group`. */
export function resolveGroup(group: string, src: IdSources): number {
  return resolveId('group', group, src);
}

function resolveId(kind: 'user' | 'group', value: string, src: IdSources): number {
  const file = kind === 'user' ? '/etc/passwd' : '/etc/group';
  if (value === '') throw new UserError(`app ${src.app}: ${kind} must not be empty`);
  if (value.startsWith('/')) {
    const owner = src.ownerOf(value);
    return kind === 'user' ? owner.uid : owner.gid;
  }
  const text = kind === 'user' ? src.passwd : src.group;
  if (text !== undefined) {
    const found = kind === 'user' ? parsePasswd(text).find((e) => e.name === value)?.uid : parseGroup(text).find((e) => e.name === value)?.gid;
    if (found !== undefined) return found;
  }
  const n = parseId(value);
  if (n !== undefined) return n;
  if (/^\d+$/.test(value)) throw new UserError(`app ${src.app}: ${kind} ${value} is out of range (at most ${MAX_ID})`);
  if (text === undefined) throw new UserError(`app ${src.app}: ${kind} "${value}" needs the image's ${file}, and the image has none`);
  throw new UserError(`app ${src.app}: ${kind} "${value}" is not in the image's ${file}`);
}
