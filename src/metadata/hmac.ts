import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { temporaryNameFor } from '../util/atomic-file.ts';

// The pod identity HMAC (spec/ace.md, "Identity Endpoint"): HMAC-SHA512 over the pod's
// UUID (its 16 bytes) then the content, as CoreOS rkt's metadata service computed it,
// base64 (standard alphabet, padded). One key per rkt data directory, made by the first
// metadata service and kept (0600, root) so that a signature stays verifiable across
// service restarts and after the signing pod is gone: a pod never sees the key.

export const HMAC_KEY_BYTES = 64;

export class PodHmac {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length < 32) throw new Error(`metadata-service: the HMAC key is ${key.length} bytes, fewer than 32`);
    this.#key = key;
  }

  sign(uuid: string, content: Buffer): string {
    return this.#mac(uuid, content).toString('base64');
  }

  verify(uuid: string, content: Buffer, signature: string): boolean {
    const expected = this.#mac(uuid, content);
    // base64url too, and spaces a form may have turned "+" into.
    const given = Buffer.from(signature.trim().replace(/ /g, '+'), 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  #mac(uuid: string, content: Buffer): Buffer {
    return createHmac('sha512', this.#key).update(uuidBytes(uuid)).update(content).digest();
  }
}

function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`metadata-service: "${uuid}" is not a UUID`);
  return Buffer.from(hex, 'hex');
}

/** The data directory's key, at `file`: read, or made once (atomically: two services racing agree). */
export async function loadHmacKey(file: string): Promise<Buffer> {
  const existing = await readFile(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (existing) return existing;
  await mkdir(join(file, '..'), { recursive: true, mode: 0o700 });
  const tmp = temporaryNameFor(file);
  await writeFile(tmp, randomBytes(HMAC_KEY_BYTES), { mode: 0o600, flag: 'wx', flush: true });
  try {
    await link(tmp, file); // EEXIST: another service made it first; use theirs
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await rm(tmp, { force: true });
  }
  return readFile(file);
}
