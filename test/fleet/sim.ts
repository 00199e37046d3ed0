import { spawn, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { testPki } from '../helpers/https-server.ts';
import { ACTOOL, HOST_PATH, RKT, mountsUnder, stage1Processes } from '../helpers/pods.ts';
import { isRoot, root } from '../helpers/run.ts';
import { Gpg } from '../trust/helpers.ts';

// The fleet simulation (docs/fleet.md): N devices, each a network namespace with its own
// rkt --dir and configuration, provisioned at once by examples/fleet/provision.sh from a
// static HTTPS server on a bridge, as boards would be from a web server on the LAN.
//
//   host:   bridge rkf<id>b, 10.250.X.1/24, the server on :443 (the test CA's certificate
//           for *.example.com), /etc/netns/<ns>/hosts naming fleet.example.com 10.250.X.1
//   device: netns rkt-fleet-<id>-<i>, eth0 10.250.X.(i+2)/24 on a veth to the bridge, lo up;
//           <work>/dev<i>/{data,etc,state}, the release key and the CA in <work>/dev<i>/fleet
//
// The site is what the cross pipeline makes: examples/fleet/build.sh compiles hello.c for
// every board, `actool cross hello.yaml --sign-key` packs and signs an image per arch.

export const IMAGE = 'fleet.example.com/hello:1.0.0';
export const HOST = 'fleet.example.com';
const EXAMPLE = path.join(root, 'examples/fleet');
export const PROVISION = path.join(EXAMPLE, 'provision.sh');
const COMPILERS = ['gcc', 'arm-linux-gnueabi-gcc', 'arm-linux-gnueabihf-gcc', 'aarch64-linux-gnu-gcc'];

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** Why the fleet cannot be simulated here, or false. */
export function whyNoFleet(): string | false {
  if (!isRoot) return 'needs root: network namespaces and pods';
  if (process.arch !== 'x64') return 'the simulated devices run the amd64 image: an x86_64 host';
  for (const f of [RKT, ACTOOL, path.join(root, 'dist/stage1-amd64.aci')]) if (!fs.existsSync(f)) return `no ${path.relative(root, f)}: npm run build`;
  for (const cmd of ['ip', 'gpg', 'setsid', ...COMPILERS]) if (!has(cmd)) return `needs ${cmd} (bash scripts/install-test-deps.sh; apt-get install iproute2)`;
  return false;
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: opts.env ?? { PATH: HOST_PATH }, cwd: opts.cwd, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? `exit ${r.status}`}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

// ---- the publisher: images and key --------------------------------------------------

export interface Site {
  /** The web root actool cross wrote: index.html, pubkeys.asc, fleet.example.com/*.aci(.asc). */
  dir: string;
  /** The release key's public part, as a device has it. */
  publicKey: string;
  /** Image ID by arch, as actool cross printed them. */
  ids: Record<string, string>;
}

/** build.sh, a signing key made with gpg, actool cross: the site, in `work/site`. */
export function buildSite(work: string): Site {
  const build = path.join(work, 'build');
  run('sh', [path.join(EXAMPLE, 'build.sh'), build]);
  fs.copyFileSync(path.join(EXAMPLE, 'hello.yaml'), path.join(work, 'hello.yaml'));
  const gpg = new Gpg(path.join(work, 'gnupg'));
  const uid = 'Fleet Release <release@fleet.example.com>';
  gpg.genKey(uid);
  fs.writeFileSync(path.join(work, 'release-key.sec.asc'), gpg.run(['--armor', '--export-secret-keys', uid]));
  const publicKey = path.join(work, 'release-key.asc');
  fs.writeFileSync(publicKey, gpg.exportKey(uid).armored);
  const dir = path.join(work, 'site');
  const out = run(process.execPath, [ACTOOL, 'cross', path.join(work, 'hello.yaml'), '--out', dir, '--sign-key', path.join(work, 'release-key.sec.asc')]);
  const ids = Object.fromEntries(out.trim().split('\n').map((l) => l.split(' ').slice(0, 2) as [string, string]));
  return { dir, publicKey, ids };
}

// ---- the server ---------------------------------------------------------------------

export interface FleetServer {
  address: string;
  /** Response bodies sent, in bytes, and requests answered, since the last reset(). */
  bytes: number;
  requests: string[];
  reset(): void;
  close(): Promise<void>;
}

/** A static HTTPS server for `site` on `address`:443, counting what it serves. */
export async function serveSite(site: Site, address: string): Promise<FleetServer> {
  const { cert, key } = testPki();
  const state = { bytes: 0, requests: [] as string[] };
  const files = new Map<string, Buffer>();
  const server = https.createServer({ cert, key }, (req, res) => {
    const url = new URL(req.url ?? '/', `https://${HOST}`);
    state.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const rel = url.pathname === '/' ? 'index.html' : path.normalize(decodeURIComponent(url.pathname)).replace(/^\/+/, '');
    const file = path.join(site.dir, rel);
    let body = files.get(file);
    if (!body && !rel.startsWith('..') && fs.existsSync(file) && fs.statSync(file).isFile()) files.set(file, (body = fs.readFileSync(file)));
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      state.bytes += 10;
      return;
    }
    const type = file.endsWith('.html') ? 'text/html' : file.endsWith('.asc') ? 'text/plain' : 'application/octet-stream';
    res.writeHead(200, { 'content-type': type, 'content-length': body.length });
    state.bytes += body.length;
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(443, address, resolve);
  });
  return {
    address,
    get bytes() {
      return state.bytes;
    },
    get requests() {
      return state.requests;
    },
    reset() {
      state.bytes = 0;
      state.requests = [];
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---- the network and the devices ----------------------------------------------------

export interface Device {
  index: number;
  netns: string;
  address: string;
  /** <work>/dev<i>: data (--dir), etc (--local-config), state (the script's), fleet (key, CA). */
  dir: string;
  env: Record<string, string>;
}

export interface Network {
  id: string;
  bridge: string;
  /** The server's address on the bridge. */
  gateway: string;
  subnet: string;
}

/** A bridge with a /24 no route of this host uses yet. */
export function makeNetwork(): Network {
  const routes = run('ip', ['-4', 'route', 'show', 'table', 'all']);
  for (let attempt = 0; attempt < 20; attempt++) {
    const x = randomInt(0, 256);
    const subnet = `10.250.${x}`;
    if (routes.includes(`${subnet}.`)) continue;
    const id = randomInt(0, 0xffff).toString(16).padStart(4, '0');
    const bridge = `rkf${id}b`;
    run('ip', ['link', 'add', bridge, 'type', 'bridge']);
    run('ip', ['addr', 'add', `${subnet}.1/24`, 'dev', bridge]);
    run('ip', ['link', 'set', bridge, 'up']);
    return { id, bridge, gateway: `${subnet}.1`, subnet };
  }
  throw new Error('fleet: no free 10.250.X.0/24 for the bridge');
}

/** Device `index` (0-based): its namespace, link, hosts file and directories. */
export function makeDevice(net: Network, work: string, site: Site, index: number): Device {
  const netns = `rkt-fleet-${net.id}-${index}`;
  const hostSide = `rkf${net.id}h${index}`;
  const address = `${net.subnet}.${index + 2}`;
  run('ip', ['netns', 'add', netns]);
  run('ip', ['link', 'add', hostSide, 'type', 'veth', 'peer', 'name', `rkf${net.id}d${index}`]);
  run('ip', ['link', 'set', `rkf${net.id}d${index}`, 'netns', netns, 'name', 'eth0']);
  run('ip', ['link', 'set', hostSide, 'master', net.bridge, 'up']);
  run('ip', ['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
  run('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
  run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  // `ip netns exec` binds /etc/netns/<ns>/hosts over /etc/hosts: the device's DNS.
  fs.mkdirSync(`/etc/netns/${netns}`, { recursive: true });
  fs.writeFileSync(`/etc/netns/${netns}/hosts`, `127.0.0.1 localhost\n${net.gateway} ${HOST}\n`);

  const dir = path.join(work, `dev${index}`);
  fs.mkdirSync(path.join(dir, 'fleet'), { recursive: true });
  fs.copyFileSync(site.publicKey, path.join(dir, 'fleet/release-key.asc'));
  fs.copyFileSync(testPki().caFile, path.join(dir, 'fleet/ca.pem'));
  return { index, netns, address, dir, env: deviceEnv(dir, work) };
}

function deviceEnv(dir: string, work: string): Record<string, string> {
  return {
    PATH: `${path.join(work, 'bin')}:${HOST_PATH}`,
    IMAGE,
    KEY: path.join(dir, 'fleet/release-key.asc'),
    CA_FILE: path.join(dir, 'fleet/ca.pem'),
    RKT: 'rkt',
    RKT_DIR: path.join(dir, 'data'),
    RKT_CONFIG: path.join(dir, 'etc'),
    STATE: path.join(dir, 'state'),
    READY_TIMEOUT: '60s',
  };
}

/**
 * <work>/bin/rkt, as a device has rkt on its PATH: a script that runs the bundle (a
 * symlink would hide dist/, where rkt finds its default stage1 beside itself).
 */
export function installRkt(work: string): void {
  fs.mkdirSync(path.join(work, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(work, 'bin/rkt'), `#!/bin/sh\nexec ${process.execPath} ${RKT} "$@"\n`, { mode: 0o755 });
}

export interface Provisioned {
  device: Device;
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** provision.sh on the device, in its namespace; resolves when the script exits. */
export function provision(device: Device, timeoutMs = 120_000): Promise<Provisioned> {
  const start = performance.now();
  const child = spawn('ip', ['netns', 'exec', device.netns, 'sh', PROVISION], { env: device.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ device, code, stdout, stderr, ms: performance.now() - start });
    }),
  );
}

/** Every device at once. */
export function provisionAll(devices: readonly Device[]): Promise<Provisioned[]> {
  return Promise.all(devices.map((d) => provision(d)));
}

/** `rkt ARGS` as the device's script runs it (its --dir and config), outside its namespace. */
export function deviceRkt(device: Device, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [RKT, `--dir=${device.env['RKT_DIR']}`, `--local-config=${device.env['RKT_CONFIG']}`, ...args], {
    encoding: 'utf8',
    env: { PATH: HOST_PATH },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What "changes nothing" compares: the store's images, the trusted keys, the pods and their states. */
export function deviceSnapshot(device: Device): string {
  const keys = listFiles(path.join(device.env['RKT_CONFIG']!, 'trustedkeys'));
  const images = JSON.parse(deviceRkt(device, ['image', 'list', '--format=json']).stdout) as { id: string }[];
  const pods = JSON.parse(deviceRkt(device, ['list', '--format=json']).stdout) as { uuid: string; state: string; pid?: number }[];
  const uuidFile = path.join(device.env['STATE']!, 'pod.uuid');
  return JSON.stringify({
    keys,
    images: images.map((i) => i.id).sort(),
    pods: pods.map((p) => `${p.uuid} ${p.state} ${p.pid ?? ''}`),
    uuid: fs.existsSync(uuidFile) ? fs.readFileSync(uuidFile, 'utf8') : null,
  });
}

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => {
      const file = path.join(e.parentPath, e.name);
      return `${path.relative(dir, file)} ${fs.statSync(file).size} ${fs.statSync(file).mtimeMs}`;
    })
    .sort();
}

/** Stops the device's pods and removes them, and everything under its --dir: a fresh device. */
export async function resetDevice(device: Device): Promise<void> {
  await stopPods(device);
  for (const sub of ['data', 'etc', 'state']) fs.rmSync(path.join(device.dir, sub), { recursive: true, force: true });
}

async function stopPods(device: Device): Promise<void> {
  const list = deviceRkt(device, ['list', '--format=json']);
  const pods = list.status === 0 ? (JSON.parse(list.stdout) as { uuid: string; state: string }[]) : [];
  for (const pod of pods.filter((p) => p.state === 'running')) {
    deviceRkt(device, ['stop', pod.uuid]);
    deviceRkt(device, ['status', '--wait=20s', pod.uuid]);
  }
  const data = device.env['RKT_DIR']!;
  for (const pid of stage1Processes(data)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (let i = 0; i < 50 && stage1Processes(data).length > 0; i++) await sleep(20);
  deviceRkt(device, ['gc', '--grace-period=0s']);
  for (const m of mountsUnder(device.dir).reverse()) spawnSync('umount', ['-l', m]);
}

export interface Fleet {
  work: string;
  site: Site;
  net: Network;
  server: FleetServer;
  devices: Device[];
  /** Stops every pod, removes the namespaces, the bridge, /etc/netns entries and `work`. */
  destroy(): Promise<void>;
}

/** The site, the server and `n` devices, in a fresh directory; destroy() undoes it all. */
export async function makeFleet(n: number, workParent = os.tmpdir()): Promise<Fleet> {
  const work = fs.mkdtempSync(path.join(workParent, 'rkt-fleet-'));
  fs.chmodSync(work, 0o755);
  const devices: Device[] = [];
  let net: Network | undefined;
  let server: FleetServer | undefined;
  const destroy = async () => {
    await Promise.all(devices.map((d) => stopPods(d).catch(() => undefined)));
    await server?.close();
    for (const d of devices) {
      spawnSync('ip', ['netns', 'del', d.netns]);
      fs.rmSync(`/etc/netns/${d.netns}`, { recursive: true, force: true });
    }
    if (net) spawnSync('ip', ['link', 'del', net.bridge]);
    fs.rmSync(work, { recursive: true, force: true });
  };
  try {
    const site = buildSite(work);
    installRkt(work);
    net = makeNetwork();
    server = await serveSite(site, net.gateway);
    for (let i = 0; i < n; i++) devices.push(makeDevice(net, work, site, i));
    return { work, site, net, server, devices, destroy };
  } catch (err) {
    await destroy();
    throw err;
  }
}
