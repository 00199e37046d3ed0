// String checks on archive member names, before anything touches a disk: an
// entry must not climb out of the image with "..", nor start at "/".

/** What makes a tar member name unsafe, or undefined when it is safe. */
export function unsafePathReason(name: string): string | undefined {
  if (name.startsWith('/')) return 'is an absolute path';
  if (name.includes('\0')) return 'contains a NUL byte';
  if (name.split('/').includes('..')) return 'escapes the image root';
  return undefined;
}

/**
 * The normalized form of a safe tar member name: no "./" or empty components,
 * no trailing "/". The archive root itself ("." or "./") normalizes to "".
 */
export function normalizeEntryPath(name: string): string {
  return name
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/');
}

/** Whether `path` (normalized) is `dir` or lies beneath it. */
export function isWithin(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

/** The ancestors of a normalized path, farthest first: "a/b/c" gives "a", "a/b". */
export function ancestorsOf(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) out.push(path.slice(0, i));
  return out;
}
