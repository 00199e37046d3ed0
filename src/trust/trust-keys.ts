import type { Readable, Writable } from 'node:stream';
import type { RktContext } from '../config/context.ts';
import { insecureWarning } from '../config/insecure.ts';
import { discoverPubkeys } from '../fetch/discover.ts';
import type { HttpGetOptions } from '../fetch/http-get.ts';
import { ExitCode, UserError } from '../util/errors.ts';
import { fetchKey } from './fetch-key.ts';
import { Keystore, type TrustedKey } from './keystore.ts';
import { normalizeFingerprint, readPublicKeys } from './pgp-key.ts';
import { confirmTrust, describeKey } from './review.ts';
import { checkPrefix, describeScope, type TrustScope } from './scope.ts';

export interface TrustRequest {
  scope: TrustScope;
  /** Key files or URLs; none means discovery (ac-discovery-pubkeys) for a prefix. */
  keys: string[];
  skipReview: boolean;
}

export interface TrustOutcome {
  status: 'added' | 'already-trusted' | 'updated' | 'declined';
  fingerprint: string;
  location: string;
  /** The key as it is trusted now (undefined when declined). */
  key?: TrustedKey;
}

export interface TrustIo {
  /** Where the key review and the question are shown (stderr). */
  output: Writable;
  /** Where the answer comes from (stdin); asked only when it is a terminal. */
  input: Readable & { isTTY?: boolean };
}

/**
 * `rkt trust`: gets each key (or discovers a prefix's keys), shows it, asks unless told
 * not to, and adds it to the local keystore. Every key of a keyring is reviewed and
 * stored on its own, named by its own fingerprint.
 */
export async function trustKeys(
  ctx: RktContext,
  req: TrustRequest,
  net: Pick<HttpGetOptions, 'resolve' | 'ca'> = {},
  io: TrustIo = { output: process.stderr, input: process.stdin },
): Promise<TrustOutcome[]> {
  const insecurePubkey = ctx.insecure.has('pubkey');
  const http: HttpGetOptions = { ...net, allowHttp: insecurePubkey, insecureTls: ctx.insecure.has('tls') };
  const remote = req.keys.length === 0 || req.keys.some((k) => /^https?:\/\//i.test(k));
  if (remote && insecurePubkey) ctx.warn(insecureWarning('pubkey'));
  if (remote && http.insecureTls) ctx.warn(insecureWarning('tls'));

  const discovered = req.keys.length === 0;
  const locations = discovered ? await discoverKeys(req.scope, http) : req.keys;
  const keystore = new Keystore(ctx);
  const outcomes: TrustOutcome[] = [];
  for (const location of locations) {
    const fetched = await fetchKey(location, http);
    // --trust-keys-from-https vouches for a key only if nothing on its way was plain HTTP
    // or an unchecked certificate: the discovery pages as well as the key itself.
    const fromHttps = ctx.trustKeysFromHttps && discovered && !insecurePubkey && fetched.verifiedHttps;
    for (const key of await readPublicKeys(fetched.bytes, `trust: ${fetched.location}`)) {
      const fingerprint = key.getFingerprint();
      io.output.write(describeKey(key, fetched.location, req.scope));
      const existing = await keystore.trusted(fingerprint, req.scope);
      if (existing) {
        const status = (await keystore.refresh(existing, key)) ? 'updated' : 'already-trusted';
        outcomes.push({ status, fingerprint, location: fetched.location, key: existing });
        continue;
      }
      if (req.skipReview || fromHttps) {
        const why = req.skipReview ? '--skip-fingerprint-review' : '--trust-keys-from-https';
        io.output.write(`Trusting ${fetched.location} for ${describeScope(req.scope)} without fingerprint review (${why}).\n`);
      } else if (!(await confirmTrust(fingerprint, io))) {
        outcomes.push({ status: 'declined', fingerprint, location: fetched.location });
        continue;
      }
      const { key: added } = await keystore.add(key, req.scope);
      outcomes.push({ status: 'added', fingerprint, location: fetched.location, key: added });
    }
  }
  return outcomes;
}

async function discoverKeys(scope: TrustScope, http: HttpGetOptions): Promise<string[]> {
  if ('root' in scope) {
    throw new UserError('trust: --root needs a key file or URL: root keys are never discovered', ExitCode.usage);
  }
  return discoverPubkeys(checkPrefix(scope.prefix), { ...http, insecure: http.allowHttp ?? false });
}

export interface UntrustOutcome {
  fingerprint: string;
  /** Local key files deleted. */
  removed: string[];
  /** Empty local files written over system keys. */
  masked: string[];
}

/**
 * `rkt trust --remove`: stops trusting a key in `scope` (or, without one, everywhere; see
 * Keystore.remove). Fails when the key still applies to `scope` from a scope above it, so
 * that a user who removed it is never left trusting it unawares.
 */
export async function untrustKey(ctx: RktContext, fingerprintInput: string, scope?: TrustScope): Promise<UntrustOutcome> {
  const fingerprint = normalizeFingerprint(fingerprintInput);
  const keystore = new Keystore(ctx);
  const result = await keystore.remove(fingerprint, scope);
  const still = scope && (await keystore.trusted(fingerprint, scope));
  if (still) {
    const flag = 'root' in still.scope ? '--root' : `--prefix=${still.scope.prefix}`;
    throw new UserError(
      `trust: key ${fingerprint} still applies to ${describeScope(scope)}: it is trusted for ${describeScope(still.scope)} (${still.path}); remove it there with ${flag}`,
    );
  }
  return { fingerprint, ...result };
}
