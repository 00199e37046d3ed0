import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { emptyDir, isRoot, root, runNode } from '../helpers/run.ts';

// actool as a user meets it: the built bundle, real files, real exit codes.
const actool = path.join(root, 'dist/actool');
const examples = path.resolve(root, '../shared/appc-spec/examples');

function run(args: string[], opts: { cwd: string; env?: Record<string, string>; asNobody?: boolean }) {
  return runNode(actool, args, opts);
}

function layout(dir: string, manifest = fs.readFileSync(path.join(examples, 'image.json'))): string {
  const top = path.join(dir, 'layout');
  fs.mkdirSync(path.join(top, 'rootfs/usr/bin'), { recursive: true });
  fs.writeFileSync(path.join(top, 'manifest'), manifest);
  fs.writeFileSync(path.join(top, 'rootfs/usr/bin/hello'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
  fs.symlinkSync('hello', path.join(top, 'rootfs/usr/bin/hi'));
  fs.writeFileSync(path.join(top, 'rootfs/data'), Buffer.alloc(3 << 20, 7));
  return top;
}

function sha512(file: string, gunzip: boolean): string {
  const bytes = gunzip ? execFileSync('gzip', ['-dc', file], { maxBuffer: 1 << 30 }) : fs.readFileSync(file);
  return createHash('sha512').update(bytes).digest('hex');
}

describe('actool build', () => {
  test('prints the image ID, which is the sha512 of `gzip -dc`', (t) => {
    const dir = emptyDir(t);
    const r = run(['build', layout(dir), 'out.aci'], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `sha512-${sha512(path.join(dir, 'out.aci'), true)}\n`);
    assert.equal(r.stderr, '', 'nothing on stderr when not on a terminal');
  });

  test('--no-compression writes the plain tar, whose sha512 is the image ID', (t) => {
    const dir = emptyDir(t);
    const r = run(['build', '--no-compression', layout(dir), 'out.aci'], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `sha512-${sha512(path.join(dir, 'out.aci'), false)}\n`);
  });

  test('building twice gives identical bytes, and SOURCE_DATE_EPOCH makes them independent of file times', (t) => {
    const dir = emptyDir(t);
    const src = layout(dir);
    const env = { SOURCE_DATE_EPOCH: '1700000000' };
    assert.equal(run(['build', src, 'a.aci'], { cwd: dir, env }).status, 0);
    const later = new Date(Date.now() + 3600_000);
    fs.utimesSync(path.join(src, 'rootfs/usr/bin/hello'), later, later);
    assert.equal(run(['build', src, 'b.aci'], { cwd: dir, env }).status, 0);
    assert.ok(fs.readFileSync(path.join(dir, 'a.aci')).equals(fs.readFileSync(path.join(dir, 'b.aci'))));
    const listing = execFileSync('tar', ['--numeric-owner', '-tvzf', 'a.aci'], { cwd: dir, encoding: 'utf8' });
    assert.match(listing, /2023-11-14 \d\d:\d\d rootfs\/usr\/bin\/hello/);
  });

  test('as an unprivileged user, --owner-root records every entry as 0:0', { skip: !isRoot && 'needs root to switch to nobody' }, (t) => {
    const dir = emptyDir(t);
    const src = layout(dir);
    execFileSync('chown', ['-R', 'nobody:nogroup', dir]);
    const r = run(['build', '--owner-root', src, 'out.aci'], { cwd: dir, asNobody: true });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.statSync(path.join(dir, 'out.aci')).uid, 65534, 'the build really ran as nobody');
    const owners = execFileSync('tar', ['--numeric-owner', '-tvzf', 'out.aci'], { cwd: dir, encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((line) => line.split(/\s+/)[1]);
    assert.ok(owners.length >= 5);
    assert.deepEqual(new Set(owners), new Set(['0/0']));
    const plain = run(['build', src, 'plain.aci'], { cwd: dir, asNobody: true });
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(execFileSync('tar', ['--numeric-owner', '-tvzf', 'plain.aci'], { cwd: dir, encoding: 'utf8' }), / 65534\/65534 /);
  });

  test('refuses to replace an existing file without --overwrite, and leaves it untouched', (t) => {
    const dir = emptyDir(t);
    fs.writeFileSync(path.join(dir, 'out.aci'), 'precious');
    const r = run(['build', layout(dir), 'out.aci'], { cwd: dir });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'actool: build: out.aci already exists; pass --overwrite to replace it\n');
    assert.equal(fs.readFileSync(path.join(dir, 'out.aci'), 'utf8'), 'precious');
    assert.equal(run(['build', '--overwrite', path.join(dir, 'layout'), 'out.aci'], { cwd: dir }).status, 0);
  });

  test('an invalid manifest fails with one line and leaves no output or temporary file', (t) => {
    const dir = emptyDir(t);
    const bad = JSON.parse(fs.readFileSync(path.join(examples, 'image.json'), 'utf8'));
    bad.app.workingDirectory = 'opt';
    const r = run(['build', layout(dir, Buffer.from(JSON.stringify(bad))), 'out.aci'], { cwd: dir });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'actool: manifest: app.workingDirectory "opt" must be an absolute path\n');
    assert.deepEqual(fs.readdirSync(dir), ['layout']);
  });

  test('refuses to write the image inside the layout it packs', (t) => {
    const dir = emptyDir(t);
    const src = layout(dir);
    const r = run(['build', src, path.join(src, 'rootfs/self.aci')], { cwd: dir });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^actool: build: output .* is inside the layout .*; write it somewhere else\n$/);
  });

  test('usage mistakes exit 2 with one line', (t) => {
    const dir = emptyDir(t);
    for (const args of [['build'], ['frobnicate'], [], ['build', '--bogus', 'a', 'b']]) {
      const r = run(args, { cwd: dir });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^actool: .*see 'actool --help'\n$/);
    }
  });

  test('a usage mistake runs nothing: no image is written', (t) => {
    const dir = emptyDir(t);
    const r = run(['build', '--bogus', layout(dir), 'out.aci'], { cwd: dir });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(fs.existsSync(path.join(dir, 'out.aci')), false);
  });
});

