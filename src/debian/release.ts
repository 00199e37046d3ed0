import { UserError } from '../util/errors.ts';
import { parseDeb822 } from './deb822.ts';

// A suite's Release file (https://wiki.debian.org/DebianRepository/Format): what it
// lists, with the size and SHA-256 of each index. Older checksums (MD5Sum, SHA1) are
// ignored, as apt does since 2017.

export interface IndexFile {
  size: number;
  sha256: string;
}

export interface Release {
  /** Absent when the Release does not say (some small repositories). */
  architectures?: string[];
  components: string[];
  /**
   * `No-Support-for-Architecture-all: Packages`: each arch's index lists the arch:all
   * packages too, so binary-all/ is not needed.
   */
  allInArchIndexes: boolean;
  /** By path relative to the suite's directory: `main/binary-armhf/Packages.xz`. */
  files: Map<string, IndexFile>;
}

/**
 * Parses the (already verified) text of a Release; `url` names it in errors. A signed
 * Release past its Valid-Until is refused, as apt does: otherwise a mirror could keep
 * serving an old, correctly signed Release with known-vulnerable packages.
 */
export function parseRelease(text: string, url: string, now: Date = new Date()): Release {
  const fields = parseDeb822(text)[0];
  if (fields === undefined) throw new UserError(`cross: ${url}: the Release file is empty`);
  checkValidUntil(fields['valid-until'], url, now);
  const sha256 = fields['sha256'];
  if (sha256 === undefined) throw new UserError(`cross: ${url}: the Release file has no SHA256 checksums`);
  const files = new Map<string, IndexFile>();
  for (const line of sha256.split('\n')) {
    if (line.trim() === '') continue;
    const [hash, size, path, ...rest] = line.trim().split(/\s+/);
    if (!/^[0-9a-fA-F]{64}$/.test(hash ?? '') || !/^\d+$/.test(size ?? '') || path === undefined || rest.length > 0) {
      throw new UserError(`cross: ${url}: bad SHA256 line "${line.trim().slice(0, 100)}"`);
    }
    files.set(path, { size: Number(size), sha256: hash!.toLowerCase() });
  }
  const words = (value: string | undefined) => value?.split(/\s+/).filter((w) => w !== '');
  return {
    architectures: words(fields['architectures']),
    components: words(fields['components']) ?? [],
    allInArchIndexes: fields['no-support-for-architecture-all']?.trim() === 'Packages',
    files,
  };
}

function checkValidUntil(value: string | undefined, url: string, now: Date): void {
  if (value === undefined) return;
  const until = Date.parse(value);
  if (Number.isNaN(until)) throw new UserError(`cross: ${url}: bad Valid-Until "${value}"`);
  if (until < now.getTime()) {
    throw new UserError(`cross: ${url}: the Release expired on ${value} (Valid-Until): the mirror is stale or replays an old Release; use an up-to-date mirror`);
  }
}
