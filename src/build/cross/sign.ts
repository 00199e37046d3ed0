import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createMessage, decryptKey, readPrivateKey, sign, type PrivateKey } from 'openpgp';
import { isArmored, reason } from '../../trust/pgp-key.ts';
import { UserError } from '../../util/errors.ts';

/** The environment variable that holds the passphrase of --sign-key, never a flag (ps shows flags). */
export const PASSPHRASE_ENV = 'ACTOOL_SIGN_PASSPHRASE';

export interface Signer {
  /** An armored detached signature of `file`, streamed through the hash. */
  sign(file: string): Promise<string>;
  /** The key's public part, armored, for DIR/pubkeys.asc. */
  publicKey: string;
}

/**
 * A signer from a secret key file (armored or binary, as `gpg --export-secret-keys`
 * writes it). With `sourceDateEpoch`, signatures carry that time (or the key's
 * creation time, if later: a key cannot sign before it exists) and no random salt, so
 * the same image gives the same signature bytes.
 */
export async function loadSigner(keyFile: string, passphrase: string | undefined, sourceDateEpoch?: number): Promise<Signer> {
  const key = await unlock(await readKey(keyFile), keyFile, passphrase);
  // Checked before any image is built: an expired or revoked key would fail only at the end.
  await key.getSigningKey().catch((err: unknown) => {
    throw new UserError(`cross: --sign-key ${keyFile} cannot sign (${reason(err)})`);
  });
  const created = key.getCreationTime().getTime();
  const date = sourceDateEpoch === undefined ? undefined : new Date(Math.max(sourceDateEpoch * 1000, created));
  const config = { nonDeterministicSignaturesViaNotation: sourceDateEpoch === undefined };
  return {
    publicKey: key.toPublic().armor(),
    async sign(file) {
      const message = await createMessage({ binary: Readable.toWeb(createReadStream(file)) as WebReadableStream<Uint8Array> });
      const armored = await sign({ message, signingKeys: key, detached: true, format: 'armored', date, config });
      return text(armored as unknown as WebReadableStream<string>);
    },
  };
}

async function readKey(keyFile: string): Promise<PrivateKey> {
  const bytes = readFileSync(keyFile);
  try {
    return isArmored(bytes) ? await readPrivateKey({ armoredKey: bytes.toString('utf8') }) : await readPrivateKey({ binaryKey: bytes });
  } catch (err) {
    throw new UserError(`cross: --sign-key ${keyFile} is not an OpenPGP secret key (${reason(err)})`);
  }
}

async function unlock(key: PrivateKey, keyFile: string, passphrase: string | undefined): Promise<PrivateKey> {
  if (key.isDecrypted()) return key;
  if (passphrase === undefined) {
    throw new UserError(`cross: --sign-key ${keyFile} is protected by a passphrase; put it in ${PASSPHRASE_ENV}`);
  }
  try {
    return await decryptKey({ privateKey: key, passphrase });
  } catch (err) {
    throw new UserError(`cross: cannot unlock --sign-key ${keyFile} with ${PASSPHRASE_ENV} (${reason(err)})`);
  }
}
