import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKey, readKey } from 'openpgp';
import { Keystore, type TrustedKey } from '../../src/trust/keystore.ts';
import { verifyDetached } from '../../src/trust/signature.ts';
import { UserError } from '../../src/util/errors.ts';
import { Gpg, type GpgKey } from './helpers.ts';

// Signatures made by gpg itself, over a real file, checked against keys as users
// export them (armored and binary) and keys made by openpgp and signed with by gpg.

const NAME = 'example.com/app';
let dir: string;
let gpg: Gpg;
let image: string;
let ed: GpgKey;
let rsa: GpgKey;
let other: GpgKey;
let js: GpgKey;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trust-sig-'));
  gpg = new Gpg(join(dir, 'gnupg'));
  image = join(dir, 'app.aci');
  writeFileSync(image, randomBytes(300_000));
  ed = gpg.genKey('Ed <ed@example.com>');
  rsa = gpg.genKey('Rsa <rsa@example.com>', 'rsa2048');
  other = gpg.genKey('Other <other@example.com>');
  // A key made by openpgp (as the build tool would make one), imported into gpg to sign with.
  const made = await generateKey({ userIDs: [{ name: 'Js', email: 'js@example.com' }], format: 'armored' });
  gpg.run(['--import'], made.privateKey);
  js = gpg.exportKey('js@example.com');
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** A keystore trusting `bytes` at root, and the keys it gives for NAME. */
async function trusting(...keys: Buffer[]): Promise<TrustedKey[]> {
  const ks = new Keystore({ localConfig: mkdtempSync(join(dir, 'local-')), systemConfig: join(dir, 'none') });
  for (const k of keys) await ks.add(k, { root: true });
  return ks.keysFor(NAME);
}

