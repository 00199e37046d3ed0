import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createMessage, readSignature, verify, type KeyID, type Signature } from 'openpgp';
import { UserError } from '../util/errors.ts';
import type { TrustedKey } from './keystore.ts';
import { formatFingerprint, isArmored, reason } from './pgp-key.ts';

/**
 * Checks that `signature` (armored or binary, as in an `.aci.asc`) is a detached
 * OpenPGP signature of `file` by one of `keys`, the keys trusted for `imageName`.
 * The file is streamed through the hash, so a large image is never held in memory.
 * Returns the signing key's primary fingerprint and user IDs.
 */
export async function verifyDetached(
  file: string,
  signature: Buffer,
  keys: TrustedKey[],
  imageName: string,
): Promise<{ fingerprint: string; userIds: string[] }> {
  if (keys.length === 0) {
    throw new UserError(
      `signature: no key is trusted for ${imageName}; trust its publisher's key with 'rkt trust --prefix=${imageName}' (discovery) or 'rkt trust --prefix=${imageName} KEYFILE'`,
    );
  }
  const sig = await parseSignature(signature, imageName);
  const issuers = sig.getSigningKeyIDs();
  const signer = findSigner(keys, issuers);
  if (!signer) throw untrusted(sig, imageName);

  // Checked before the image is read: a revoked or expired key fails at once, and a
  // key that expired stays expired whatever creation time a signature claims.
  const { trusted, keyID } = signer;
  await trusted.key.getSigningKey(keyID, new Date()).catch((err: unknown) => {
    throw new UserError(`signature: ${imageName} is signed by key ${formatFingerprint(trusted.fingerprint)}, which ${keyState(err)}`);
  });

  const message = await createMessage({ binary: Readable.toWeb(createReadStream(file)) as WebReadableStream<Uint8Array> });
  try {
    const result = await verify({ message, signature: sig, verificationKeys: trusted.key, format: 'binary' });
    // The hash runs as the data stream is read; the verdict comes after its end.
    const reader = (result.data as unknown as WebReadableStream<Uint8Array>).getReader();
    while (!(await reader.read()).done);
    const verdicts = await Promise.allSettled(result.signatures.map((s) => s.verified));
    const good = verdicts.findIndex((v) => v.status === 'fulfilled' && v.value === true);
    if (good < 0) throw (verdicts.find((v) => v.status === 'rejected') as PromiseRejectedResult | undefined)?.reason;
  } catch (err) {
    if ((err as NodeJS.ErrnoException | undefined)?.syscall) throw err;
    throw new UserError(
      `signature: ${file} does not match its signature by ${formatFingerprint(trusted.fingerprint)} (${reason(err)}): the image or its signature was altered or damaged; fetch both again`,
    );
  }
  return { fingerprint: trusted.fingerprint, userIds: trusted.userIds };
}

async function parseSignature(bytes: Buffer, imageName: string): Promise<Signature> {
  try {
    return isArmored(bytes)
      ? await readSignature({ armoredSignature: bytes.toString('utf8') })
      : await readSignature({ binarySignature: bytes });
  } catch (err) {
    throw new UserError(`signature: the signature of ${imageName} is not an OpenPGP signature (${reason(err)})`);
  }
}

/** The first trusted key holding (as primary or subkey) a key that made one of the signatures. */
function findSigner(keys: TrustedKey[], issuers: KeyID[]): { trusted: TrustedKey; keyID: KeyID } | undefined {
  for (const keyID of issuers) {
    const trusted = keys.find((k) => k.key.getKeys(keyID).length > 0);
    if (trusted) return { trusted, keyID };
  }
  return undefined;
}

function untrusted(sig: Signature, imageName: string): UserError {
  // gpg and openpgp put the issuer's fingerprint in the signature; older signers give only the key ID.
  const ids = sig.packets.map((p) =>
    p.issuerFingerprint ? formatFingerprint(Buffer.from(p.issuerFingerprint).toString('hex')) : `key ID ${p.issuerKeyID.toHex().toUpperCase()}`,
  );
  return new UserError(
    `signature: ${imageName} is signed by key ${ids.join(', ')}, which is not trusted for ${imageName}; ` +
      `if you trust it: 'rkt trust --prefix=${imageName} KEYFILE' with that key's public key file or URL`,
  );
}

function keyState(err: unknown): string {
  const why = reason(err);
  if (/revoked/.test(why)) return 'is revoked; ask the publisher for the new key';
  if (/expired/.test(why)) return 'has expired; ask the publisher for a renewed key and trust it again';
  return `cannot sign (${why})`;
}
