import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// Real GnuPG in a throw-away GNUPGHOME: the keys and signatures the tests use are
// the ones users make.

export interface GpgKey {
  fingerprint: string;
  uid: string;
  armored: Buffer;
  binary: Buffer;
}

export class Gpg {
  constructor(readonly home: string) {
    mkdirSync(home, { recursive: true, mode: 0o700 });
  }

  run(args: string[], input?: string | Buffer): Buffer {
    return execFileSync('gpg', ['--batch', '--quiet', '--no-tty', ...args], {
      env: { ...process.env, GNUPGHOME: this.home },
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  /** A new signing key: `algo` as gpg's quick-gen-key takes it (ed25519, rsa2048), `expire` likewise. */
  genKey(uid: string, algo = 'ed25519', expire = 'never', extra: string[] = []): GpgKey {
    this.run([...extra, '--passphrase', '', '--quick-gen-key', uid, algo, 'sign', expire]);
    return this.exportKey(uid);
  }

  /** The key that `query` (a user ID, an email, a fingerprint) names, exported both ways. */
  exportKey(query: string): GpgKey {
    const colons = this.run(['--with-colons', '--list-keys', query]).toString();
    const fingerprint = /^fpr:+([0-9A-F]+):/m.exec(colons)![1]!.toLowerCase();
    const uid = /^uid(?::[^:]*){8}:([^:]*):/m.exec(colons)![1]!;
    return { fingerprint, uid, armored: this.run(['--armor', '--export', fingerprint]), binary: this.run(['--export', fingerprint]) };
  }

  /** A detached signature of `file` by `uid`, binary or armored (`.aci.asc` is usually armored). */
  sign(uid: string, file: string, armor: boolean, extra: string[] = []): Buffer {
    return this.run([...extra, '--local-user', uid, ...(armor ? ['--armor'] : []), '--detach-sign', '--output', '-', file]);
  }

  /** Makes the key revoked, with the revocation certificate gpg stored when it made the key. */
  revoke(key: GpgKey): GpgKey {
    const cert = readFileSync(join(this.home, 'openpgp-revocs.d', `${key.fingerprint.toUpperCase()}.rev`), 'utf8');
    // gpg guards the stored certificate with a leading ":" so that it is not imported by accident.
    this.run(['--import'], cert.replace(/^:-----BEGIN/m, '-----BEGIN'));
    return this.exportKey(key.fingerprint);
  }
}
