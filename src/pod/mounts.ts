import { readFile, realpath } from 'node:fs/promises';
import { sep } from 'node:path';

// Before a pod directory is removed recursively: is anything mounted inside it, here?
// A pod's mounts live in its own mount namespace and die with it, so from the host
// a pod directory is plain files. But a process that mounted a pod and failed before
// handing it to stage1 is still in that namespace; a recursive rm from there would walk
// into the pod's volumes, bind mounts of host directories, and empty them.

/** Mount points at or below `path` in this process's mount namespace (none where /proc is missing). */
export async function mountsUnder(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const root = await realpath(path).catch(() => path);
  const found: string[] = [];
  for (const line of text.split('\n')) {
    // id parent major:minor root mount-point options ...
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    const point = unescapeMountinfo(field);
    if (point === root || point.startsWith(root + sep)) found.push(point);
  }
  return found;
}

/** mountinfo writes space, tab, newline and backslash as \040, \011, \012, \134. */
export function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}
