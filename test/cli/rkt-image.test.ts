import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Store } from '../../src/store/store.ts';
import { rktEnv, runRkt } from '../helpers/rkt-source.ts';
import { root } from '../helpers/run.ts';

// `rkt image ...` as a user meets it: the real command (from source, through tsx) on a
// real store in a temporary --dir, holding images built by the real actool bundle.
// Every run passes --dir, --local-config and --system-config: nothing may touch the
// host's /var/lib/rkt or /etc/rkt.

const actool = path.join(root, 'dist/actool');
interface Built {
  aci: string;
  id: string;
  manifest: Record<string, unknown>;
}

/** An ACI built by actool from a layout holding `files` (relative path -> content). */
function buildAci(dir: string, tag: string, manifest: Record<string, unknown>, files: Record<string, string>): Built {
  const layout = path.join(dir, `layout-${tag}`);
  fs.mkdirSync(path.join(layout, 'rootfs'), { recursive: true });
  const full = { acKind: 'ImageManifest', acVersion: '0.8.11', ...manifest };
  fs.writeFileSync(path.join(layout, 'manifest'), JSON.stringify(full));
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(layout, 'rootfs', rel)), { recursive: true });
    fs.writeFileSync(path.join(layout, 'rootfs', rel), content);
  }
  const aci = path.join(dir, `${tag}.aci`);
  const id = execFileSync(process.execPath, [actool, 'build', '--owner-root', layout, aci], { encoding: 'utf8' }).trim();
  return { aci, id, manifest: full };
}

/** Puts an ACI into the store under `data` the way fetch does. */
async function storeAci(data: string, aci: string): Promise<string> {
  const store = await Store.open(data);
  const record = await store.writeAci(fs.createReadStream(aci));
  return record.id;
}

function hello(dir: string, version: string, extra: Record<string, string> = {}): Built {
  return buildAci(
    dir,
    `hello-${version}`,
    { name: 'example.com/hello', labels: [{ name: 'version', value: version }, { name: 'os', value: 'linux' }, { name: 'arch', value: 'armv7l' }] },
    { 'etc/hello.conf': `version ${version}\n`, 'usr/bin/hello': '#!/bin/sh\necho hello\n', ...extra },
  );
}

function sha512Gunzipped(file: string): string {
  return `sha512-${createHash('sha512').update(execFileSync('gzip', ['-dc', file], { maxBuffer: 1 << 30 })).digest('hex')}`;
}

function tableRows(stdout: string): string[][] {
  return stdout
    .trimEnd()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(/\t+/));
}

