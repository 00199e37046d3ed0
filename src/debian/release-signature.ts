import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createMessage, readCleartextMessage, readSignature, verify, type PublicKey, type VerifyMessageResult } from 'openpgp';
import { isArmored, readPublicKeys, reason } from '../trust/pgp-key.ts';
import { UserError, describeError } from '../util/errors.ts';
import { stripClearsign } from './deb822.ts';
import type { RepoSource } from './types.ts';

// The OpenPGP check of a suite's Release: InRelease (clearsigned) or Release with a
// detached Release.gpg, against the source's keyring as apt's signed-by would.

export interface Keyring {
  keys: PublicKey[];
  /** How errors name it: its path, or the inline Signed-By keys. */
  name: string;
}

const KEYRING_FILE = /\.(gpg|asc|pgp)$/;

/** The keys that must sign `src`'s Release, or undefined when it names none. */
export async function loadKeyring(src: RepoSource): Promise<Keyring | undefined> {
  if (src.keyring !== undefined) {
    const path = src.keyring;
    const files = (await stat(path)).isDirectory()
      ? (await readdir(path)).filter((f) => KEYRING_FILE.test(f)).sort().map((f) => join(path, f))
      : [path];
    const keys = (await Promise.all(files.map(async (f) => readPublicKeys(await readFile(f), `cross: keyring ${f}`)))).flat();
    return { keys, name: path };
  }
  if (src.inlineKeys !== undefined) {
    const name = `the Signed-By keys of ${src.uri}`;
    return { keys: await readPublicKeys(Buffer.from(src.inlineKeys), `cross: ${name}`), name };
  }
  return undefined;
}

/** The signed text of an InRelease, once its signature by a key of `keyring` is checked. */
export async function verifyInRelease(text: string, keyring: Keyring, url: string): Promise<string> {
  // Strict framing first: no text may sit outside the signed part (apt's InRelease CVEs).
  strictClearsigned(text, url);
  const message = await readCleartextMessage({ cleartextMessage: text }).catch((err: unknown) => {
    throw new UserError(`cross: ${url}: not a clearsigned file (${reason(err)})`);
  });
  const result = await verify({ message, verificationKeys: keyring.keys });
  await checkVerdict(result, keyring, url);
  return result.data;
}

/** Checks that `signature` (Release.gpg, armored or binary) is a signature of `release` by a key of `keyring`. */
export async function verifyDetachedRelease(release: Buffer, signature: Buffer, keyring: Keyring, url: string): Promise<void> {
  const sig = await (isArmored(signature)
    ? readSignature({ armoredSignature: signature.toString('utf8') })
    : readSignature({ binarySignature: signature })
  ).catch((err: unknown) => {
    throw new UserError(`cross: ${url}.gpg: not an OpenPGP signature (${reason(err)})`);
  });
  const message = await createMessage({ binary: release });
  await checkVerdict(await verify({ message, signature: sig, verificationKeys: keyring.keys }), keyring, url);
}

/** The text of an InRelease whose signature is not checked (no keyring, and the user allowed it). */
export function strictClearsigned(text: string, url: string): string {
  try {
    return stripClearsign(text);
  } catch (err) {
    throw new UserError(`cross: ${url}: ${describeError(err)}`, undefined, { cause: err });
  }
}

async function checkVerdict(result: VerifyMessageResult<unknown>, keyring: Keyring, url: string): Promise<void> {
  const verdicts = await Promise.allSettled(result.signatures.map((s) => s.verified));
  if (verdicts.some((v) => v.status === 'fulfilled' && v.value === true)) return;
  const known = result.signatures.some((s) => keyring.keys.some((k) => k.getKeys(s.keyID).length > 0));
  if (!known) throw new UserError(`cross: ${url}: not signed by a key in ${keyring.name}`);
  const failed = verdicts.find((v): v is PromiseRejectedResult => v.status === 'rejected');
  throw new UserError(`cross: ${url}: the signature does not verify (${reason(failed?.reason)}): the file was altered, or the key expired or was revoked`);
}
