import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hostAptSources } from '../../src/debian/apt-sources.ts';
import { debianArchFor } from '../../src/debian/arch-map.ts';
import { readDebControl } from '../../src/debian/deb.ts';
import { ACTOOL, ARCHES, HOST_PATH, PodWorld, stage1Of, type Arch } from '../helpers/pods.ts';
import { isRoot, root } from '../helpers/run.ts';

// The example images of images/ as a user meets them: built by `actool cross` (the
// bundle), then run as pods by the bundled rkt on x86 and, through qemu-user and
// binfmt_misc, on the emulated ARM arches, each with its own arch's stage1
// (dist/stage1-<arch>.aci); armv6l on an emulated ARM1176 (QEMU_CPU=arm1176, for stage1
// through rkt's environment and for the app through --set-env). The stage1 images are the
// third example: every pod runs on one, and each must validate.

const ORDER: Arch[] = ['amd64', 'armv6l', 'armv7l', 'aarch64'];
const EPOCH = '1700000000';
const UNAME: Record<Arch, string> = { amd64: 'x86_64', armv6l: 'armv6l', armv7l: 'armv7l', aarch64: 'aarch64' };
const HELLO_DIR = path.join(root, 'images/hello-http');
const BUSYBOX_SPEC = path.join(root, 'images/busybox/spec.yaml');
const BUSYBOX_VERSION = '1.35.0';
/** The busybox-static .debs, one per Debian arch, kept so that later runs need no network. */
const BUSYBOX_CACHE = path.join(root, '.cache/examples/busybox');

const hasCommand = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

function binfmtEnabled(handler: string): boolean {
  try {
    return fs.readFileSync(`/proc/sys/fs/binfmt_misc/${handler}`, 'utf8').startsWith('enabled');
  } catch {
    return false;
  }
}

/** Why pods of `arch` cannot run here, or false. */
function whyNoPods(arch: Arch): string | false {
  if (!isRoot) return 'needs root: pods use namespaces and mounts';
  if (os.arch() !== 'x64') return `the examples test runs on an x86_64 host (this is ${os.arch()})`;
  for (const bundle of ['rkt', 'actool']) {
    if (!fs.existsSync(path.join(root, 'dist', bundle))) return `no dist/${bundle}: run npm run build`;
  }
  if (!fs.existsSync(stage1Of(arch))) return `no dist/stage1-${arch}.aci: run npm run build (with ${ARCHES[arch].cc} installed)`;
  const { binfmt } = ARCHES[arch];
  if (binfmt && !binfmtEnabled(binfmt)) return `/proc/sys/fs/binfmt_misc/${binfmt} is not enabled (apt-get install qemu-user-static)`;
  return false;
}

/** Why hello-http cannot be built for `arch` here (build.sh's compiler), or false. */
function whyNoCompiler(arch: Arch): string | false {
  const cc = arch === 'amd64' ? 'gcc' : ARCHES[arch].cc;
  return hasCommand(cc) ? false : `no ${cc} to build images/hello-http for ${arch}`;
}

/** `rkt` runs with PATH only, plus QEMU_CPU where the arch needs a CPU model; the app gets it too. */
function qemuFor(arch: Arch): { env: Record<string, string>; setEnv: string[] } {
  const { cpu } = ARCHES[arch];
  return cpu ? { env: { QEMU_CPU: cpu }, setEnv: [`--set-env=QEMU_CPU=${cpu}`] } : { env: {}, setEnv: [] };
}

const imageOf = (dir: string, name: string, version: string, arch: Arch) => path.join(dir, 'example.com', `${name}-${version}-linux-${arch}.aci`);

function actool(args: string[], timeout = 120_000) {
  return spawnSync(process.execPath, [ACTOOL, ...args], {
    cwd: root,
    env: { PATH: HOST_PATH, SOURCE_DATE_EPOCH: EPOCH },
    encoding: 'utf8',
    timeout,
  });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let work: string;
before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'rkt-examples-'));
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

describe('the stage1 images', () => {
  for (const arch of ORDER) {
    const file = stage1Of(arch);
    test(`dist/stage1-${arch}.aci validates`, { skip: !fs.existsSync(file) && `no dist/stage1-${arch}.aci: run npm run build` }, () => {
      const r = actool(['validate', file]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /: valid image sha512-[0-9a-f]{128}$/m);
    });
  }
});

