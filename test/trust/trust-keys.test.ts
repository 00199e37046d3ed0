import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { RktContext } from '../../src/config/context.ts';
import type { InsecureCheck } from '../../src/config/insecure.ts';
import { discoverPubkeys } from '../../src/fetch/discover.ts';
import { Keystore } from '../../src/trust/keystore.ts';
import { trustKeys, type TrustIo, type TrustRequest } from '../../src/trust/trust-keys.ts';
import { ExitCode, UserError } from '../../src/util/errors.ts';
import { serve, testPki, type TestServer } from '../helpers/https-server.ts';
import { Gpg, type GpgKey } from './helpers.ts';

// `rkt trust` as a library call, against real HTTPS (and HTTP) servers on 127.0.0.1
// that answer as example.com through the `resolve` option, with the test CA.

let dir: string;
let a: GpgKey;
let b: GpgKey;
let https: TestServer;
let plain: TestServer;

const meta = (prefix: string, url: string): string => `<html><head><meta name="ac-discovery-pubkeys" content="${prefix} ${url}"></head></html>`;

function routes(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const pages: Record<string, string | Buffer> = {
    '/app?ac-discovery=1': meta('example.com/app', 'https://example.com/keys/app.asc'),
    '/ring?ac-discovery=1': meta('example.com/ring', 'https://example.com/keys/ring.gpg'),
    '/plain?ac-discovery=1': meta('example.com/plain', 'http://example.com/keys/app.asc'),
    '/keys/app.asc': a.armored,
    '/keys/ring.gpg': Buffer.concat([a.binary, b.binary]),
  };
  const body = pages[`${url.pathname}${url.search}`];
  if (body === undefined) res.writeHead(404).end();
  else res.writeHead(200).end(body);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trust-keys-'));
  const gpg = new Gpg(join(dir, 'gnupg'));
  a = gpg.genKey('Alice <a@example.com>');
  b = gpg.genKey('Bob <b@example.com>');
  https = await serve(true, routes);
  plain = await serve(false, routes);
});