describe('rkt image list', () => {
  test('an empty store lists only the legend, and [] as JSON', (t) => {
    const e = rktEnv(t);
    const text = e.rkt(['image', 'list']);
    assert.equal(text.status, 0, text.stderr);
    assert.deepEqual(tableRows(text.stdout), [['ID', 'NAME', 'SIZE', 'IMPORT TIME', 'LAST USED']]);
    const json = e.rkt(['image', 'list', '--format', 'json']);
    assert.equal(json.status, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), []);
  });

  test('shows short IDs, name:version and sizes; --full, --fields and --no-legend shape the table', async (t) => {
    const e = rktEnv(t);
    const a = hello(e.dir, '1.0');
    const b = hello(e.dir, '2.0');
    assert.equal(await storeAci(e.data, a.aci), a.id);
    assert.equal(await storeAci(e.data, b.aci), b.id);

    const r = e.rkt(['image', 'list']);
    assert.equal(r.status, 0, r.stderr);
    const rows = tableRows(r.stdout);
    assert.deepEqual(rows[0], ['ID', 'NAME', 'SIZE', 'IMPORT TIME', 'LAST USED']);
    assert.deepEqual(
      rows.slice(1).map((row) => row.slice(0, 2)),
      [
        [a.id.slice(0, 39), 'example.com/hello:1.0'],
        [b.id.slice(0, 39), 'example.com/hello:2.0'],
      ],
      'oldest import first',
    );
    for (const row of rows.slice(1)) {
      assert.match(row[2]!, /^\d+(\.\d)? (B|KiB|MiB)$/);
      assert.match(row[3]!, /^(now|\d+ seconds? ago)$/);
    }

    const full = e.rkt(['image', 'list', '--full', '--no-legend', '--fields=id,size,labels']);
    assert.equal(full.status, 0, full.stderr);
    const fullRows = tableRows(full.stdout);
    assert.equal(fullRows.length, 2);
    assert.deepEqual(fullRows[0]!.slice(0, 1), [a.id]);
    assert.match(fullRows[0]![1]!, /^\d+$/);
    assert.equal(fullRows[0]![2], 'version=1.0,os=linux,arch=armv7l');

    const desc = e.rkt(['image', 'list', '--no-legend', '--fields=id', '--sort=name', '--order=desc', '--full']);
    assert.deepEqual(tableRows(desc.stdout), [[b.id], [a.id]]);
  });

  test('JSON records carry every documented field, whatever --fields says', async (t) => {
    const e = rktEnv(t);
    const a = hello(e.dir, '1.0');
    await storeAci(e.data, a.aci);
    const before = Date.now();
    const r = e.rkt(['image', 'list', '--format=json', '--fields=id']);
    assert.equal(r.status, 0, r.stderr);
    const list = JSON.parse(r.stdout) as Record<string, unknown>[];
    assert.equal(list.length, 1);
    const [img] = list;
    assert.deepEqual(Object.keys(img!).sort(), ['id', 'importTime', 'labels', 'lastUsedTime', 'name', 'size']);
    assert.equal(img!['id'], a.id);
    assert.equal(img!['name'], 'example.com/hello');
    assert.deepEqual(img!['labels'], { version: '1.0', os: 'linux', arch: 'armv7l' });
    const tarSize = execFileSync('gzip', ['-dc', a.aci], { maxBuffer: 1 << 30 }).length;
    assert.equal(img!['size'], tarSize, 'size is the uncompressed tar in bytes');
    for (const key of ['importTime', 'lastUsedTime']) {
      const value = img![key] as string;
      assert.match(value, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/, `${key} is RFC 3339`);
      assert.ok(Date.parse(value) <= before + 1000);
    }
    const pretty = e.rkt(['image', 'list', '--format=json-pretty']);
    assert.deepEqual(JSON.parse(pretty.stdout), list);
    assert.match(pretty.stdout, /^\[\n {2}\{\n/);
  });

  test('an unknown --fields value is a usage error naming the valid fields', (t) => {
    const e = rktEnv(t);
    const r = e.rkt(['image', 'list', '--fields=id,latest']);
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /--fields: unknown field "latest"; valid fields: id, name, labels, size, importtime, lastused/);
  });
});

describe('rkt image cat-manifest', () => {
  test('prints the manifest of the image named by ID prefix or by name (newest of that name)', async (t) => {
    const e = rktEnv(t);
    const a = hello(e.dir, '1.0');
    const b = hello(e.dir, '2.0');
    await storeAci(e.data, a.aci);
    await storeAci(e.data, b.aci);
    const byId = e.rkt(['image', 'cat-manifest', a.id.slice(0, 20)]);
    assert.equal(byId.status, 0, byId.stderr);
    assert.deepEqual(JSON.parse(byId.stdout).labels, a.manifest['labels']);
    assert.match(byId.stdout, /^\{\n {2}"acKind"/, 'pretty-printed by default, as in rkt');

    const newest = e.rkt(['image', 'cat-manifest', '--no-pretty-print', 'example.com/hello']);
    assert.equal(newest.status, 0, newest.stderr);
    assert.equal(newest.stdout.trimEnd().split('\n').length, 1);
    assert.equal(JSON.parse(newest.stdout).labels[0].value, '2.0');

    const pinned = e.rkt(['image', 'cat-manifest', 'example.com/hello:1.0,arch=armv7l']);
    assert.equal(JSON.parse(pinned.stdout).labels[0].value, '1.0');
  });

  test('an image that is not stored is one line on stderr and exit 1', (t) => {
    const e = rktEnv(t);
    for (const ref of ['example.com/nothing', 'sha512-0123abcd']) {
      const r = e.rkt(['image', 'cat-manifest', ref]);
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`^rkt: image (name|ID) "${ref}" not found in the store.*\\n$`));
    }
  });
});

