import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { assertEmbedsKoffi, installCopy, probeBundle } from './helpers.ts';
import { emptyDir, isRoot, runNode } from '../helpers/run.ts';

// The probe is a bundle built with dist/rkt's options that imports src/sys/ffi.ts: it
// proves that a single copied file, with no node_modules anywhere, can make syscalls.

const MESSAGE = /^rkt: this command needs the native FFI part \(koffi\), which cannot load on linux \S+: (.+); commands that only read images still work$/;

function cachedNatives(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => /^koffi-.*\.node$/.test(f));
}

test('a bundle that imports src/sys/ffi.ts embeds koffi for x64, armhf and arm64', async () => {
  assertEmbedsKoffi(await probeBundle());
});

test('a lone copy of the bundle calls libc getpid() through the embedded koffi', async (t) => {
  const dir = emptyDir(t);
  const probe = installCopy(await probeBundle(), dir);
  const cache = path.join(dir, 'cache');
  const r = runNode(probe, ['getpid'], { cwd: dir, env: { RKT_FFI_CACHE: cache } });
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  const { pid, getpid } = JSON.parse(r.stdout) as { pid: number; getpid: number };
  assert.equal(getpid, pid);
  const [name] = cachedNatives(cache);
  assert.match(name ?? '', new RegExp(`^koffi-[\\d.]+-linux_x64-[0-9a-f]{16}-uid${process.getuid?.()}\\.node$`));
  assert.equal(fs.statSync(cache).mode & 0o777, 0o700, 'a cache dir rkt creates is private');
});

test('the unpacked native part is reused, and rewritten when damaged', async (t) => {
  const dir = emptyDir(t);
  const probe = installCopy(await probeBundle(), dir);
  const env = { RKT_FFI_CACHE: path.join(dir, 'cache') };
  assert.equal(runNode(probe, ['getpid'], { cwd: dir, env }).status, 0);
  const file = path.join(env.RKT_FFI_CACHE, cachedNatives(env.RKT_FFI_CACHE)[0]!);
  const first = fs.statSync(file);

  assert.equal(runNode(probe, ['getpid'], { cwd: dir, env }).status, 0);
  assert.equal(fs.statSync(file).ino, first.ino, 'an intact file is not rewritten');

  // A power cut or a bad SD card sector: same name, wrong bytes.
  fs.writeFileSync(file, 'not an ELF file');
  const r = runNode(probe, ['getpid'], { cwd: dir, env });
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  assert.equal(fs.statSync(file).size, first.size);
});

test('commands without FFI work where the native part cannot be written, FFI ones fail in one line', { skip: !isRoot && 'needs root to run as nobody' }, async (t) => {
  const dir = emptyDir(t);
  const probe = installCopy(await probeBundle(), dir);
  const readOnly = path.join(dir, 'read-only');
  fs.mkdirSync(readOnly, { mode: 0o555 });
  fs.chmodSync(readOnly, 0o555);
  const opts = { cwd: dir, env: { RKT_FFI_CACHE: readOnly }, asNobody: true };

  const ffi = runNode(probe, ['getpid'], opts);
  assert.equal(ffi.status, 1);
  assert.equal(ffi.stdout, '');
  assert.equal(ffi.stderr.split('\n').length, 2, `one line: ${ffi.stderr}`);
  const reason = MESSAGE.exec(ffi.stderr.trimEnd())?.[1] ?? assert.fail(`unexpected message: ${ffi.stderr}`);
  assert.match(reason, /^cannot write to the FFI cache `\/.*\/read-only`: permission denied \(set RKT_FFI_CACHE to a writable directory\)$/);

  const status = runNode(probe, ['status'], opts);
  assert.equal(status.status, 0);
  assert.equal(JSON.parse(status.stdout).available, false);

  const plain = runNode(probe, ['log'], opts);
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(JSON.parse(plain.stderr).msg, 'probe warning', 'pino logs to stderr from the bundle');
  assert.deepEqual(cachedNatives(readOnly), []);
});

test('the loader refuses a cache dir that others can write to unless it is sticky', async (t) => {
  const dir = emptyDir(t);
  const probe = installCopy(await probeBundle(), dir);
  const open = path.join(dir, 'open');
  fs.mkdirSync(open);
  fs.chmodSync(open, 0o777);
  const refused = runNode(probe, ['getpid'], { cwd: dir, env: { RKT_FFI_CACHE: open } });
  assert.equal(refused.status, 1);
  assert.match(refused.stderr.trimEnd(), MESSAGE);
  assert.match(refused.stderr, /cache dir `.*\/open` is writable by others and not sticky/);
  assert.deepEqual(cachedNatives(open), []);

  // Like /tmp: others may create files there but cannot replace ours.
  fs.chmodSync(open, 0o1777);
  const sticky = runNode(probe, ['getpid'], { cwd: dir, env: { RKT_FFI_CACHE: open } });
  assert.equal(sticky.stderr, '');
  assert.equal(sticky.status, 0);
});

test('without RKT_FFI_CACHE the native part goes under $XDG_CACHE_HOME/rkt', async (t) => {
  const dir = emptyDir(t);
  const probe = installCopy(await probeBundle(), dir);
  const xdg = path.join(dir, 'xdg');
  const r = runNode(probe, ['getpid'], { cwd: dir, env: { XDG_CACHE_HOME: xdg } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(cachedNatives(path.join(xdg, 'rkt')).length, 1);
});
