import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planRender, renderOrder, renderSteps } from '../../src/appc/render.ts';
import type { EntryType, RenderEntry, RenderLayer, RenderPlan } from '../../src/appc/render.ts';
import { UserError } from '../../src/util/errors.ts';

const graph = (edges: Record<string, string[]>) => (n: string) => edges[n] ?? [];
const self = (n: string) => n;

test('render order is lowest first: A -> [B, C], C -> [D] gives B, D, C, A', () => {
  assert.deepEqual(renderOrder('A', graph({ A: ['B', 'C'], C: ['D'] }), self), ['B', 'D', 'C', 'A']);
});

test('an image reached twice in a diamond is laid down twice, as the spec says: D, B, D, C, A', () => {
  const steps = renderSteps('A', graph({ A: ['B', 'C'], B: ['D'], C: ['D'] }), self);
  assert.deepEqual(
    steps.map((s) => `${s.image}${s.depth}`),
    ['D2', 'B1', 'D2', 'C1', 'A0'],
  );
});

test('a dependency cycle is an error naming the cycle', () => {
  const deps = graph({ a: ['b'], b: ['c'], c: ['b'] });
  assert.throws(
    () => renderOrder('a', deps, self),
    (err: unknown) => err instanceof UserError && err.message === 'render: dependency cycle: b -> c -> b',
  );
  assert.throws(() => renderOrder('a', graph({ a: ['a'] }), self), /dependency cycle: a -> a$/);
});

test('cycle detection uses the key, not object identity', () => {
  type Img = { name: string; deps: string[] };
  const imgs: Record<string, () => Img> = {
    x: () => ({ name: 'x', deps: ['y'] }),
    y: () => ({ name: 'y', deps: ['x'] }),
  };
  assert.throws(
    () => renderOrder(imgs.x!(), (i) => i.deps.map((d) => imgs[d]!()), (i) => i.name),
    /cycle: x -> y -> x/,
  );
});

// Layers from a compact description: "path" is a file, "path/" a directory,
// "path@" a symlink, "path=>target" a hard link.
function layer(id: string, depth: number, paths: string[], pathWhitelist: string[] = []): RenderLayer {
  return { id, depth, pathWhitelist, entries: paths.map(entry) };
}

function entry(spec: string): RenderEntry {
  if (spec.includes('=>')) {
    const [path, linkname] = spec.split('=>') as [string, string];
    return { path, type: 'link', linkname };
  }
  if (spec.endsWith('/')) return { path: spec.slice(0, -1), type: 'directory' };
  if (spec.endsWith('@')) return { path: spec.slice(0, -1), type: 'symlink' };
  return { path: spec, type: 'file' };
}

/** path -> "layerIndex:type" for compact assertions. */
function providers(plan: RenderPlan): Record<string, string> {
  return Object.fromEntries(plan.entries.map((e) => [e.path, `${e.layer}:${e.type}`]));
}

function assertNoPathBeneathANonDirectory(plan: RenderPlan): void {
  const types = new Map<string, EntryType>(plan.entries.map((e) => [e.path, e.type]));
  for (const d of plan.implicitDirs) types.set(d, 'directory');
  for (const e of plan.entries) {
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      assert.equal(types.get(parent), 'directory', `${e.path} lies beneath ${parent}`);
    }
  }
}

test('upper layers win, and each path is written once', () => {
  const plan = planRender([layer('base', 1, ['etc/', 'etc/os-release', 'etc/hosts']), layer('app', 0, ['etc/', 'etc/hosts'])]);
  assert.deepEqual(providers(plan), { etc: '1:directory', 'etc/hosts': '1:file', 'etc/os-release': '0:file' });
  assert.deepEqual([...plan.byLayer[0]!.keys()], ['etc/os-release']);
  assert.deepEqual(plan.implicitDirs, []);
});

test("an image's own whitelist filters its own non-directories and keeps its directories", () => {
  const plan = planRender([layer('app', 0, ['bin/', 'bin/app', 'bin/debug', 'var/', 'var/cache/'], ['/bin/app'])]);
  assert.deepEqual(providers(plan), {
    bin: '0:directory',
    'bin/app': '0:file',
    var: '0:directory',
    'var/cache': '0:directory',
  });
});

test('an upper whitelist filters everything beneath, keeping the parents of listed paths', () => {
  const base = layer('base', 1, ['tmp/', 'usr/', 'usr/lib/', 'usr/lib/libc.so', 'usr/lib/libz.so', 'usr/share/', 'etc/systemd/system/', 'etc/systemd/system/x.service']);
  const app = layer('app', 0, ['app'], ['/app', '/usr/lib/libc.so', '/etc/systemd/system/']);
  const plan = planRender([base, app]);
  assert.deepEqual(providers(plan), {
    app: '1:file',
    'etc/systemd/system': '0:directory',
    usr: '0:directory',
    'usr/lib': '0:directory',
    'usr/lib/libc.so': '0:file',
  });
  // "etc" and "etc/systemd" had no entry of their own in base.
  assert.deepEqual(plan.implicitDirs, ['etc', 'etc/systemd']);
  assert.equal(plan.entries.find((e) => e.path === 'etc'), undefined);
});

