import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:fs';
import { lstat, mkdir, readFile, readdir, rename, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { extractLayers } from '../../src/store/extract.ts';
import { TreeWriter } from '../../src/store/extract-entry.ts';
import { TreeRoot } from '../../src/store/extract-path.ts';
import { UserError } from '../../src/util/errors.ts';
import { aciTar, layer, tempDir } from './fixtures/aci-tar.ts';

// Each test replays one way an image (or someone racing the extraction) could try to
// make us write outside the tree, and checks the outside stays untouched.

const EXCL = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

async function setting(label: string): Promise<{ dest: string; outside: string }> {
  const dir = await tempDir(label);
  const outside = join(dir, 'outside');
  await mkdir(outside);
  const dest = join(dir, 'dest');
  await mkdir(dest);
  return { dest, outside };
}

async function writerFor(dest: string): Promise<{ writer: TreeWriter; root: TreeRoot }> {
  const root = TreeRoot.open(dest);
  return { writer: new TreeWriter(root, process.geteuid?.() === 0), root };
}

function refusedAs(message: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  };
}

test("a lower layer's symlink rootfs/etc -> outside does not carry an upper layer's etc/passwd outside", async () => {
  const { dest, outside } = await setting('attack-lower-symlink');
  const lower = aciTar('example.com/lower', [{ path: 'rootfs/etc', type: 'symlink', linkname: outside }]);
  const upper = aciTar('example.com/upper', [{ path: 'rootfs/etc/passwd', content: 'root::0:0::/:/bin/sh' }]);
  await extractLayers([layer('lower', 1, lower), layer('upper', 0, upper)], join(dest, 'tree'));
  assert.deepEqual(await readdir(outside), []);
  assert.ok((await lstat(join(dest, 'tree/rootfs/etc'))).isDirectory(), 'the symlink was replaced by a directory');
  assert.equal(await readFile(join(dest, 'tree/rootfs/etc/passwd'), 'utf8'), 'root::0:0::/:/bin/sh');
});

test('a symlink then a file through it in the same layer: the writer refuses the file', async () => {
  const { dest, outside } = await setting('attack-same-layer');
  const { writer, root } = await writerFor(dest);
  await writer.symlink('etc', outside, { mode: 0o777, uid: 0, gid: 0 });
  await assert.rejects(
    writer.file('etc/passwd', { mode: 0o644, uid: 0, gid: 0 }, [Buffer.from('owned')]),
    refusedAs(/^extract: "etc" is a symlink; refusing to write "etc\/passwd" beneath it$/),
  );
  await assert.rejects(writer.mkdir('etc/cron.d'), refusedAs(/"etc" is a symlink/));
  await assert.rejects(writer.symlink('etc/x', '/bin/sh', { mode: 0o777, uid: 0, gid: 0 }), refusedAs(/"etc" is a symlink/));
  root.close();
  assert.deepEqual(await readdir(outside), []);
});

test('a file planted where an entry goes is not written through, even a symlink to outside', async () => {
  const { dest, outside } = await setting('attack-planted-symlink');
  await symlink(join(outside, 'victim'), join(dest, 'passwd'));
  const { writer, root } = await writerFor(dest);
  await assert.rejects(writer.file('passwd', { mode: 0o644, uid: 0, gid: 0 }, [Buffer.from('owned')]), { code: 'EEXIST', path: 'passwd' });
  root.close();
  assert.deepEqual(await readdir(outside), []);
});

test('a hard link to a path outside is refused, by its string and through a symlink', async () => {
  const { dest, outside } = await setting('attack-hardlink-outside');
  await writeFile(join(outside, 'shadow'), 'secret');
  const { writer, root } = await writerFor(dest);
  await assert.rejects(writer.link('shadow', '../outside/shadow', 'file'), refusedAs(/^extract: path "\.\.\/outside\/shadow" escapes the image root$/));
  await assert.rejects(writer.link('shadow', join(outside, 'shadow'), 'file'), refusedAs(/is an absolute path$/));
  await writer.symlink('up', outside, { mode: 0o777, uid: 0, gid: 0 });
  await assert.rejects(writer.link('shadow', 'up/shadow', 'file'), refusedAs(/^extract: "up" is a symlink; refusing to write "up\/shadow" beneath it$/));
  root.close();
  assert.deepEqual(await readdir(dest), ['up']);
  assert.equal((await lstat(join(outside, 'shadow'))).nlink, 1);
});

