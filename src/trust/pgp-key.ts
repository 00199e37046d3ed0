import { readKeys, type Key, type PublicKey } from 'openpgp';
import { ExitCode, UserError } from '../util/errors.ts';

// OpenPGP keys as rkt meets them: armored (`gpg --export --armor`) or binary
// (`gpg --export`), one key or a keyring of several.

/** True when the bytes are ASCII-armored, whatever whitespace comes first. */
export function isArmored(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, 256)).toString('latin1').trimStart().startsWith('-----BEGIN PGP');
}

/** The public keys in `bytes`; secret parts, if given, are dropped. `what` names the source in errors. */
export async function readPublicKeys(bytes: Uint8Array, what: string): Promise<PublicKey[]> {
  let keys: Key[];
  try {
    keys = isArmored(bytes)
      ? await readKeys({ armoredKeys: Buffer.from(bytes).toString('utf8') })
      : await readKeys({ binaryKeys: bytes });
  } catch (err) {
    throw new UserError(`${what} is not an OpenPGP public key (${reason(err)})`, ExitCode.invalid, { cause: err });
  }
  return keys.map((k) => k.toPublic());
}

/** The fingerprint as gpg shows it: groups of four, with a wider gap in the middle. */
export function formatFingerprint(fingerprint: string): string {
  const groups = fingerprint.toUpperCase().match(/.{1,4}/g) ?? [];
  const half = Math.ceil(groups.length / 2);
  return `${groups.slice(0, half).join(' ')}  ${groups.slice(half).join(' ')}`;
}

/**
 * A fingerprint typed by a person ("8B86 DE38 ...", any case) as the keystore names
 * files: lowercase hex. v4 keys have 40 digits, v6 keys 64.
 */
export function normalizeFingerprint(input: string): string {
  const fp = input.replace(/\s+/g, '').toLowerCase();
  if (!/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(fp)) {
    throw new UserError(`"${input}" is not a key fingerprint (40 or 64 hex digits, as 'rkt trust --list' shows)`, ExitCode.usage);
  }
  return fp;
}

/** openpgp's messages start with a capital and some end with a full stop; ours are one lowercase clause. */
export function reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const first = text.split('\n')[0] ?? '';
  return (first.charAt(0).toLowerCase() + first.slice(1)).replace(/\.$/, '');
}
