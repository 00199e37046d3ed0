import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readKey } from 'openpgp';
import { Keystore } from '../../src/trust/keystore.ts';
import { UserError } from '../../src/util/errors.ts';
import { Gpg, type GpgKey } from './helpers.ts';

// The on-disk layout is CoreOS rkt's: keys placed by hand under
// {root.d,prefix.d/<prefix>}/<fingerprint> in the system or local config are what the
// tests set up, and the files `add` writes are what they check.

let dir: string;
let a: GpgKey;
let b: GpgKey;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'trust-keystore-'));
  const gpg = new Gpg(join(dir, 'gnupg'));
  a = gpg.genKey('Alice <a@example.com>');
  b = gpg.genKey('Bob <b@example.com>', 'rsa2048');
});

after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function fresh(): { ks: Keystore; local: string; system: string } {
  const base = join(dir, `case-${n++}`);
  const local = join(base, 'etc');
  const system = join(base, 'usr-lib');
  return { ks: new Keystore({ localConfig: local, systemConfig: system }), local, system };
}

/** Places a file by hand, as an administrator or a distribution package would. */
function place(config: string, where: string, name: string, bytes: Buffer | string): string {
  const path = join(config, 'trustedkeys', where, name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
  return path;
}

const fps = async (ks: Keystore, name: string): Promise<string[]> => (await ks.keysFor(name)).map((k) => k.fingerprint).sort();

test('add writes an armored key named by its fingerprint under prefix.d, "/" as directory levels', async () => {
  const { ks, local } = fresh();
  const { key, alreadyTrusted } = await ks.add(b.binary, { prefix: 'example.com/app' });
  const path = join(local, 'trustedkeys', 'prefix.d', 'example.com', 'app', b.fingerprint);
  assert.equal(alreadyTrusted, false);
  assert.deepEqual({ fingerprint: key.fingerprint, userIds: key.userIds, layer: key.layer, path: key.path }, {
    fingerprint: b.fingerprint,
    userIds: [b.uid],
    layer: 'local',
    path,
  });
  // Armored even from a binary export: CoreOS rkt reads only armored keys.
  const text = readFileSync(path, 'utf8');
  assert.match(text, /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
  assert.equal((await readKey({ armoredKey: text })).getFingerprint(), b.fingerprint);
  assert.equal(statSync(path).mode & 0o777, 0o644);
  assert.deepEqual(readdirSync(dirname(path)), [b.fingerprint], 'no temporary file left');
});

test('adding the same key twice is idempotent and says it was already trusted', async () => {
  const { ks } = fresh();
  const first = await ks.add(a.armored, { prefix: 'example.com' });
  const again = await ks.add(a.binary, { prefix: 'example.com' });
  assert.equal(again.alreadyTrusted, true);
  assert.equal(again.key.path, first.key.path);
  // A parent prefix (or root) already covers a longer prefix.
  const child = await ks.add(a.armored, { prefix: 'example.com/app' });
  assert.deepEqual([child.alreadyTrusted, child.key.path], [true, first.key.path]);
  // But a prefix key does not make it a root key.
  assert.equal((await ks.add(a.armored, { root: true })).alreadyTrusted, false);
});

test('keys of every parent prefix apply, a sibling prefix does not', async () => {
  const { ks } = fresh();
  await ks.add(a.armored, { prefix: 'example.com/app' });
  await ks.add(b.armored, { prefix: 'example.com/other' });
  assert.deepEqual(await fps(ks, 'example.com/app'), [a.fingerprint]);
  assert.deepEqual(await fps(ks, 'example.com/app/x'), [a.fingerprint]);
  assert.deepEqual(await fps(ks, 'example.com/app/x/y'), [a.fingerprint]);
  assert.deepEqual(await fps(ks, 'example.com/other/x'), [b.fingerprint]);
  // Prefixes are whole path segments: "app" is no prefix of "application".
  assert.deepEqual(await fps(ks, 'example.com/application'), []);
  assert.deepEqual(await fps(ks, 'example.com'), []);
});

test('root keys apply to every name', async () => {
  const { ks } = fresh();
  await ks.add(a.armored, { root: true });
  await ks.add(b.armored, { prefix: 'example.org' });
  assert.deepEqual(await fps(ks, 'example.com/app'), [a.fingerprint]);
  assert.deepEqual(await fps(ks, 'example.org/app'), [a.fingerprint, b.fingerprint].sort());
});

test('system keys apply; an empty local file masks one, for the names its scope covers', async () => {
  const { ks, local, system } = fresh();
  place(system, 'root.d', a.fingerprint, a.armored);
  place(system, 'prefix.d/example.com', b.fingerprint, b.armored);
  assert.deepEqual(await fps(ks, 'example.com/app'), [a.fingerprint, b.fingerprint].sort());
  assert.deepEqual((await ks.keysFor('example.com/app')).map((k) => k.layer), ['system', 'system']);

  place(local, 'prefix.d/example.com/app', a.fingerprint, '');
  assert.deepEqual(await fps(ks, 'example.com/app'), [b.fingerprint]);
  assert.deepEqual(await fps(ks, 'example.com/app/x'), [b.fingerprint]);
  assert.deepEqual(await fps(ks, 'example.com/web'), [a.fingerprint, b.fingerprint].sort(), 'the mask covers only its prefix');

  place(local, 'root.d', b.fingerprint, '');
  assert.deepEqual(await fps(ks, 'example.com/web'), [a.fingerprint]);
});

test('list shows both layers, leaving out masked system keys', async () => {
  const { ks, local, system } = fresh();
  place(system, 'root.d', a.fingerprint, a.armored);
  place(system, 'prefix.d/example.com/app', b.fingerprint, b.binary);
  await ks.add(b.armored, { prefix: 'example.org' });
  const rows = (await ks.list()).map((k) => [k.fingerprint, k.scope, k.layer]);
  assert.deepEqual(rows, [
    [b.fingerprint, { prefix: 'example.org' }, 'local'],
    [a.fingerprint, { root: true }, 'system'],
    [b.fingerprint, { prefix: 'example.com/app' }, 'system'],
  ]);
  place(local, 'prefix.d/example.com', b.fingerprint, '');
  assert.deepEqual((await ks.list()).map((k) => k.layer + ':' + JSON.stringify(k.scope)), ['local:{"prefix":"example.org"}', 'system:{"root":true}']);
});

test('remove deletes a local key and masks a system one; a second remove finds nothing to do', async () => {
  const { ks, local, system } = fresh();
  place(system, 'root.d', a.fingerprint, a.armored);
  const added = await ks.add(b.armored, { prefix: 'example.com' });
  assert.deepEqual(await ks.remove(b.fingerprint.toUpperCase().match(/.{4}/g)!.join(' ')), { removed: [added.key.path], masked: [] });
  assert.equal(existsSync(added.key.path), false);

  const mask = join(local, 'trustedkeys', 'root.d', a.fingerprint);
  assert.deepEqual(await ks.remove(a.fingerprint, { root: true }), { removed: [], masked: [mask] });
  assert.equal(readFileSync(mask).length, 0);
  assert.ok(existsSync(join(system, 'trustedkeys', 'root.d', a.fingerprint)), 'the system layer is never written');
  assert.deepEqual(await fps(ks, 'example.com/app'), []);
  assert.deepEqual(await ks.remove(a.fingerprint), { removed: [], masked: [] });
});

test('remove in one scope leaves the key trusted in another', async () => {
  const { ks } = fresh();
  await ks.add(a.armored, { prefix: 'example.com' });
  await ks.add(a.armored, { prefix: 'example.org' });
  await ks.remove(a.fingerprint, { prefix: 'example.org' });
  assert.deepEqual(await fps(ks, 'example.com/app'), [a.fingerprint]);
  assert.deepEqual(await fps(ks, 'example.org/app'), []);
});

test('attack: a prefix with ".." cannot write outside prefix.d', async () => {
  const { ks, local } = fresh();
  for (const prefix of ['example.com/../../../../tmp/x', 'example.com/./app', 'example.com//app', '/etc']) {
    await assert.rejects(ks.add(a.armored, { prefix }), (err: unknown) => err instanceof UserError && /is not an image name prefix/.test(err.message));
  }
  assert.equal(existsSync(local), false);
});

test('attack: a key file planted under another key\'s fingerprint is refused, not trusted', async () => {
  const { ks, local } = fresh();
  const path = place(local, 'root.d', a.fingerprint, b.armored);
  await assert.rejects(ks.keysFor('example.com/app'), (err: unknown) => err instanceof UserError && err.message === `keystore: ${path} holds key ${b.fingerprint}, not the one its name says; rename or remove it`);
});

test('a file that is no key says which file and what to do', async () => {
  const { ks, local } = fresh();
  const path = place(local, 'prefix.d/example.com', a.fingerprint, 'hello\n');
  await assert.rejects(ks.keysFor('example.com/app'), (err: unknown) => err instanceof UserError && err.message.startsWith(`keystore: ${path} is not an OpenPGP public key (`));
});

test('a key file holding two keys is refused by add', async () => {
  const { ks } = fresh();
  await assert.rejects(ks.add(Buffer.concat([a.binary, b.binary]), { root: true }), /holds 2 keys; the keystore takes one at a time/);
});

test('keys CoreOS rkt stored as a whole keyring use the first key, as rkt does', async () => {
  const { ks, local } = fresh();
  place(local, 'root.d', a.fingerprint, Buffer.concat([a.binary, b.binary]));
  assert.deepEqual(await fps(ks, 'example.com/app'), [a.fingerprint]);
});

test('removing a local copy of a system key masks the system key too', async () => {
  const { ks, local, system } = fresh();
  place(system, 'root.d', a.fingerprint, a.armored);
  const copy = place(local, 'root.d', a.fingerprint, a.armored);
  assert.deepEqual(await ks.remove(a.fingerprint), { removed: [copy], masked: [copy] });
  assert.equal(readFileSync(copy).length, 0);
  assert.deepEqual(await fps(ks, 'example.com/app'), []);
});
