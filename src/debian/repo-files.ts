import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { download, HttpStatusError, type DownloadOptions } from '../fetch/download.ts';
import { syncDirectory, temporaryNameFor } from '../util/atomic-file.ts';
import { UserError } from '../util/errors.ts';

// A repository's files, wherever they are: read in place from a local directory (a
// path or file:// URI), or downloaded over http(s). Either way a file with a known
// size and SHA-256 is handed out only once it matches them.

export interface Expected {
  size: number;
  /** Lowercase hex; undefined only when the caller allowed an unverified file. */
  sha256?: string;
}

export interface Check {
  /** Starts the messages: `armhf`. */
  label: string;
  /** What gave the checksum: `Release`, `Packages`. */
  authority: string;
}

// Release files run to a few hundred kB (Debian's is ~150 kB).
const SMALL_LIMIT = 16 * 1024 * 1024;

export class RepoFiles {
  /** The directory, when the repository is local. */
  readonly local: string | undefined;
  readonly #base: string;

  constructor(
    uri: string,
    readonly http: DownloadOptions = {},
  ) {
    if (/^https?:\/\//.test(uri)) {
      this.local = undefined;
      this.#base = uri.endsWith('/') ? uri : `${uri}/`;
    } else {
      this.local = uri.startsWith('file:') ? fileURLToPath(uri) : resolve(uri);
      this.#base = uri.startsWith('file:') ? (uri.endsWith('/') ? uri : `${uri}/`) : this.local;
    }
  }

  /** How messages name the file at `rel`: its URL, or its local path. */
  where(rel: string): string {
    return this.local === undefined || this.#base.startsWith('file:') ? new URL(rel, this.#base).href : join(this.local, rel);
  }

  /** A small file's bytes (Release, its signature), or undefined when the repository has none. `work` holds downloads. */
  async small(rel: string, work: string): Promise<Buffer | undefined> {
    if (this.local !== undefined) {
      return readFile(join(this.local, rel)).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
    }
    const dest = temporaryNameFor(join(work, 'small'));
    try {
      await download(this.where(rel), dest, { ...this.http, maxBytes: SMALL_LIMIT });
      return await readFile(dest);
    } catch (err) {
      if (err instanceof HttpStatusError && (err.status === 404 || err.status === 410)) return undefined;
      throw err;
    } finally {
      await rm(dest, { force: true });
    }
  }

  /**
   * The local path of the file at `rel`, once it matches `expect`. A local file is
   * checked in place; a remote one is downloaded into `store`, named by its SHA-256,
   * and kept there: a later call finds it without downloading.
   */
  async verified(rel: string, expect: Expected, check: Check, store: string): Promise<string> {
    if (this.local !== undefined) {
      const path = join(this.local, rel);
      await verifyFile(path, this.where(rel), expect, check);
      return path;
    }
    await mkdir(store, { recursive: true });
    if (expect.sha256 !== undefined) {
      const cached = join(store, expect.sha256);
      // Only files that matched are renamed into the store, so the name vouches for the content.
      if ((await stat(cached).catch(() => undefined))?.size === expect.size) return cached;
    }
    const tmp = temporaryNameFor(join(store, 'download'));
    try {
      await download(this.where(rel), tmp, { ...this.http, maxBytes: expect.size });
      const sha256 = await verifyFile(tmp, this.where(rel), expect, check);
      const path = join(store, sha256);
      await rename(tmp, path);
      await syncDirectory(store);
      return path;
    } finally {
      await rm(tmp, { force: true });
    }
  }
}

/** Checks the file at `path` (named `where` in errors) against `expect`; returns its SHA-256. */
export async function verifyFile(path: string, where: string, expect: Expected, check: Check): Promise<string> {
  const { size } = await stat(path);
  if (size !== expect.size) {
    throw new UserError(`cross: ${check.label}: ${where}: size mismatch (${check.authority} says ${expect.size} bytes, got ${size})`);
  }
  const sha256 = await sha256File(path);
  if (expect.sha256 !== undefined && sha256 !== expect.sha256) {
    throw new UserError(`cross: ${check.label}: ${where}: SHA256 mismatch (${check.authority} says ${expect.sha256}, got ${sha256})`);
  }
  return sha256;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}
