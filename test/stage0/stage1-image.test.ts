import assert from 'node:assert/strict';
import { chmodSync, createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { packAci } from '../../src/appc/aci-writer.ts';
import { detectHostArch } from '../../src/appc/arch.ts';
import type { RktContext } from '../../src/config/context.ts';
import { chooseStage1 } from '../../src/stage0/stage1-image.ts';
import { Store } from '../../src/store/store.ts';
import { emptyDir } from '../helpers/run.ts';

// A stage1 file (the default one beside dist/rkt, or --stage1-path) is stored once: later
// pods take its image from <dir>/cache/stage1-files.json, by the file's identity, without
// reading it, until the file changes.

const host = detectHostArch();

/** A stage1 ACI at `file` with `init` as its init's bytes. */
async function stage1Aci(file: string, name: string, init: string): Promise<void> {
  const layout = `${file}.layout`;
  rmSync(layout, { recursive: true, force: true });
  mkdirSync(join(layout, 'rootfs'), { recursive: true });
  const annotations = [
    { name: 'coreos.com/rkt/stage1/interface-version', value: '1' },
    ...['run', 'enter', 'stop', 'gc'].map((e) => ({ name: `coreos.com/rkt/stage1/${e}`, value: '/init' })),
  ];
  const labels = [{ name: 'os', value: 'linux' }, { name: 'arch', value: host.arch }];
  writeFileSync(join(layout, 'manifest'), JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name, labels, annotations }));
  writeFileSync(join(layout, 'rootfs', 'init'), init);
  chmodSync(join(layout, 'rootfs', 'init'), 0o755);
  await pipeline(packAci(layout, { sourceDateEpoch: 1_700_000_000 }), createWriteStream(file));
}

test('a stage1 file is stored once, then known by its identity until it changes', async (t) => {
  const dir = emptyDir(t);
  const ctx: RktContext = {
    dir: join(dir, 'data'),
    localConfig: join(dir, 'etc'),
    systemConfig: join(dir, 'lib'),
    insecure: new Set(),
    trustKeysFromHttps: false,
    warn: () => undefined,
  };
  const store = await Store.open(ctx.dir);
  const choose = async (path: string) => (await chooseStage1(ctx, store, { path }, { pullPolicy: 'never' }, host)).stage1.imageId;
  const cache = join(ctx.dir, 'cache', 'stage1-files.json');
  const known = (): Record<string, { id: string }> => (existsSync(cache) ? JSON.parse(readFileSync(cache, 'utf8')) : {});
  const file = join(dir, 'stage1.aci');
  const other = join(dir, 'other.aci');
  await stage1Aci(file, 'rkt-arm/stage1', 'init 1');
  await stage1Aci(other, 'example.com/stage1', 'another init');

  const first = await choose(file);
  assert.equal(known()[file], undefined, 'a file written just now may be written again within one tick of its times');
  await sleep(2100);
  assert.equal(await choose(file), first);
  assert.equal(known()[file]?.id, first);

  // Pointed at another stored stage1, the entry wins over the file's contents: it is not read.
  const otherId = await choose(other);
  writeFileSync(cache, JSON.stringify({ ...known(), [file]: { ...known()[file], id: otherId } }));
  assert.equal(await choose(file), otherId);

  await stage1Aci(file, 'rkt-arm/stage1', 'init 2');
  const changed = await choose(file);
  assert.notEqual(changed, first);
  assert.notEqual(changed, otherId);
});