test('race: a directory swapped for a symlink after its check lands the file in the directory, not outside', async () => {
  const { dest, outside } = await setting('attack-swap-after-check');
  await mkdir(join(dest, 'd'));
  const root = TreeRoot.open(dest);
  const swap = async () => {
    await rename(join(dest, 'd'), join(dest, 'd.moved'));
    await symlink(outside, join(dest, 'd'));
  };
  // The control: a path-based write after the same swap does land outside.
  await root.at('d/naive', async () => {
    await swap();
    await writeFile(join(dest, 'd/naive'), 'owned', { flag: EXCL });
  });
  assert.deepEqual(await readdir(outside), ['naive'], 'the attack setup does reach outside');
  await restore(dest);

  await root.at('d/f', async (path) => {
    await swap();
    await writeFile(path, 'kept in', { flag: EXCL });
  });
  root.close();
  assert.deepEqual(await readdir(outside), ['naive']);
  assert.equal(await readFile(join(dest, 'd.moved/f'), 'utf8'), 'kept in');
});

async function restore(dest: string): Promise<void> {
  await unlink(join(dest, 'd'));
  await rename(join(dest, 'd.moved'), join(dest, 'd'));
}

test('race: a process swapping a directory for a symlink during a big extraction never gets a file outside', async () => {
  const { dest, outside } = await setting('attack-swap-loop');
  // The outside mirrors the tree, so that following the symlink would find a and b there.
  await mkdir(join(outside, 'a'));
  await mkdir(join(outside, 'b'));
  // Alternating between two directories beneath d makes every entry walk through d anew.
  const members = Array.from({ length: 3000 }, (_, i) => ({ path: `rootfs/d/${'ab'[i % 2]}/f${i}`, content: `file ${i}` }));
  const dirs = ['rootfs/d', 'rootfs/d/a', 'rootfs/d/b'].map((path) => ({ path, type: 'directory' as const }));
  const tar = aciTar('example.com/big', [...dirs, ...members]);
  const tree = join(dest, 'tree');
  const d = join(tree, 'rootfs/d');
  const swapper = await startSwapper(d, `${d}.sym`, outside);
  const result = await extractLayers([layer('big', 0, tar)], tree).then(
    () => 'extracted',
    (err: unknown) => String(err),
  );
  // The control: while the same swapping goes on, a path-based write does reach outside.
  let naive = 0;
  while ((await readdir(outside)).length === 2 && naive < 100_000) await writeFile(join(d, `naive${naive++}`), 'x').catch(() => {});
  const swaps = await swapper.stop();
  assert.ok(swaps > 0, 'the swapper never ran');
  const found = (await readdir(outside, { recursive: true })).sort();
  assert.equal(found.length, 3, `the extraction wrote outside: ${found.slice(0, 5).join(' ')}... (it ended with: ${result})`);
  assert.match(found[2]!, /^naive\d+$/, 'the swapping never exposed outside to a path-based write');
  assert.match(result, /^UserError: extract: "d" (is a symlink|was replaced while it was being extracted); refusing to write "d\/[ab](\/f\d+)?" beneath it$|^extracted$/);
});

async function startSwapper(dir: string, link: string, target: string): Promise<{ stop(): Promise<number> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/store/fixtures/swap-loop.ts', dir, link, target], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, 'ready');
  return {
    async stop() {
      child.stdin.end();
      const swaps = Number((await lines.next()).value);
      await once(child, 'exit');
      return swaps;
    },
  };
}
