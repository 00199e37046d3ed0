import { promises as fsp } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import type { PublicKey } from 'openpgp';
import { syncDirectory, writeFileAtomic } from '../util/atomic-file.ts';
import { UserError } from '../util/errors.ts';
import { normalizeFingerprint, readPublicKeys, reason } from './pgp-key.ts';
import { checkPrefix, covers, ROOT, sameScope, scopesFor, type TrustScope } from './scope.ts';

// rkt's keystore layout, so keys placed by CoreOS rkt (or by hand, as its docs show)
// keep working and the reverse:
//   <config>/trustedkeys/root.d/<fingerprint>                  trusted for every image
//   <config>/trustedkeys/prefix.d/<p/r/e/f/i/x>/<fingerprint>  trusted for names under the prefix
// A prefix's "/" are directory levels (prefix.d/example.com/app/<fp>), as rkt stores them.
// There are two layers: local (--local-config, /etc/rkt) over system (--system-config,
// /usr/lib/rkt). A local file named like a system key overrides it; an empty one masks it.
// Files are armored public keys named by their lowercase hex fingerprint.

export type Layer = 'local' | 'system';

export interface TrustedKeyInfo {
  fingerprint: string;
  userIds: string[];
  scope: TrustScope;
  layer: Layer;
  path: string;
}

export interface TrustedKey extends TrustedKeyInfo {
  key: PublicKey;
}

/** One file of the keystore; no `key` means an empty file, a mask. */
interface Entry {
  name: string;
  path: string;
  layer: Layer;
  scope: TrustScope;
  key?: TrustedKey;
}

export class Keystore {
  readonly #base: Record<Layer, string>;

  constructor(config: { localConfig: string; systemConfig: string }) {
    this.#base = { local: join(config.localConfig, 'trustedkeys'), system: join(config.systemConfig, 'trustedkeys') };
  }

