import { shortId } from '../appc/image-id.ts';
import { UserError } from '../util/errors.ts';
import { listIds } from './index-db.ts';
import type { StorePaths } from './layout.ts';
import type { ImageRecord } from './types.ts';

// Image IDs as users type them: a unique prefix of at least "sha512-" and two hex digits.

const PREFIX_RE = /^sha512-[0-9a-f]{2,128}$/;

export async function resolveId(paths: StorePaths, idOrPrefix: string): Promise<string> {
  const prefix = idOrPrefix.toLowerCase();
  if (!PREFIX_RE.test(prefix)) {
    throw new UserError(`image ID "${idOrPrefix}" is too short or malformed: give "sha512-" and at least 2 hex digits`);
  }
  const matches = (await listIds(paths)).filter((id) => id.startsWith(prefix));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new UserError(`no image in the store has an ID starting with ${prefix}: see \`rkt image list\``);
  throw new UserError(`image ID ${prefix} is ambiguous, it matches ${distinct(matches).join(', ')}: give more digits`);
}

/** Prefixes that tell the candidates apart, each at least as long as `rkt image list` shows IDs. */
function distinct(ids: string[]): string[] {
  const sorted = [...ids].sort();
  return sorted.map((id, i) => {
    const shared = Math.max(commonLength(id, sorted[i - 1] ?? ''), commonLength(id, sorted[i + 1] ?? ''));
    return id.slice(0, Math.max(shared + 1, shortId(id).length));
  });
}

function commonLength(a: string, b: string): number {
  let n = 0;
  while (n < a.length && a[n] === b[n]) n++;
  return n;
}

/** Records of `name` carrying every given label, newest import first. */
export function matchByName(records: ImageRecord[], name: string, labels: Record<string, string> = {}): ImageRecord[] {
  const wanted = Object.entries(labels);
  return records
    .filter((r) => r.name === name && wanted.every(([k, v]) => r.labels.some((l) => l.name === k && l.value === v)))
    .sort((a, b) => (a.importedAt < b.importedAt ? 1 : a.importedAt > b.importedAt ? -1 : 0));
}