describe('images/hello-http', () => {
  const runnable = ORDER.filter((a) => !whyNoPods(a) && !whyNoCompiler(a));
  let site: string;
  before(() => {
    if (runnable.length === 0) return;
    const built = spawnSync('bash', [path.join(HELLO_DIR, 'build.sh'), ...runnable], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(built.status, 0, `build.sh: ${built.stderr}`);
    site = path.join(work, 'hello-site');
    const r = actool(['cross', path.join(HELLO_DIR, 'spec.yaml'), '--out', site, '--arch', runnable.join(',')]);
    assert.equal(r.status, 0, `actool cross: ${r.stderr}`);
  });

  for (const arch of ORDER) {
    const skip = whyNoPods(arch) || whyNoCompiler(arch);
    test(`serves GET on ${arch} as a pod and exits 0 on rkt stop`, { skip }, async (t) => {
      const { env, setEnv } = qemuFor(arch);
      const w = new PodWorld(t);
      const port = await freePort();
      const uuidFile = path.join(w.dir, 'uuid');
      const image = imageOf(site, 'hello-http', '1.0.0', arch);
      const pod = w.start(
        ['run', `--stage1-path=${stage1Of(arch)}`, '--net=host', `--uuid-file-save=${uuidFile}`, ...setEnv, image, '--exec', '/usr/bin/hello-http', '--', String(port)],
        { env },
      );
      await pod.waitForStdout(new RegExp(`^hello-http: ${arch} listening on port ${port}$`, 'm'), 60_000);
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(20_000) });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), `hello from ${arch} (${UNAME[arch]})\n`);
      await pod.waitForStdout(/ GET \/ 200$/m, 10_000);

      const uuid = await w.uuidFrom(uuidFile);
      const stop = w.rkt(['stop', uuid], { env });
      assert.equal(stop.status, 0, stop.stderr);
      const exited = await pod.exited;
      assert.equal(exited.status, 0, `rkt run after SIGTERM: ${exited.stderr}`);
      assert.match(exited.stdout, /^hello-http: stopping$/m);
    });
  }
});

// ---- busybox: Debian's busybox-static for each arch ------------------------------------

const debOf = (debArch: string) => path.join(BUSYBOX_CACHE, 'debs', `busybox-static_${debArch}.deb`);

/**
 * A folder with busybox-static's .deb for every Debian arch of the spec, as `actool
 * cross` takes it with --repository; or why there is none (a skip message). The first
 * run fetches them through `actool cross` itself from this host's apt sources (signed
 * Release, checked hashes), all of them as the spec would, else each source alone, as
 * apt goes on past a broken one; later runs need no network.
 */
async function busyboxDebs(debArches: string[]): Promise<{ dir: string } | { skip: string }> {
  const dir = path.join(BUSYBOX_CACHE, 'debs');
  if (debArches.every((a) => fs.existsSync(debOf(a)))) return { dir };
  const sources = hostAptSources();
  if (sources.length === 0) return { skip: 'busybox: this host has no apt sources to take busybox-static from' };
  const cache = path.join(BUSYBOX_CACHE, 'apt');
  const attempts: { label: string; args: string[] }[] = [
    { label: 'all together', args: [] },
    ...sources.map((s) => ({
      label: `${s.uri} ${s.suite ?? ''}`.trim(),
      args: ['--repository', [s.uri, s.suite, ...(s.components ?? [])].filter(Boolean).join(' '), ...(s.keyring ? ['--keyring', s.keyring] : [])],
    })),
  ];
  const failures: string[] = [];
  for (const { label, args } of attempts) {
    const out = path.join(work, `busybox-fetch-${failures.length}`);
    const r = actool(['cross', BUSYBOX_SPEC, '--out', out, '--cache-dir', cache, ...args], 300_000);
    if (r.status === 0) break;
    failures.push(`${label}: ${(r.stderr || String(r.error)).trim().split('\n').at(-1)?.replace(/^actool: /, '')}`);
  }
  if (failures.length === attempts.length) {
    const others = failures.length > 1 ? ` (and ${failures.length - 1} more: each source alone)` : '';
    return { skip: `busybox: cannot get busybox-static from this host's apt sources: ${failures[0]}${others}` };
  }
  // The cache names files by SHA-256: the .debs are told from the indexes by their control file.
  const staging = fs.mkdtempSync(path.join(BUSYBOX_CACHE, 'debs-'));
  const store = path.join(cache, 'by-sha256');
  for (const name of fs.readdirSync(store)) {
    const control = await readDebControl(path.join(store, name)).then(
      (d) => d.control,
      () => undefined,
    );
    if (control?.['package'] === 'busybox-static') fs.copyFileSync(path.join(store, name), path.join(staging, `busybox-static_${control['architecture']}.deb`));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(staging, dir);
  fs.rmSync(cache, { recursive: true, force: true });
  const missing = debArches.filter((a) => !fs.existsSync(debOf(a)));
  return missing.length === 0 ? { dir } : { skip: `busybox: no busybox-static for ${missing.join(', ')} in ${store}` };
}

describe('images/busybox', () => {
  const runnable = ORDER.filter((a) => !whyNoPods(a));
  let site: string;
  let skip: string | undefined;
  before(async () => {
    if (runnable.length === 0) return;
    fs.mkdirSync(BUSYBOX_CACHE, { recursive: true });
    const debs = await busyboxDebs(ORDER.map((a) => debianArchFor(a, { raspbian: false })));
    if ('skip' in debs) {
      skip = debs.skip;
      return;
    }
    site = path.join(work, 'busybox-site');
    const r = actool(['cross', BUSYBOX_SPEC, '--out', site, '--repository', debs.dir, '--arch', runnable.join(',')]);
    assert.equal(r.status, 0, `actool cross: ${r.stderr}`);
  });

  for (const arch of ORDER) {
    test(`busybox echo hello on ${arch}`, { skip: whyNoPods(arch) }, (t) => {
      if (skip) return t.skip(skip);
      const { env, setEnv } = qemuFor(arch);
      const w = new PodWorld(t);
      const image = imageOf(site, 'busybox', BUSYBOX_VERSION, arch);
      const r = w.rkt(['run', `--stage1-path=${stage1Of(arch)}`, ...setEnv, image, '--exec', '/bin/busybox', '--', 'echo', 'hello'], { env });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'hello\n');
    });
  }
});