after(() => {
  https.close();
  plain.close();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
function setup(opts: { insecure?: InsecureCheck[]; trustKeysFromHttps?: boolean } = {}) {
  const base = join(dir, `case-${n++}`);
  const warnings: string[] = [];
  const ctx: RktContext = {
    dir: join(base, 'var'),
    localConfig: join(base, 'etc'),
    systemConfig: join(base, 'usr'),
    insecure: new Set(opts.insecure ?? []),
    trustKeysFromHttps: opts.trustKeysFromHttps ?? false,
    warn: (line) => warnings.push(line),
  };
  const output = new PassThrough();
  let shown = '';
  output.on('data', (d: Buffer) => (shown += d.toString()));
  // Not a terminal: trustKeys must never ask on it.
  const io: TrustIo = { output, input: Readable.from([]) };
  const net = { resolve: { ...https.resolve(), ...plain.resolve() }, ca: testPki().ca };
  return {
    ctx,
    warnings,
    shown: () => shown,
    keystore: new Keystore(ctx),
    trust: (req: Partial<TrustRequest>) => trustKeys(ctx, { scope: { prefix: 'example.com/app' }, keys: [], skipReview: false, ...req }, net, io),
  };
}

test('discoverPubkeys walks up from the prefix to the page with ac-discovery-pubkeys', async () => {
  const opts = { resolve: https.resolve(), ca: testPki().ca };
  https.seen.length = 0;
  assert.deepEqual(await discoverPubkeys('example.com/app/x', opts), ['https://example.com/keys/app.asc']);
  assert.deepEqual(https.seen, ['example.com /app/x', 'example.com /app']);
  await assert.rejects(discoverPubkeys('example.com/none', opts), /^UserError: discovery: no ac-discovery-pubkeys meta tag for example\.com\/none found at https:\/\/example\.com\/none\?ac-discovery=1 \(404\), https:\/\/example\.com\?ac-discovery=1 \(404\)$/);
});

test('--prefix with no key discovers it; without a terminal or --skip-fingerprint-review it fails and writes nothing', async () => {
  const s = setup();
  await assert.rejects(s.trust({}), (err: unknown) => err instanceof UserError && err.exitCode === ExitCode.usage && /pass --skip-fingerprint-review$/.test(err.message));
  assert.match(s.shown(), new RegExp(`gpg key fingerprint is: ${a.fingerprint.slice(0, 4).toUpperCase()} `));
  assert.deepEqual(await s.keystore.list(), []);
});

test('--skip-fingerprint-review trusts the discovered key; a second run says it is already trusted', async () => {
  const s = setup();
  const [first] = await s.trust({ skipReview: true });
  assert.equal(first?.status, 'added');
  assert.equal(first?.location, 'https://example.com/keys/app.asc');
  assert.equal(first?.key?.path, join(s.ctx.localConfig, 'trustedkeys/prefix.d/example.com/app', a.fingerprint));
  const [again] = await s.trust({ skipReview: true });
  assert.deepEqual([again?.status, again?.key?.path], ['already-trusted', first?.key?.path]);
});

test('--trust-keys-from-https trusts a key discovered over verified HTTPS without asking', async () => {
  const s = setup({ trustKeysFromHttps: true });
  assert.deepEqual((await s.trust({})).map((o) => o.status), ['added']);
  assert.match(s.shown(), /without fingerprint review \(--trust-keys-from-https\)/);
  // A key named on the command line is not "discovered": it is still reviewed.
  await assert.rejects(s.trust({ scope: { prefix: 'example.com/web' }, keys: ['https://example.com/keys/app.asc'] }), /--skip-fingerprint-review/);
});

test('every key of a keyring is reviewed and stored on its own', async () => {
  const s = setup();
  const outcomes = await s.trust({ scope: { prefix: 'example.com/ring' }, skipReview: true });
  assert.deepEqual(outcomes.map((o) => o.fingerprint), [a.fingerprint, b.fingerprint]);
  assert.deepEqual(readdirSync(join(s.ctx.localConfig, 'trustedkeys/prefix.d/example.com/ring')).sort(), [a.fingerprint, b.fingerprint].sort());
});

test('a plain-HTTP key is refused unless --insecure-options=pubkey, which is announced', async () => {
  const s = setup();
  await assert.rejects(s.trust({ keys: ['http://example.com/keys/app.asc'], skipReview: true }), /is plain HTTP, .*use https:\/\/ or --insecure-options=pubkey$/);
  await assert.rejects(s.trust({ scope: { prefix: 'example.com/plain' }, skipReview: true }), /is plain HTTP/);
  assert.deepEqual(s.warnings, []);

  const insecure = setup({ insecure: ['pubkey'], trustKeysFromHttps: true });
  assert.deepEqual((await insecure.trust({ keys: ['http://example.com/keys/app.asc'], skipReview: true })).map((o) => o.status), ['added']);
  assert.deepEqual(insecure.warnings, ['warning: --insecure-options=pubkey: public keys are fetched without verification']);
  // With HTTP allowed on the way, --trust-keys-from-https vouches for nothing.
  await assert.rejects(insecure.trust({ scope: { prefix: 'example.com/plain' } }), /--skip-fingerprint-review/);
});

test('a key file is read from disk, armored or binary', async () => {
  const s = setup();
  const file = join(dir, 'b.gpg');
  writeFileSync(file, b.binary);
  const [outcome] = await s.trust({ scope: { root: true }, keys: [file], skipReview: true });
  assert.equal(outcome?.key?.path, join(s.ctx.localConfig, 'trustedkeys/root.d', b.fingerprint));
  await assert.rejects(s.trust({ keys: [join(dir, 'missing.asc')], skipReview: true }), /^UserError: trust: cannot read key file .*missing\.asc: no such file$/);
});

test('--root is never discovered', async () => {
  const s = setup();
  await assert.rejects(s.trust({ scope: { root: true } }), (err: unknown) => err instanceof UserError && err.exitCode === ExitCode.usage && /--root needs a key file or URL/.test(err.message));
  assert.equal(existsSync(s.ctx.localConfig), false);
});
