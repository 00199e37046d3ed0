import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseImageManifest } from '../appc/image-manifest.ts';
import { isImageId } from '../appc/image-id.ts';
import { parsePodManifest } from '../appc/pod-manifest.ts';
import type { PodManifest } from '../appc/types.ts';
import { POD_FILES, PodPaths, type PodStateDir } from '../pod/layout.ts';
import { isPodUuid } from '../pod/state.ts';
import { StorePaths } from '../store/layout.ts';
import { tryLockFile, type FileLock } from '../sys/flock.ts';
import { writeDataAtomic } from '../util/atomic-file.ts';
import { UserError } from '../util/errors.ts';
import type { PodView, StoredImage } from './routes.ts';

// How the metadata service and stage0 find each other with no daemon between them:
//
//   POD/mds-token                  the pod's token (base64url, 256 bits, 0600), written
//                                  by stage0 at prepare for every pod
//   <dir>/metadata-service/        0700, the service's own:
//     lock                         flock'ed (exclusive) while a service runs
//     endpoint.json                {"url": "http://127.0.0.1:18112", "pid": N}, written
//                                  once the service listens, removed when it stops
//     hmac-key                     the identity key (hmac.ts)
//
// Prepare sets AC_METADATA_URL=<url>/<token> in every app's environment only when
// endpoint.json is there and its lock is held, i.e. a service runs now. The service
// finds a pod by its token, scanning the pods in prepared/ and run/ (the state
// directories' mtimes tell it when to scan again), so it can start before or after the
// pods, and restart, without anyone registering anything.

export const POD_TOKEN_FILE = 'mds-token';
export const TOKEN_BYTES = 32;
/** The pods the service answers for: prepared (so run-prepared's apps are too) and run. */
const SERVED_STATES: readonly PodStateDir[] = ['run', 'prepared'];

export function serviceDir(dir: string): string {
  return join(dir, 'metadata-service');
}

const endpointFile = (dir: string) => join(serviceDir(dir), 'endpoint.json');
const lockFileOf = (dir: string) => join(serviceDir(dir), 'lock');
export const hmacKeyFile = (dir: string) => join(serviceDir(dir), 'hmac-key');

export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/**
 * stage0's part, at prepare: writes POD/mds-token and returns the pod's AC_METADATA_URL
 * if a metadata service runs for this data directory, else undefined.
 */
export async function preparePodMetadata(dir: string, podPath: string): Promise<string | undefined> {
  const token = newToken();
  await writeDataAtomic(join(podPath, POD_TOKEN_FILE), `${token}\n`, { mode: 0o600, syncDir: false });
  const url = await runningServiceUrl(dir);
  return url === undefined ? undefined : `${url}/${token}`;
}

/** The URL of the metadata service running for `dir` (no token), or undefined. */
export async function runningServiceUrl(dir: string): Promise<string | undefined> {
  let endpoint: { url?: unknown };
  try {
    endpoint = JSON.parse(await readFile(endpointFile(dir), 'utf8')) as { url?: unknown };
  } catch {
    return undefined; // none, or being written: no service to tell the pod about
  }
  if (typeof endpoint.url !== 'string') return undefined;
  let probe: FileLock | null;
  try {
    probe = tryLockFile(lockFileOf(dir), 'shared', { create: false });
  } catch {
    return undefined;
  }
  if (probe) {
    probe.release(); // nobody holds it: a service that died without cleaning up
    return undefined;
  }
  return endpoint.url.replace(/\/+$/, '');
}

export interface Registration {
  /** Removes endpoint.json and releases the lock. */
  close(): Promise<void>;
}

/** The running service's claim on `dir`: the lock, then endpoint.json. */
export async function registerService(dir: string, url: string): Promise<Registration> {
  await mkdir(serviceDir(dir), { recursive: true, mode: 0o700 });
  const lock = tryLockFile(lockFileOf(dir), 'exclusive');
  if (!lock) {
    const other = await runningServiceUrl(dir);
    throw new UserError(`metadata-service: a metadata service already runs for ${dir}${other ? ` at ${other}` : ''}`);
  }
  try {
    await writeDataAtomic(endpointFile(dir), `${JSON.stringify({ url, pid: process.pid })}\n`, { mode: 0o644 });
  } catch (err) {
    lock.release();
    throw err;
  }
  let closed = false;
  return {
    async close() {
      if (closed) return;
      closed = true;
      await rm(endpointFile(dir), { force: true });
      lock.release();
    },
  };
}