describe('rkt image export', () => {
  test('writes a gzip ACI whose ID is the stored one; refuses to overwrite without --overwrite', async (t) => {
    const e = rktEnv(t);
    const a = hello(e.dir, '1.0', { 'data/big': 'x'.repeat(300_000) });
    await storeAci(e.data, a.aci);
    const out = path.join(e.dir, 'exported.aci');
    const r = e.rkt(['image', 'export', 'example.com/hello:1.0', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual([...fs.readFileSync(out).subarray(0, 2)], [0x1f, 0x8b], 'gzip');
    assert.equal(sha512Gunzipped(out), a.id);
    // actool agrees it is a valid image with that ID.
    assert.equal(execFileSync(process.execPath, [actool, 'validate', out], { encoding: 'utf8' }), `${out}: valid image ${a.id}\n`);

    fs.writeFileSync(out, 'precious');
    const again = e.rkt(['image', 'export', a.id, out]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /^rkt: export: ".*exported\.aci" exists \(use --overwrite to replace it\)\n$/);
    assert.equal(fs.readFileSync(out, 'utf8'), 'precious');
    assert.equal(e.rkt(['image', 'export', '--overwrite', a.id, out]).status, 0);
    assert.equal(sha512Gunzipped(out), a.id);
    assert.deepEqual(fs.readdirSync(e.dir).filter((f) => f.includes('.tmp-')), [], 'no temporary file left');
  });
});

describe('rkt image extract and render', () => {
  test('extract writes manifest and rootfs; --rootfs-only the rootfs alone; --overwrite replaces', async (t) => {
    const e = rktEnv(t);
    const a = hello(e.dir, '1.0');
    await storeAci(e.data, a.aci);
    const out = path.join(e.dir, 'out');
    const r = e.rkt(['image', 'extract', 'example.com/hello', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(fs.readdirSync(out).sort(), ['manifest', 'rootfs']);
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'manifest'), 'utf8')).name, 'example.com/hello');
    assert.equal(fs.readFileSync(path.join(out, 'rootfs/etc/hello.conf'), 'utf8'), 'version 1.0\n');

    const again = e.rkt(['image', 'extract', '--rootfs-only', a.id, out]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /^rkt: extract: ".*out" exists \(use --overwrite to replace it\)\n$/);
    assert.ok(fs.existsSync(path.join(out, 'manifest')), 'left untouched');

    fs.writeFileSync(path.join(out, 'stray'), 'old');
    const over = e.rkt(['image', 'extract', '--rootfs-only', '--overwrite', a.id, out]);
    assert.equal(over.status, 0, over.stderr);
    assert.deepEqual(fs.readdirSync(out).sort(), ['etc', 'usr']);
    assert.equal(fs.readFileSync(path.join(out, 'usr/bin/hello'), 'utf8'), '#!/bin/sh\necho hello\n');
    assert.deepEqual(fs.readdirSync(e.dir).filter((f) => f.includes('.tmp-')), [], 'no temporary directory left');
  });

  test('render lays the dependencies beneath the image; extract leaves them out', async (t) => {
    const e = rktEnv(t);
    const base = buildAci(e.dir, 'base', { name: 'example.com/base' }, { 'etc/base.conf': 'base\n', 'etc/hello.conf': 'from base\n' });
    const app = buildAci(
      e.dir,
      'app',
      { name: 'example.com/app', dependencies: [{ imageName: 'example.com/base', imageID: base.id }] },
      { 'etc/hello.conf': 'from app\n' },
    );
    await storeAci(e.data, base.aci);
    await storeAci(e.data, app.aci);

    const rendered = path.join(e.dir, 'rendered');
    const r = e.rkt(['image', 'render', '--rootfs-only', 'example.com/app', rendered]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(rendered, 'etc/base.conf'), 'utf8'), 'base\n');
    assert.equal(fs.readFileSync(path.join(rendered, 'etc/hello.conf'), 'utf8'), 'from app\n', 'the upper image wins');

    const withManifest = path.join(e.dir, 'rendered2');
    assert.equal(e.rkt(['image', 'render', 'example.com/app', withManifest]).status, 0);
    assert.equal(JSON.parse(fs.readFileSync(path.join(withManifest, 'manifest'), 'utf8')).name, 'example.com/app');

    const alone = path.join(e.dir, 'alone');
    assert.equal(e.rkt(['image', 'extract', '--rootfs-only', 'example.com/app', alone]).status, 0);
    assert.equal(fs.existsSync(path.join(alone, 'etc/base.conf')), false);
    assert.equal(fs.readFileSync(path.join(alone, 'etc/hello.conf'), 'utf8'), 'from app\n');
  });
});

