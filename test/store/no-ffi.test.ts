import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { root } from '../helpers/run.ts';

// A Pi Zero's node cannot load koffi, and there the store locks through flock(1), makes
// FIFOs and device nodes with mknod(1) and syncs trees file by file. RKT_FFI=off makes this machine such
// a board: the store's own test files, rerun that way, prove the fallbacks do the job,
// with their real processes, kill -9 and gc.

const FILES = ['flock', 'verify-gc', 'concurrent', 'extract', 'extract-sync-tree'].map((f) => join('test/store', `${f}.test.ts`));

test('rkt version reports FFI unavailable under RKT_FFI=off, saying so', () => {
  const r = spawnSync(process.execPath, [join(root, 'dist/rkt'), 'version', '--format=json'], { env: { PATH: process.env.PATH, RKT_FFI: 'off' }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { ffi } = JSON.parse(r.stdout) as { ffi: { available: boolean; reason: string } };
  assert.equal(ffi.available, false);
  assert.match(ffi.reason, /: turned off by RKT_FFI=off; commands that only read images still work$/);
});

test(`the store tests pass without FFI (RKT_FFI=off): ${FILES.join(' ')}`, async () => {
  // NODE_TEST_CONTEXT would make the inner runner report to us in its binary protocol.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', ...FILES], { cwd: root, env: { ...env, RKT_FFI: 'off' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 0, out.split('\n').filter((l) => /^not ok|error:/.test(l.trim())).join('\n') || out.slice(-4000));
  assert.match(out, /^# fail 0$/m);
});