async function rejection(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => assert.fail('verification passed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof UserError, String(err));
  return err.message;
}

for (const [label, key] of [['gpg ed25519', () => ed], ['gpg rsa2048', () => rsa], ['openpgp-made', () => js]] as const) {
  for (const exportAs of ['armored', 'binary'] as const) {
    for (const armor of [false, true]) {
      test(`${label} key (${exportAs} export) verifies gpg --detach-sign${armor ? ' --armor' : ''}`, async () => {
        const k = key();
        const keys = await trusting(k[exportAs]);
        const result = await verifyDetached(image, gpg.sign(k.uid, image, armor), keys, NAME);
        assert.deepEqual(result, { fingerprint: k.fingerprint, userIds: [k.uid] });
      });
    }
  }
}

test('among several trusted keys the signer is found', async () => {
  const keys = await trusting(other.armored, rsa.armored, ed.binary);
  assert.equal((await verifyDetached(image, gpg.sign(rsa.uid, image, true), keys, NAME)).fingerprint, rsa.fingerprint);
});

test("a signature by an untrusted key names the signer's fingerprint and the trust command", async () => {
  const message = await rejection(verifyDetached(image, gpg.sign(other.uid, image, true), await trusting(ed.armored), NAME));
  const spaced = other.fingerprint.toUpperCase().match(/.{4}/g)!;
  assert.ok(message.includes(`${spaced.slice(0, 5).join(' ')}  ${spaced.slice(5).join(' ')}`), message);
  assert.match(message, /is not trusted for example\.com\/app; .*'rkt trust --prefix=example\.com\/app KEYFILE'/);
});

test('no key trusted for the name says how to trust one', async () => {
  const message = await rejection(verifyDetached(image, gpg.sign(ed.uid, image, false), [], NAME));
  assert.equal(
    message,
    "signature: no key is trusted for example.com/app; trust its publisher's key with 'rkt trust --prefix=example.com/app' (discovery) or 'rkt trust --prefix=example.com/app KEYFILE'",
  );
});

test('a tampered image fails (one flipped bit, far into the file)', async () => {
  const signature = gpg.sign(ed.uid, image, false);
  const tampered = join(dir, 'tampered.aci');
  const original = readFileSync(image);
  original[250_000] ^= 0x01;
  writeFileSync(tampered, original);
  const message = await rejection(verifyDetached(tampered, signature, await trusting(ed.armored), NAME));
  assert.match(message, /^signature: .*tampered\.aci does not match its signature by .*: the image or its signature was altered or damaged/);
});

test('a signature of another file fails', async () => {
  const elsewhere = join(dir, 'elsewhere');
  writeFileSync(elsewhere, 'not the image');
  const message = await rejection(verifyDetached(image, gpg.sign(ed.uid, elsewhere, true), await trusting(ed.armored), NAME));
  assert.match(message, /does not match its signature/);
});

test('garbage instead of a signature is a one-line error', async () => {
  const message = await rejection(verifyDetached(image, Buffer.from('<html>not found</html>'), await trusting(ed.armored), NAME));
  assert.match(message, /^signature: the signature of example\.com\/app is not an OpenPGP signature \(/);
});

test('a revoked key fails, even for a signature made before the revocation', async () => {
  const victim = gpg.genKey('Revoked <revoked@example.com>');
  const signature = gpg.sign(victim.uid, image, false);
  assert.ok((await verifyDetached(image, signature, await trusting(victim.armored), NAME)).fingerprint);
  const revoked = gpg.revoke(victim);
  const message = await rejection(verifyDetached(image, signature, await trusting(revoked.armored), NAME));
  assert.match(message, /which is revoked; ask the publisher for the new key$/);
});

test('an expired key fails, although the signature was made while it was valid', async () => {
  const past = ['--faked-system-time', '20200101T000000'];
  const old = gpg.genKey('Old <old@example.com>', 'ed25519', '1d', past);
  const signature = gpg.sign(old.uid, image, false, ['--faked-system-time', '20200101T010000']);
  const message = await rejection(verifyDetached(image, signature, await trusting(old.armored), NAME));
  assert.match(message, /which has expired; ask the publisher for a renewed key and trust it again$/);
});

test('a 100 MB image is streamed: peak RSS grows far less than the file', async (t) => {
  const big = join(dir, 'big.aci');
  writeFileSync(big, '');
  truncateSync(big, 100 << 20); // sparse: 100 MB of zeros to hash, no disk used
  const signature = join(dir, 'big.aci.asc');
  writeFileSync(signature, gpg.sign(ed.uid, big, true));
  const config = mkdtempSync(join(dir, 'big-keys-'));
  await new Keystore({ localConfig: config, systemConfig: config }).add(ed.armored, { root: true });
  // A child process, so this runner's own heap does not blur the measurement.
  const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('fixtures/verify-child.ts', import.meta.url)), big, signature, config]);
  const { fingerprint, before, peak } = JSON.parse(out.toString()) as { fingerprint: string; before: number; peak: number };
  assert.equal(fingerprint, ed.fingerprint);
  const grewMiB = (peak - before) / 2 ** 20;
  t.diagnostic(`verify of 100 MB: RSS ${Math.round(before / 2 ** 20)} MiB -> peak ${Math.round(peak / 2 ** 20)} MiB`);
  assert.ok(grewMiB < 50, `RSS grew by ${grewMiB.toFixed(1)} MiB while verifying a 100 MiB file`);
});

test('trusting a renewed copy of an expired key renews it; trusting a revoked copy revokes it', async () => {
  const past = ['--faked-system-time', '20200101T000000'];
  const renewable = gpg.genKey('Renewable <renew@example.com>', 'ed25519', '1d', past);
  const signature = gpg.sign(renewable.uid, image, false, ['--faked-system-time', '20200101T010000']);
  const config = mkdtempSync(join(dir, 'renew-keys-'));
  const keystore = new Keystore({ localConfig: config, systemConfig: config });
  await keystore.add(renewable.armored, { prefix: 'example.com' });
  const trusted = async () => (await keystore.keysFor(NAME))[0]!;
  const exported = async () => readKey({ armoredKey: gpg.exportKey(renewable.fingerprint).armored.toString() });
  assert.match(await rejection(verifyDetached(image, signature, [await trusted()], NAME)), /has expired/);

  gpg.run(['--quick-set-expire', renewable.fingerprint, '0']);
  assert.equal(await keystore.refresh(await trusted(), await exported()), true);
  assert.equal((await verifyDetached(image, signature, [await trusted()], NAME)).fingerprint, renewable.fingerprint);
  assert.equal(await keystore.refresh(await trusted(), await exported()), false, 'the same copy again changes nothing');

  gpg.revoke(renewable);
  assert.equal(await keystore.refresh(await trusted(), await exported()), true);
  assert.match(await rejection(verifyDetached(image, signature, [await trusted()], NAME)), /is revoked/);
});