describe('rkt image rm', () => {
  test('removes by ID prefix and by name (every image of the name); what is gone is no error', async (t) => {
    const e = rktEnv(t);
    const a = hello(e.dir, '1.0');
    const b = hello(e.dir, '2.0');
    const c = buildAci(e.dir, 'other', { name: 'example.com/other' }, { 'x': 'x\n' });
    for (const img of [a, b, c]) await storeAci(e.data, img.aci);

    const byId = e.rkt(['image', 'rm', c.id.slice(0, 24)]);
    assert.equal(byId.status, 0, byId.stderr);
    assert.equal(byId.stdout, `successfully removed aci for image: "${c.id}" ("example.com/other")\n`);
    assert.match(byId.stderr, /1 image\(s\) successfully removed/);

    const byName = e.rkt(['image', 'rm', '--format=json', 'example.com/hello']);
    assert.equal(byName.status, 0, byName.stderr);
    const report = JSON.parse(byName.stdout);
    assert.deepEqual(new Set(report.removed.map((x: { id: string }) => x.id)), new Set([a.id, b.id]));
    assert.deepEqual([report.absent, report.failed], [[], []]);

    const list = e.rkt(['image', 'list', '--format=json']);
    assert.deepEqual(JSON.parse(list.stdout), []);

    const gone = e.rkt(['image', 'rm', 'example.com/hello', c.id]);
    assert.equal(gone.status, 0, gone.stderr);
    assert.equal(gone.stdout, '');
    assert.deepEqual(gone.stderr.trim().split('\n'), [
      'rkt: image "example.com/hello" is not in the store: nothing to remove',
      `rkt: image "${c.id}" is not in the store: nothing to remove`,
    ]);
  });

  test('an ambiguous or malformed argument fails that argument, removes the others, and exits 1', async (t) => {
    const e = rktEnv(t);
    const a = hello(e.dir, '1.0');
    const c = buildAci(e.dir, 'other', { name: 'example.com/other' }, { 'x': 'x\n' });
    for (const img of [a, c]) await storeAci(e.data, img.aci);
    const r = e.rkt(['image', 'rm', 'sha512-', 'Not A Name', c.id]);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, `successfully removed aci for image: "${c.id}" ("example.com/other")\n`);
    const errs = r.stderr.trim().split('\n');
    assert.match(errs[0]!, /^rkt: cannot remove "sha512-": /);
    assert.match(errs[1]!, /^rkt: cannot remove "Not A Name": image reference "Not A Name": /);
    assert.deepEqual(
      (JSON.parse(e.rkt(['image', 'list', '--format=json']).stdout) as { id: string }[]).map((x) => x.id),
      [a.id],
    );
  });
});

describe('rkt image gc', () => {
  test('keeps images used within the grace period, removes older ones with --grace-period=0s', async (t) => {
    const e = rktEnv(t);
    const a = hello(e.dir, '1.0');
    await storeAci(e.data, a.aci);
    const keep = e.rkt(['image', 'gc', '--format=json']);
    assert.equal(keep.status, 0, keep.stderr);
    assert.deepEqual(JSON.parse(keep.stdout).removedImages, []);
    assert.equal(JSON.parse(e.rkt(['image', 'list', '--format=json']).stdout).length, 1);

    const now = e.rkt(['image', 'gc', '--grace-period=0s']);
    assert.equal(now.status, 0, now.stderr);
    assert.equal(now.stdout, `successfully removed aci for image: "${a.id}"\n`);
    assert.match(now.stderr, /1 image\(s\) successfully removed/);
    assert.deepEqual(JSON.parse(e.rkt(['image', 'list', '--format=json']).stdout), []);
  });

  test('a malformed --grace-period is a usage error', (t) => {
    const e = rktEnv(t);
    for (const bad of ['24', 'soon', '1d', '']) {
      const r = e.rkt(['image', 'gc', `--grace-period=${bad}`]);
      assert.equal(r.status, 2, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, /^rkt: --grace-period: ".*" is not a duration \(write e\.g\. 24h, 1h30m, 30m, 0s\)/);
    }
  });
});