  /** The directory holding a layer's keys for a scope. */
  dirOf(layer: Layer, scope: TrustScope): string {
    if ('root' in scope) return join(this.#base[layer], 'root.d');
    return join(this.#base[layer], 'prefix.d', ...checkPrefix(scope.prefix).split('/'));
  }

  /** The keys that may sign `imageName`: root keys and those of the name and each parent prefix. */
  async keysFor(imageName: string): Promise<TrustedKey[]> {
    return this.#effective(scopesFor(imageName));
  }

  /** The key with `fingerprint` as it applies to `scope` (trusted there, from a parent scope or root), if any. */
  async trusted(fingerprint: string, scope: TrustScope): Promise<TrustedKey | undefined> {
    const scopes = 'root' in scope ? [ROOT] : scopesFor(checkPrefix(scope.prefix));
    return (await this.#effective(scopes)).find((k) => k.fingerprint === fingerprint);
  }

  /**
   * Trusts one public key (a parsed key, or bytes holding one, armored or binary) for
   * `scope`, written atomically to the local layer as an armored key. A key that already
   * applies there (see `trusted`) is left as it is.
   */
  async add(keyOrBytes: Buffer | PublicKey, scope: TrustScope): Promise<{ key: TrustedKey; alreadyTrusted: boolean }> {
    const key = Buffer.isBuffer(keyOrBytes) ? await onlyKey(keyOrBytes) : keyOrBytes.toPublic();
    const existing = await this.trusted(key.getFingerprint(), scope);
    if (existing) return { key: existing, alreadyTrusted: true };
    const dir = this.dirOf('local', scope);
    const path = join(dir, key.getFingerprint());
    await mkdirDurable(dir);
    await writeFileAtomic(path, Readable.from([key.armor()]));
    return { key: trustedKey(key, scope, 'local', path), alreadyTrusted: false };
  }

  /**
   * Merges a newer copy of a trusted key (same fingerprint: a renewed expiry, a
   * revocation, a new subkey bound by the primary key) into the trusted one, so that
   * trusting a renewed key again is how a user renews it. The merged key goes to the
   * local layer, overriding a system copy. Returns whether anything changed.
   */
  async refresh(existing: TrustedKey, newer: PublicKey): Promise<boolean> {
    const merged = await existing.key.update(newer);
    if (merged.armor() === existing.key.armor()) return false;
    const dir = this.dirOf('local', existing.scope);
    await mkdirDurable(dir);
    await writeFileAtomic(join(dir, existing.fingerprint), Readable.from([merged.armor()]));
    return true;
  }

  /**
   * Stops trusting a key, in one scope or (no scope) in every scope: local key files are
   * deleted and system ones masked with an empty local file, as rkt does. A key that is
   * not trusted there is no error, so that scripts may run this twice.
   */
  async remove(fingerprintInput: string, scope?: TrustScope): Promise<{ removed: string[]; masked: string[] }> {
    const fingerprint = normalizeFingerprint(fingerprintInput);
    if (scope && 'prefix' in scope) checkPrefix(scope.prefix);
    const inScope = (e: Entry): boolean => e.name === fingerprint && e.key !== undefined && (scope === undefined || sameScope(e.scope, scope));
    const all = await this.#all();
    const removed: string[] = [];
    const masked: string[] = [];
    for (const entry of all.filter((e) => inScope(e) && e.layer === 'local')) {
      await fsp.rm(entry.path, { force: true });
      await syncDirectory(dirname(entry.path));
      removed.push(entry.path);
    }
    // A local copy just removed no longer overrides the system key: mask it instead.
    const left = all.filter((e) => !removed.includes(e.path));
    for (const entry of left.filter((e) => inScope(e) && e.layer === 'system')) {
      if (isMasked(entry, left)) continue;
      const dir = this.dirOf('local', entry.scope);
      await mkdirDurable(dir);
      await writeFileAtomic(join(dir, fingerprint), Readable.from([]));
      masked.push(join(dir, fingerprint));
    }
    return { removed, masked };
  }

  /** Every trusted key in both layers, system keys that the local layer overrides or masks left out. */
  async list(): Promise<TrustedKeyInfo[]> {
    const all = await this.#all();
    return all
      .filter((e) => e.key !== undefined && !(e.layer === 'system' && isMasked(e, all)))
      .map((e) => {
        const { key: _pgp, ...info } = e.key!;
        return info;
      });
  }

  async #effective(scopes: TrustScope[]): Promise<TrustedKey[]> {
    const local = (await Promise.all(scopes.map((s) => this.#readDir('local', s)))).flat();
    const system = (await Promise.all(scopes.map((s) => this.#readDir('system', s)))).flat();
    const overridden = new Set(local.map((e) => e.name));
    const found = new Map<string, TrustedKey>();
    for (const entry of [...local, ...system.filter((e) => !overridden.has(e.name))]) {
      if (entry.key && !found.has(entry.name)) found.set(entry.name, entry.key);
    }
    return [...found.values()];
  }

  /** Every file of both layers: root.d, then prefix.d walked down. */
  async #all(): Promise<Entry[]> {
    const out: Entry[] = [];
    for (const layer of ['local', 'system'] as const) {
      out.push(...(await this.#readDir(layer, ROOT)));
      const top = join(this.#base[layer], 'prefix.d');
      for (const dir of await subdirectories(top)) {
        out.push(...(await this.#readDir(layer, { prefix: relative(top, dir).split(sep).join('/') }, dir)));
      }
    }
    return out;
  }

  /** The key files directly in one scope's directory; a missing directory has none. */
  async #readDir(layer: Layer, scope: TrustScope, dir = this.dirOf(layer, scope)): Promise<Entry[]> {
    const names = await fsp.readdir(dir).catch(noDirectory);
    const out: Entry[] = [];
    // Dot files are writeFileAtomic's temporaries, never keys.
    for (const name of names.filter((n) => !n.startsWith('.')).sort()) {
      const path = join(dir, name);
      const stat = await fsp.stat(path);
      if (!stat.isFile()) continue;
      out.push({ name, path, layer, scope, ...(stat.size > 0 ? { key: await readKeyFile(path, name, layer, scope) } : {}) });
    }
    return out;
  }
}

/** A system key is masked when a local file of its name sits in a scope that covers it. */
function isMasked(entry: Entry, all: Entry[]): boolean {
  return all.some((e) => e.layer === 'local' && e.name === entry.name && covers(e.scope, entry.scope));
}

async function onlyKey(bytes: Buffer): Promise<PublicKey> {
  const keys = await readPublicKeys(bytes, 'the key');
  if (keys.length !== 1) throw new UserError(`the key file holds ${keys.length} keys; the keystore takes one at a time`);
  return keys[0]!;
}

async function readKeyFile(path: string, name: string, layer: Layer, scope: TrustScope): Promise<TrustedKey> {
  let keys: PublicKey[];
  try {
    keys = await readPublicKeys(await fsp.readFile(path), `keystore: ${path}`);
  } catch (err) {
    throw new UserError(`${reason(err)}; remove it or put the key there again with 'rkt trust'`);
  }
  // rkt keeps a whole downloaded keyring in one file and uses its first key.
  const key = keys[0]!;
  // A file's name says which key it is: one placed under another key's name would
  // make `rkt trust --list` and removal lie about what is trusted.
  if (key.getFingerprint() !== name) {
    throw new UserError(`keystore: ${path} holds key ${key.getFingerprint()}, not the one its name says; rename or remove it`);
  }
  return trustedKey(key, scope, layer, path);
}

function trustedKey(key: PublicKey, scope: TrustScope, layer: Layer, path: string): TrustedKey {
  return { fingerprint: key.getFingerprint(), userIds: key.getUserIDs(), scope, layer, path, key };
}

/** Every directory below `top`, parents first; symlinked directories are not followed. */
async function subdirectories(top: string): Promise<string[]> {
  const entries = await fsp.readdir(top, { withFileTypes: true }).catch(noDirectory);
  const out: string[] = [];
  for (const e of entries.filter((d) => d.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    out.push(join(top, e.name), ...(await subdirectories(join(top, e.name))));
  }
  return out;
}

function noDirectory(err: NodeJS.ErrnoException): never[] {
  if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return [];
  throw err;
}

/** mkdir -p whose new directory entries survive a power cut, like the key file written into them. */
async function mkdirDurable(dir: string): Promise<void> {
  const first = await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
  if (first === undefined) return;
  for (let d = dir; ; d = dirname(d)) {
    await syncDirectory(dirname(d));
    if (d === first) break;
  }
}
