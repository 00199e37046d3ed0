import { createInterface } from 'node:readline/promises';
import type { Readable, Writable } from 'node:stream';
import type { PublicKey } from 'openpgp';
import { ExitCode, UserError } from '../util/errors.ts';
import { formatFingerprint } from './pgp-key.ts';
import { describeScope, type TrustScope } from './scope.ts';

/** What a person checks before trusting a key: where it came from, its fingerprints and user IDs. */
export function describeKey(key: PublicKey, location: string, scope: TrustScope): string {
  const lines = [
    `trust for: ${describeScope(scope)}`,
    `key: ${location}`,
    `gpg key fingerprint is: ${formatFingerprint(key.getFingerprint())}`,
    ...key.subkeys.map((s) => `    subkey fingerprint: ${formatFingerprint(s.getFingerprint())}`),
    ...key.getUserIDs().map((id) => `\t${id}`),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Asks "trust this key?" on a terminal; true for yes. Only a terminal on stdin is asked:
 * a script must never hang on a prompt nor have a piped line taken for an answer, so
 * without one this fails and names the flag that skips the review.
 */
export async function confirmTrust(
  fingerprint: string,
  io: { input: Readable & { isTTY?: boolean }; output: Writable } = { input: process.stdin, output: process.stderr },
): Promise<boolean> {
  if (!io.input.isTTY) {
    throw new UserError(
      `trust: no terminal to review key ${formatFingerprint(fingerprint)} on; check the fingerprint another way and pass --skip-fingerprint-review`,
      ExitCode.usage,
    );
  }
  const rl = createInterface({ input: io.input, output: io.output, terminal: true });
  // Ctrl-D (end of input) and Ctrl-C answer no; in raw mode readline would otherwise
  // swallow Ctrl-C and leave the question open.
  const closed = new Promise<string>((resolve) => rl.once('close', () => resolve('no')));
  rl.once('SIGINT', () => rl.close());
  try {
    for (;;) {
      const answer = (await Promise.race([rl.question('Are you sure you want to trust this key (yes/no)? '), closed])).trim().toLowerCase();
      if (answer === 'yes' || answer === 'y') return true;
      if (answer === 'no' || answer === 'n') return false;
      io.output.write("Please enter 'yes' or 'no'\n");
    }
  } finally {
    rl.close();
  }
}
