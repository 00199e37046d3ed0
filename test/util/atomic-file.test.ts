import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { test } from 'node:test';
import { writeDataAtomic, writeFileAtomic } from '../../src/util/atomic-file.ts';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('writes the whole stream under the final name and nothing else', async (t) => {
  const dir = tempDir(t);
  await writeFileAtomic(path.join(dir, 'out'), Readable.from([Buffer.from('a'), Buffer.from('b')]));
  assert.deepEqual(fs.readdirSync(dir), ['out']);
  assert.equal(fs.readFileSync(path.join(dir, 'out'), 'utf8'), 'ab');
});

test('a failing stage reports its own error, not EBADF, and leaves the old file and no temporary', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'out');
  fs.writeFileSync(file, 'old');
  const failing = new Transform({
    transform(chunk, _enc, done) {
      done(null, chunk);
    },
    flush(done) {
      done(new Error('content does not match its ID'));
    },
  });
  const data = Readable.from([Buffer.alloc(1 << 20, 1), Buffer.alloc(1 << 20, 2)]);
  await assert.rejects(writeFileAtomic(file, data, [failing]), /^Error: content does not match its ID$/);
  assert.deepEqual(fs.readdirSync(dir), ['out']);
  assert.equal(fs.readFileSync(file, 'utf8'), 'old');
});

test('writeDataAtomic replaces a file with data in memory, with its mode, leaving no temporary', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'out');
  fs.writeFileSync(file, 'old');
  await writeDataAtomic(file, '{"new":true}\n', { mode: 0o600 });
  assert.deepEqual(fs.readdirSync(dir), ['out']);
  assert.equal(fs.readFileSync(file, 'utf8'), '{"new":true}\n');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  await assert.rejects(writeDataAtomic(path.join(dir, 'missing', 'out'), 'x'), { code: 'ENOENT' });
  assert.deepEqual(fs.readdirSync(dir), ['out']);
});