describe('rkt image verify', () => {
  test('a clean store verifies; a corrupted blob is reported (exit 1), --repair removes it, then it verifies', async (t) => {
    const e = rktEnv(t);
    const a = hello(e.dir, '1.0');
    const b = hello(e.dir, '2.0');
    await storeAci(e.data, a.aci);
    await storeAci(e.data, b.aci);

    const clean = e.rkt(['image', 'verify', '--format=json']);
    assert.equal(clean.status, 0, clean.stderr);
    const cleanReport = JSON.parse(clean.stdout);
    assert.equal(cleanReport.blobsChecked, 2);
    assert.deepEqual(cleanReport.problems, []);

    // Flip one byte in the middle of a's stored tar, as a bad SD card would.
    const store = await Store.open(e.data);
    const blob = store.blobPath(a.id);
    const bytes = fs.readFileSync(blob);
    bytes[bytes.length >> 1] ^= 0xff;
    fs.writeFileSync(blob, bytes);

    const bad = e.rkt(['image', 'verify']);
    assert.equal(bad.status, 1, bad.stderr);
    assert.match(bad.stdout, new RegExp(`^blob ${a.id}: .+\\n$`));
    assert.doesNotMatch(bad.stdout, /\(removed\)/);

    const repair = e.rkt(['image', 'verify', '--repair', '--format=json']);
    assert.equal(repair.status, 0, repair.stderr);
    const repaired = JSON.parse(repair.stdout);
    assert.deepEqual(
      repaired.problems.map((p: { kind: string; id: string; removed: boolean }) => [p.kind, p.id, p.removed]),
      [['blob', a.id, true]],
    );

    const after = e.rkt(['image', 'verify']);
    assert.equal(after.status, 0, after.stderr);
    assert.equal(after.stdout, '');
    assert.deepEqual(
      (JSON.parse(e.rkt(['image', 'list', '--format=json']).stdout) as { id: string }[]).map((x) => x.id),
      [b.id],
    );
  });
});

describe('rkt global flags', () => {
  test('an unknown --insecure-options value exits 2 with one line naming the valid values', (t) => {
    const e = rktEnv(t);
    const r = e.rkt(['--insecure-options=image,bogus', 'image', 'list']);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      `rkt: --insecure-options: unknown value "bogus"; valid values: none, all-fetch, all-run, all, image, tls, http, pubkey, capabilities, paths, seccomp; see 'rkt --help'\n`,
    );
  });

  test('valid --insecure-options, repeated or as a list, and --trust-keys-from-https are accepted', (t) => {
    const e = rktEnv(t);
    const r = e.rkt(['--insecure-options=image,tls', '--insecure-options', 'http', '--trust-keys-from-https', 'image', 'list', '--format=json']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), []);
  });

  test('an empty --dir is a usage error', (t) => {
    const e = rktEnv(t);
    // env() would add a good --dir; this run has only the empty one.
    const r = runRkt(['image', 'list', `--local-config=${e.dir}`, `--system-config=${e.dir}`, '--dir='], e.dir);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, `rkt: --dir: "" is not a valid directory; see 'rkt --help'\n`);
  });

  test('--help of every image command shows its example and the global flags', (t) => {
    const e = rktEnv(t);
    for (const cmd of ['list', 'rm', 'cat-manifest', 'export', 'extract', 'render', 'gc', 'verify']) {
      const r = e.rkt(['image', cmd, '--help']);
      assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
      assert.match(r.stdout, /Examples:\n\s+rkt image /, cmd);
      assert.match(r.stdout, /--insecure-options/, cmd);
      assert.match(r.stdout, /--dir\b[^]*\[default: "\/var\/lib\/rkt"\]/, cmd);
    }
  });

  test('a relative --dir is the store under the working directory, and nothing lands in /var/lib/rkt', async (t) => {
    const e = rktEnv(t);
    const hostStoreBefore = fs.existsSync('/var/lib/rkt') ? fs.readdirSync('/var/lib/rkt').sort() : null;
    const a = hello(e.dir, '1.0');
    await storeAci(path.join(e.dir, 'rel'), a.aci);
    const r = runRkt(['--dir=rel', `--local-config=${e.dir}`, `--system-config=${e.dir}`, 'image', 'list', '--format=json'], e.dir);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      (JSON.parse(r.stdout) as { id: string }[]).map((x) => x.id),
      [a.id],
    );
    const hostStoreAfter = fs.existsSync('/var/lib/rkt') ? fs.readdirSync('/var/lib/rkt').sort() : null;
    assert.deepEqual(hostStoreAfter, hostStoreBefore);
  });
});