const sha = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Pods by token, read from disk on each request (the manifest may be read while the
 * pod moves from prepared/ to run/: the other directory is tried). Tokens are kept by
 * their SHA-256, so a lookup's timing tells nothing about a real token.
 */
export class PodsByToken {
  readonly #paths: PodPaths;
  readonly #store: StorePaths;
  readonly #uuids = new Map<string, string>();
  #scannedAt = '';
  readonly #images = new Map<string, StoredImage>();

  constructor(dir: string) {
    this.#paths = new PodPaths(dir);
    this.#store = new StorePaths(dir);
  }

  async podByToken(token: string): Promise<PodView | undefined> {
    const key = sha(token);
    let uuid = this.#uuids.get(key);
    let pod = uuid === undefined ? undefined : await this.#read(uuid, key);
    if (pod) return pod;
    if (!(await this.#rescan())) return undefined;
    uuid = this.#uuids.get(key);
    pod = uuid === undefined ? undefined : await this.#read(uuid, key);
    return pod;
  }

  async imageManifest(id: string): Promise<StoredImage | undefined> {
    // A pod manifest's image ID need only be "sha512-" and no "-" (hash.ts): "/" and ".."
    // would name a file outside the store's manifest directory.
    if (!isImageId(id)) return undefined;
    const cached = this.#images.get(id);
    if (cached) return cached;
    let text: string;
    try {
      text = await readFile(this.#store.manifest(id), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const image = { text, manifest: parseImageManifest(text) };
    // An image ID names its bytes: a cached manifest is never stale, only the cache's size matters.
    if (this.#images.size >= 256) this.#images.clear();
    this.#images.set(id, image);
    return image;
  }

  /** The pod, if its token file still holds this token wherever it is now. */
  async #read(uuid: string, key: string): Promise<PodView | undefined> {
    for (const state of SERVED_STATES) {
      const path = this.#paths.pod(state, uuid);
      let token: string;
      let manifestText: string;
      try {
        token = (await readFile(join(path, POD_TOKEN_FILE), 'utf8')).trim();
        manifestText = await readFile(join(path, POD_FILES.manifest), 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      if (sha(token) !== key) return undefined;
      // An invalid manifest is rkt's fault, not the pod's: a 500, logged, not "unknown token".
      return { uuid, manifestText, manifest: this.#parse(path, manifestText) };
    }
    return undefined;
  }

  readonly #manifests = new Map<string, { text: string; manifest: PodManifest }>();

  /** A pod's manifest is written once: parsed once per pod directory and text. */
  #parse(path: string, text: string): PodManifest {
    const cached = this.#manifests.get(path);
    if (cached?.text === text) return cached.manifest;
    const manifest = parsePodManifest(text);
    if (this.#manifests.size >= 1024) this.#manifests.clear();
    this.#manifests.set(path, { text, manifest });
    return manifest;
  }

  /** Reads every served pod's token again if a state directory changed since the last scan; whether it did. */
  async #rescan(): Promise<boolean> {
    const stamps: string[] = [];
    for (const state of SERVED_STATES) {
      const st = await stat(this.#paths.stateDir(state), { bigint: true }).catch(() => undefined);
      stamps.push(st ? `${st.ino}:${st.mtimeNs}` : '-');
    }
    const stamp = stamps.join(',');
    if (stamp === this.#scannedAt) return false;
    this.#uuids.clear();
    // Oldest state first: a pod seen in both (moving) ends up in its newer one.
    for (const state of [...SERVED_STATES].reverse()) {
      const names = await readdir(this.#paths.stateDir(state)).catch(() => [] as string[]);
      for (const uuid of names) {
        if (!isPodUuid(uuid)) continue;
        const token = await readFile(join(this.#paths.pod(state, uuid), POD_TOKEN_FILE), 'utf8').catch(() => undefined);
        if (token !== undefined) this.#uuids.set(sha(token.trim()), uuid);
      }
    }
    this.#scannedAt = stamp;
    return true;
  }
}