test('a whitelist filters only its own branch of a diamond', () => {
  // A -> [B, C], B -> [D], C -> [D]: render order D, B, D, C, A. C lists only c.
  const d = ['shared'];
  const plan = planRender([
    layer('D', 2, d),
    layer('B', 1, ['b']),
    layer('D', 2, d),
    layer('C', 1, ['c'], ['/c']),
    layer('A', 0, ['a']),
  ]);
  // D under C loses "shared" to C's whitelist; D under B still provides it.
  assert.deepEqual(providers(plan), { a: '4:file', b: '1:file', c: '3:file', shared: '0:file' });
});

test('every whitelist above a layer applies, not only the topmost', () => {
  const plan = planRender([
    layer('D', 2, ['x', 'y']),
    layer('C', 1, [], ['/x']),
    layer('A', 0, [], ['/x', '/y']),
  ]);
  assert.deepEqual(providers(plan), { x: '0:file' });
});

test('a lower symlink under an upper entry is replaced by a directory, never followed', () => {
  const plan = planRender([layer('base', 1, ['lib@', 'usr/', 'usr/lib/']), layer('app', 0, ['lib/app.so'])]);
  assert.deepEqual(providers(plan), { 'lib/app.so': '1:file', usr: '0:directory', 'usr/lib': '0:directory' });
  assert.deepEqual(plan.implicitDirs, ['lib']);
  assertNoPathBeneathANonDirectory(plan);
});

test('a symlink replaced by an upper entry gives way to a lower directory when there is one', () => {
  const plan = planRender([layer('root', 2, ['lib/']), layer('base', 1, ['lib@']), layer('app', 0, ['lib/app.so'])]);
  assert.deepEqual(providers(plan), { lib: '0:directory', 'lib/app.so': '2:file' });
  assert.deepEqual(plan.implicitDirs, []);
});

test('an upper symlink hides what lower layers hold beneath that path', () => {
  const plan = planRender([layer('base', 1, ['lib/', 'lib/libc.so']), layer('app', 0, ['lib@'])]);
  assert.deepEqual(providers(plan), { lib: '1:symlink' });
});

test('attack: one layer holding a symlink and an entry beneath it cannot write through the link', () => {
  for (const order of [['lib@', 'lib/evil'], ['lib/evil', 'lib@']]) {
    const plan = planRender([layer('evil', 0, order)]);
    assert.deepEqual(providers(plan), { lib: '0:symlink' });
    assertNoPathBeneathANonDirectory(plan);
  }
});

test('attack: a symlink in a dependency cannot redirect a deep upper path', () => {
  const plan = planRender([
    layer('dep', 1, ['etc/', 'etc/cron.d@', 'etc/passwd']),
    layer('app', 0, ['etc/cron.d/job', 'etc/cron.d/more/x']),
  ]);
  assert.deepEqual(providers(plan), {
    etc: '0:directory',
    'etc/cron.d/job': '1:file',
    'etc/cron.d/more/x': '1:file',
    'etc/passwd': '0:file',
  });
  assert.deepEqual(plan.implicitDirs, ['etc/cron.d', 'etc/cron.d/more']);
  assertNoPathBeneathANonDirectory(plan);
});

test('within one layer the last entry for a path counts, and paths are normalized', () => {
  const plan = planRender([
    { id: 'x', depth: 0, pathWhitelist: [], entries: [entry('./opt/'), entry('opt/x'), { path: 'opt/x/', type: 'directory' }] },
  ]);
  assert.deepEqual(providers(plan), { opt: '0:directory', 'opt/x': '0:directory' });
});

test('a hard link refers to its target in the same layer', () => {
  const plan = planRender([layer('base', 0, ['bin/', 'bin/busybox', 'bin/sh=>bin/busybox'])]);
  const sh = plan.entries.find((e) => e.path === 'bin/sh');
  assert.deepEqual(sh, { path: 'bin/sh', layer: 0, source: 'bin/sh', type: 'link', linkTo: 'bin/busybox' });
});

test('a hard link whose target an upper layer replaced keeps its own layer content', () => {
  const plan = planRender([
    layer('base', 1, ['bin/', 'bin/busybox', 'bin/sh=>bin/busybox', 'bin/ls=>bin/busybox']),
    layer('app', 0, ['bin/busybox']),
  ]);
  const byPath = new Map(plan.entries.map((e) => [e.path, e]));
  assert.deepEqual(byPath.get('bin/busybox'), { path: 'bin/busybox', layer: 1, source: 'bin/busybox', type: 'file' });
  // The first link in the layer takes base's busybox content; the others link to it, never to app's.
  assert.deepEqual(byPath.get('bin/sh'), { path: 'bin/sh', layer: 0, source: 'bin/busybox', type: 'file' });
  assert.deepEqual(byPath.get('bin/ls'), { path: 'bin/ls', layer: 0, source: 'bin/ls', type: 'link', linkTo: 'bin/sh' });
  assert.equal(plan.byLayer[0]!.get('bin/busybox')?.path, 'bin/sh');
});

test('a hard link whose target the whitelist dropped still gets its content', () => {
  const plan = planRender([layer('app', 0, ['bin/', 'bin/busybox', 'bin/sh=>bin/busybox'], ['/bin/sh'])]);
  assert.deepEqual(providers(plan), { bin: '0:directory', 'bin/sh': '0:file' });
  assert.equal(plan.byLayer[0]!.get('bin/busybox')?.path, 'bin/sh');
});

test('a hard link to a path its layer does not hold is an error', () => {
  assert.throws(
    () => planRender([layer('bad', 0, ['a=>missing'])]),
    (err: unknown) =>
      err instanceof UserError && err.message === 'render: image bad: hard link a points to missing, which the image does not hold',
  );
});