describe('actool validate', () => {
  test('accepts the spec examples and a built image, with a JSON report for scripts', (t) => {
    const dir = emptyDir(t);
    assert.equal(run(['build', layout(dir), 'ok.aci'], { cwd: dir }).status, 0);
    const files = ['ok.aci', 'layout', path.join(examples, 'image.json'), path.join(examples, 'pod_runtime.json')];
    const r = run(['validate', '--format', 'json', ...files], { cwd: dir });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as { kind: string; valid: boolean }[];
    assert.deepEqual(
      report.map((x) => [x.kind, x.valid]),
      [
        ['image', true],
        ['image layout', true],
        ['image manifest', true],
        ['pod manifest', true],
      ],
    );
  });

  test('reports each bad file on its own line and exits 1', (t) => {
    const dir = emptyDir(t);
    fs.writeFileSync(path.join(dir, 'bad.json'), '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"Bad Name"}');
    fs.writeFileSync(path.join(dir, 'junk.aci'), Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3]));
    const r = run(['validate', 'bad.json', 'junk.aci', 'missing.aci'], { cwd: dir });
    assert.equal(r.status, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 3, r.stderr);
    assert.match(lines[0]!, /^bad\.json: manifest: name "Bad Name" must be an AC Identifier/);
    assert.match(lines[1]!, /^junk\.aci: /);
    assert.match(lines[2]!, /^missing\.aci: stat `missing\.aci`: no such file or directory$/);
  });

  test('refuses an archive whose entry escapes the image root (rootfs/../../etc/passwd)', (t) => {
    const dir = emptyDir(t);
    fs.mkdirSync(path.join(dir, 'evil/rootfs'), { recursive: true });
    fs.copyFileSync(path.join(examples, 'image.json'), path.join(dir, 'evil/manifest'));
    fs.writeFileSync(path.join(dir, 'passwd'), 'root::0:0::/:/bin/sh\n');
    execFileSync('tar', ['-czf', 'evil.aci', '-C', 'evil', 'manifest', 'rootfs', '--transform', 's,^passwd,rootfs/../../etc/passwd,', '-C', '..', 'passwd'], {
      cwd: dir,
    });
    const r = run(['validate', 'evil.aci'], { cwd: dir });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^evil\.aci: aci: .*rootfs\/\.\.\/\.\.\/etc\/passwd.*\n$/);
  });
});

