import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { root } from '../helpers/run.ts';
import { serve, testPki } from '../helpers/https-server.ts';
import { Gpg, type GpgKey } from './helpers.ts';

// `rkt trust` as users and scripts meet it: the real command from source, with temp
// --local-config/--system-config; the review prompt on a real pseudo-terminal made by
// util-linux `script`.

const RKT = join(root, 'src/cli/rkt.ts');
const tsx = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;

let dir: string;
let a: GpgKey;
let keyFile: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'trust-cli-'));
  a = new Gpg(join(dir, 'gnupg')).genKey('Alice <a@example.com>');
  keyFile = join(dir, 'alice.asc');
  writeFileSync(keyFile, a.armored);
});

after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function configs(): { local: string; flags: string[] } {
  const base = join(dir, `case-${n++}`);
  const local = join(base, 'etc');
  return { local, flags: [`--local-config=${local}`, `--system-config=${join(base, 'usr')}`, `--dir=${join(base, 'var')}`] };
}

function rkt(args: string[], input = '') {
  return spawnSync(process.execPath, ['--import', tsx, RKT, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    input,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs rkt on a pseudo-terminal (util-linux script), typing `typed` into it. */
function rktOnTty(args: string[], typed: string) {
  const command = [process.execPath, '--import', tsx, RKT, ...args].map(quote).join(' ');
  return spawnSync('script', ['-qec', command, '/dev/null'], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'dumb' },
    input: typed,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

const spaced = (fp: string): string => {
  const groups = fp.toUpperCase().match(/.{4}/g)!;
  return `${groups.slice(0, 5).join(' ')}  ${groups.slice(5).join(' ')}`;
};

test('without a terminal and without --skip-fingerprint-review it fails, naming the flag', () => {
  const { local, flags } = configs();
  const r = rkt(['trust', '--prefix=example.com/app', keyFile, ...flags]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /^rkt: trust: no terminal to review key .* on; check the fingerprint another way and pass --skip-fingerprint-review$/m);
  assert.ok(r.stderr.includes(spaced(a.fingerprint)), r.stderr);
  assert.equal(existsSync(join(local, 'trustedkeys')), false);
});

test('--skip-fingerprint-review trusts; running it again succeeds and says already trusted', () => {
  const { local, flags } = configs();
  const path = join(local, 'trustedkeys/prefix.d/example.com/app', a.fingerprint);
  const r = rkt(['trust', '--prefix=example.com/app', '--skip-fingerprint-review', keyFile, ...flags]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `Added key ${a.fingerprint} for prefix example.com/app at ${path}\n`);
  assert.ok(existsSync(path));
  const again = rkt(['trust', '--prefix=example.com/app', '--skip-fingerprint-review', keyFile, ...flags]);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(again.stdout, `Key ${a.fingerprint} is already trusted for prefix example.com/app at ${path}\n`);
});

test('on a terminal the prompt shows the fingerprint, and "y" trusts', () => {
  const { local, flags } = configs();
  const r = rktOnTty(['trust', '--root', keyFile, ...flags], 'y\n');
  assert.equal(r.status, 0, r.stdout);
  assert.ok(r.stdout.includes(`gpg key fingerprint is: ${spaced(a.fingerprint)}`), r.stdout);
  assert.match(r.stdout, /Are you sure you want to trust this key \(yes\/no\)\?/);
  assert.match(r.stdout, /Added key [0-9a-f]{40} for all images \(root\)/);
  assert.ok(existsSync(join(local, 'trustedkeys/root.d', a.fingerprint)));
});

test('on a terminal "n" declines: nothing is written and the exit status says so', () => {
  const { local, flags } = configs();
  const r = rktOnTty(['trust', '--root', keyFile, ...flags], 'n\n');
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stdout, /rkt: trust: key [0-9a-f]{40} not trusted: answered no/);
  assert.equal(existsSync(join(local, 'trustedkeys/root.d', a.fingerprint)), false);
});

test('on a terminal Ctrl-C at the prompt answers no instead of leaving the question open', async () => {
  const { local, flags } = configs();
  const command = [process.execPath, '--import', tsx, RKT, 'trust', '--root', keyFile, ...flags].map(quote).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'dumb' } });
  let shown = '';
  let typed = false;
  // Typed once, when the question is up: earlier, the terminal is not yet in raw mode
  // and would turn Ctrl-C into a signal rather than a keypress.
  child.stdout.on('data', (d: Buffer) => {
    shown += d.toString();
    if (typed || !shown.includes('(yes/no)?')) return;
    typed = true;
    child.stdin.write('\x03');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [status] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  assert.equal(status, 1, shown);
  assert.match(shown, /answered no/);
  assert.equal(existsSync(join(local, 'trustedkeys')), false);
});

test('--list --format json, and removal', () => {
  const { local, flags } = configs();
  assert.equal(rkt(['trust', '--prefix=example.com', '--skip-fingerprint-review', keyFile, ...flags]).status, 0);
  const list = rkt(['trust', '--list', '--format', 'json', ...flags]);
  assert.equal(list.status, 0, list.stderr);
  const path = join(local, 'trustedkeys/prefix.d/example.com', a.fingerprint);
  assert.deepEqual(JSON.parse(list.stdout), [{ fingerprint: a.fingerprint, userIds: [a.uid], scope: { prefix: 'example.com' }, layer: 'local', path }]);
  const text = rkt(['trust', '--list', ...flags]);
  assert.match(text.stdout, new RegExp(`^FINGERPRINT +SCOPE +LAYER +USER IDS\n${a.fingerprint}  example.com +local +Alice <a@example.com>\n$`));

  const removed = rkt(['trust', '--remove', spaced(a.fingerprint), ...flags]);
  assert.equal(removed.status, 0, removed.stderr);
  assert.equal(removed.stdout, `Removed ${path}\n`);
  assert.deepEqual(JSON.parse(rkt(['trust', '--list', '--format=json', ...flags]).stdout), []);
  assert.match(rkt(['trust', '--remove', a.fingerprint, ...flags]).stdout, /was not trusted; nothing to remove/);
});

test('removal for a prefix that a root key still covers fails and says where the key is', () => {
  const { local, flags } = configs();
  assert.equal(rkt(['trust', '--root', '--skip-fingerprint-review', keyFile, ...flags]).status, 0);
  const r = rkt(['trust', '--remove', a.fingerprint, '--prefix=example.com/app', ...flags]);
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    `rkt: trust: key ${a.fingerprint} still applies to prefix example.com/app: it is trusted for all images (root) (${join(local, 'trustedkeys/root.d', a.fingerprint)}); remove it there with --root\n`,
  );
});

test('usage mistakes exit 2 with one line', () => {
  const { flags } = configs();
  for (const args of [
    ['trust', keyFile],
    ['trust', '--root', '--prefix=example.com', keyFile],
    ['trust', '--list', '--root'],
    ['trust', '--prefix=Example.com', keyFile],
    ['trust', '--remove', 'abc'],
  ]) {
    const r = rkt([...args, ...flags]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('--prefix with no key file discovers the key on a private-CA HTTPS server (--ca-file)', async (t) => {
  const server = await serve(true, (req, res) => {
    if (req.url === '/app?ac-discovery=1') {
      res.end('<meta name="ac-discovery-pubkeys" content="example.com/app https://example.com/keys/app.asc">');
    } else if (req.url === '/keys/app.asc') {
      res.end(a.armored);
    } else {
      res.writeHead(404).end();
    }
  });
  t.after(() => server.close());
  const { local, flags } = configs();
  const [resolve] = Object.entries(server.resolve()).map(([from, to]) => `--resolve=${from}=${to}`);
  const args = ['trust', '--prefix=example.com/app', '--skip-fingerprint-review', resolve!, ...flags];
  // The server is in this process: run rkt without blocking the event loop.
  const run = async (extra: string[]) => {
    const child = spawn(process.execPath, ['--import', tsx, RKT, ...args, ...extra], { cwd: dir, env: { PATH: process.env.PATH ?? '' } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const [status] = await once(child, 'close');
    return { status, stderr };
  };
  const untrusted = await run([]);
  assert.equal(untrusted.status, 1, untrusted.stderr);
  assert.match(untrusted.stderr, /UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
  const trusted = await run([`--ca-file=${testPki().caFile}`]);
  assert.equal(trusted.status, 0, trusted.stderr);
  assert.ok(existsSync(join(local, 'trustedkeys/prefix.d/example.com/app', a.fingerprint)));
});
