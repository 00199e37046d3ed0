import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Metafile } from 'esbuild';
import { commandIndex } from '../../src/cli/rkt/global.ts';
import { emptyDir, root, runNode } from '../helpers/run.ts';

// Start-up is most of what `rkt run` costs a Pi: dist/rkt evaluates at start only what
// the command named needs, and a stored image runs without the network, openpgp or the
// ACI reader. These checks read dist/rkt's metafile, where esbuild records each import
// with its kind: only static imports are evaluated before the code that needs them.

const meta = (): Metafile => JSON.parse(fs.readFileSync(path.join(root, 'dist/rkt.meta.json'), 'utf8')) as Metafile;

/** The inputs a module's static imports reach: what is evaluated as soon as it is. */
function staticClosure(inputs: Metafile['inputs'], entry: string): Set<string> {
  const seen = new Set([entry]);
  const queue = [entry];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const imp of inputs[next]?.imports ?? []) {
      if (imp.kind !== 'import-statement' || seen.has(imp.path)) continue;
      seen.add(imp.path);
      queue.push(imp.path);
    }
  }
  return seen;
}

const matching = (closure: Set<string>, pattern: RegExp) => [...closure].filter((p) => pattern.test(p));

test('rkt evaluates no command module at start-up: each is imported when its command is named', () => {
  const closure = staticClosure(meta().inputs, 'src/cli/rkt.ts');
  assert.deepEqual(matching(closure, /^src\/(cli\/rkt\/(?!commands|global)|stage0|store|pod|fetch|trust)\//), []);
});

test('rkt run of a stored image evaluates no openpgp, ACI reader, decompressor, network or pino', () => {
  const closure = staticClosure(meta().inputs, 'src/cli/rkt/run.ts');
  assert.ok(closure.has('src/stage0/prepare.ts'), 'not the closure of rkt run');
  const heavy = /node_modules\/(openpgp|tar-stream|xz-decompress|seek-bzip|pino|string-width)\/|src\/appc\/(aci-reader|compression)\.ts|node:(https?|tls|zlib|worker_threads)$/;
  assert.deepEqual(matching(closure, heavy), []);
});

test('rkt version loads no network, thread or compression module of Node', (t) => {
  const dir = emptyDir(t);
  const hook = path.join(dir, 'loaded.cjs');
  fs.writeFileSync(hook, `process.on('exit', () => process.stderr.write(JSON.stringify(process.moduleLoadList)));\n`);
  const version = () => runNode(path.join(root, 'dist/rkt'), ['version'], { cwd: dir, env: { NODE_OPTIONS: `--require=${hook}`, RKT_FFI_CACHE: path.join(dir, 'ffi') } });
  // The first run unpacks koffi's native part into the empty cache, which takes zlib.
  assert.equal(version().status, 0);
  const r = version();
  assert.equal(r.status, 0, r.stderr);
  const loaded = (JSON.parse(r.stderr) as string[]).filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
  assert.deepEqual(loaded.filter((m) => /^(https?|tls|zlib|worker_threads|child_process|readline)$/.test(m)), []);
});

test('the command word is found after global flags and their values', () => {
  assert.equal(commandIndex(['run', 'img']), 0);
  assert.equal(commandIndex(['--dir', '/d', '--debug', '--insecure-options=image', 'run', '--net=none', 'img']), 4);
  assert.equal(commandIndex(['--local-config', 'run', 'version']), 2, 'a value that is a command word is still a value');
  assert.equal(commandIndex(['--help']), -1);
});

test('every command of rkt --help loads as the command it is listed as', (t) => {
  const dir = emptyDir(t);
  const rkt = (args: string[]) => runNode(path.join(root, 'dist/rkt'), args, { cwd: dir });
  const help = rkt(['--help']);
  assert.equal(help.status, 0, help.stderr);
  const commands = help.stdout.split('\nCommands:\n')[1]?.split('\n\n')[0] ?? '';
  const words = [...commands.matchAll(/^ {2}rkt ([a-z-]+)/gm)].map((m) => m[1]!);
  assert.ok(words.includes('run') && words.includes('version') && words.length >= 14, help.stdout);
  for (const word of words) {
    const r = rkt(['--dir', dir, word, '--help']);
    assert.equal(r.status, 0, `${word}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^rkt ${word}\\b`), word);
  }
});