describe('actool cat-manifest and patch-manifest', () => {
  test('patch-manifest changes only the manifest; cat-manifest shows the change', (t) => {
    const dir = emptyDir(t);
    assert.equal(run(['build', layout(dir), 'in.aci'], { cwd: dir }).status, 0);
    const r = run(
      [
        'patch-manifest',
        '--name=example.com/patched',
        '--exec',
        '/usr/bin/hello --loud',
        '--user=1000',
        '--group=1000',
        '--supplementary-groups=10,20',
        '--capability=CAP_NET_BIND_SERVICE,CAP_CHOWN',
        '--mounts=work,path=/var/work,readOnly=true',
        '--ports=http,protocol=tcp,port=8080:dns,protocol=udp,port=53',
        '--isolators=resource/memory,limit=64M',
        'in.aci',
        'out.aci',
      ],
      { cwd: dir },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `sha512-${sha512(path.join(dir, 'out.aci'), true)}\n`);
    const m = JSON.parse(run(['cat-manifest', 'out.aci'], { cwd: dir }).stdout);
    assert.equal(m.name, 'example.com/patched');
    assert.deepEqual(m.app.exec, ['/usr/bin/hello', '--loud']);
    assert.deepEqual([m.app.user, m.app.group, m.app.supplementaryGIDs], ['1000', '1000', [10, 20]]);
    assert.deepEqual(m.app.mountPoints, [{ name: 'work', path: '/var/work', readOnly: true }]);
    assert.deepEqual(
      m.app.ports.map((p: { name: string; port: number; protocol: string }) => [p.name, p.protocol, p.port]),
      [
        ['http', 'tcp', 8080],
        ['dns', 'udp', 53],
      ],
    );
    const isolators = Object.fromEntries(m.app.isolators.map((i: { name: string; value: unknown }) => [i.name, i.value]));
    assert.deepEqual(isolators['resource/memory'], { limit: '64M' });
    assert.deepEqual(isolators['os/linux/capabilities-retain-set'], { set: ['CAP_NET_BIND_SERVICE', 'CAP_CHOWN'] });
    // Everything but the manifest is the same, entry for entry.
    const list = (f: string) => execFileSync('tar', ['--numeric-owner', '-tvzf', f], { cwd: dir, encoding: 'utf8' }).split('\n').filter((l) => !l.endsWith(' manifest'));
    assert.deepEqual(list('out.aci'), list('in.aci'));
    assert.ok(execFileSync('tar', ['-xzOf', 'out.aci', 'rootfs/data'], { cwd: dir, maxBuffer: 1 << 30 }).equals(Buffer.alloc(3 << 20, 7)));
  });

  test('an invalid patch fails with one line and --replace leaves the image as it was', (t) => {
    const dir = emptyDir(t);
    assert.equal(run(['build', layout(dir), 'app.aci'], { cwd: dir }).status, 0);
    const before = fs.readFileSync(path.join(dir, 'app.aci'));
    const r = run(['patch-manifest', '--ports=http,protocol=sctp,port=80', '--replace', 'app.aci'], { cwd: dir });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'actool: manifest: app.ports[0].protocol "sctp" must be tcp or udp\n');
    assert.ok(fs.readFileSync(path.join(dir, 'app.aci')).equals(before));
    assert.deepEqual(fs.readdirSync(dir).sort(), ['app.aci', 'layout'], 'no temporary file left behind');
  });

  test('--manifest swaps in a whole manifest, and --replace rewrites in place', (t) => {
    const dir = emptyDir(t);
    assert.equal(run(['build', layout(dir), 'app.aci'], { cwd: dir }).status, 0);
    fs.writeFileSync(path.join(dir, 'm.json'), '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/other"}');
    const r = run(['patch-manifest', '--manifest', 'm.json', '--replace', 'app.aci'], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(run(['cat-manifest', 'app.aci'], { cwd: dir }).stdout).name, 'example.com/other');
    assert.equal(run(['patch-manifest', 'app.aci'], { cwd: dir }).status, 2, 'neither OUTPUT nor --replace');
  });
});

describe('actool discover', () => {
  test('finds the endpoints on a real server, as text and as JSON', async (t) => {
    const page = fs.readFileSync(path.resolve(root, '../shared/appc-spec/discovery-testdata/meta01.html'));
    const server = http.createServer((req, res) => {
      const found = req.url === '/app?ac-discovery=1' && req.headers.host?.startsWith('example.com');
      res.writeHead(found ? 200 : 404, { 'content-type': 'text/html' }).end(found ? page : '');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const port = (server.address() as AddressInfo).port;
    const dir = emptyDir(t);
    const args = ['discover', '--insecure', `--resolve=example.com:80=127.0.0.1:${port}`, '--resolve', `example.com:443=127.0.0.1:1`];
    const text = await runAsync([...args, 'example.com/app:1.0,os=linux,arch=armv7l'], dir);
    assert.equal(text.status, 0, text.stderr);
    assert.equal(
      text.stdout,
      'ACI: https://storage.example.com/example.com/app-1.0-linux-armv7l.aci, ASC: https://storage.example.com/example.com/app-1.0-linux-armv7l.aci.asc\n' +
        'Keys: https://example.com/pubkeys.gpg\n',
    );
    const json = await runAsync([...args, '--format=json', 'example.com/app,os=linux,arch=armv6l'], dir);
    assert.equal(json.status, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout)[0].aci[0].aci, 'https://storage.example.com/example.com/app-latest-linux-armv6l.aci');
  });
});

// The server lives in this process, so the CLI must not block the event loop.
async function runAsync(args: string[], cwd: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [actool, ...args], { cwd, env: { PATH: process.env.PATH ?? '' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { status, stdout, stderr };
}
