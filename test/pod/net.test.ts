import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { PodWorld, buildProbeImage, until, whyNotCni, PROBE_CACHE, type RktResult } from '../helpers/pods.ts';

// Pod networks on real pods (docs/networking.md): --net=default (ptp + host-local in
// 172.16.28.0/24, masqueraded), --port through portmap, --net=none, and what gc leaves.
// Root only, with Debian's containernetworking-plugins, iproute2 and iptables. The
// pods' app is the host's static busybox in the probe image. Nothing here touches an
// address outside loopback, 172.16.28.0/24 and the pods' own namespaces.

const skip = whyNotCni();
let img: string;

interface NetRecordJson {
  name: string;
  ifname: string;
  result?: { ips?: { address: string }[]; interfaces?: { name: string; sandbox?: string }[] };
}

/** The pod's address on the default network, from POD/net/default.json. */
function podIp(w: PodWorld, uuid: string): string {
  const file = path.join(w.podPath(uuid)!, 'net', 'default.json');
  const record = JSON.parse(fs.readFileSync(file, 'utf8')) as NetRecordJson;
  const ip = record.result?.ips?.[0]?.address.split('/')[0];
  assert.ok(ip?.startsWith('172.16.28.'), `an address in 172.16.28.0/24: ${JSON.stringify(record.result)}`);
  return ip!;
}

/** The host-side veth of the pod's default network. */
function hostVeth(w: PodWorld, uuid: string): string {
  const record = JSON.parse(fs.readFileSync(path.join(w.podPath(uuid)!, 'net', 'default.json'), 'utf8')) as NetRecordJson;
  const veth = record.result?.interfaces?.find((i) => !i.sandbox)?.name;
  assert.ok(veth, 'a host veth in the result');
  return veth;
}

/** `rkt run --net=... IMG --exec=/bin/busybox -- ARGS` in the background, with its UUID once POD/net (or the pid) is there. */
async function startPod(w: PodWorld, podFlags: string[], args: string[]): Promise<string> {
  const uuidFile = path.join(w.dir, `uuid-${Math.random().toString(36).slice(2)}`);
  const pod = w.start(['run', `--uuid-file-save=${uuidFile}`, ...podFlags, img, '--exec=/bin/busybox', '--', ...args]);
  let exited: RktResult | undefined;
  void pod.exited.then((r) => (exited = r));
  // (httpd serves its working directory, /.)
  await until(() => exited !== undefined || fs.existsSync(path.join(w.data, 'pods/run', readUuid(uuidFile), 'rkt/pid')), 'the pod to run');
  if (exited) throw new Error(`rkt run exited ${exited.status}: ${exited.stderr}`);
  return readUuid(uuidFile);
}

function readUuid(file: string): string {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() || 'none' : 'none';
}

/**
 * Stops and collects every pod of the world, so a failing test leaves no veth, address
 * or iptables rule behind (PodWorld's own cleanup kills the pods and unmounts POD/netns,
 * after which CNI DEL could no longer find the rules): call it in a finally.
 */
async function collectAll(w: PodWorld): Promise<void> {
  for (const p of w.pods()) {
    const [state, uuid] = p.split('/');
    if (state === 'run') w.rkt(['stop', '--force', uuid!]);
  }
  await until(() => w.pods().every((p) => !p.startsWith('run/') || !w.rkt(['status', p.split('/')[1]!]).stdout.includes('state=running')), 'pods to exit').catch(() => undefined);
  w.rkt(['gc', '--grace-period=0s']);
}

/** An HTTP/1.0 GET with busybox nc (busybox wget crashes in a pod without NSS libraries). */
const ncGet = (host: string, port: number, file: string) => `printf 'GET /${file} HTTP/1.0\r\n\r\n' | nc -w 5 ${host} ${port}`;

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
  });
}

async function getEventually(url: string): Promise<string> {
  let last: unknown;
  for (let i = 0; i < 50; i++) {
    try {
      return await get(url);
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw last;
}

function rktOk(w: PodWorld, args: string[]): string {
  const r = w.rkt(args);
  assert.equal(r.status, 0, `rkt ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' }).stdout;

describe('pod networks', { skip }, () => {
  before(() => {
    img = buildProbeImage('amd64', path.join(PROBE_CACHE, 'amd64', `net-${process.pid}.aci`), {
      name: 'example.com/net-probe',
      app: { ports: [{ name: 'http', protocol: 'tcp', port: 80 }] },
    });
  });

  test('--net=none: only loopback', (t) => {
    const w = new PodWorld(t);
    const out = rktOk(w, ['run', '--net=none', img, '--exec=/bin/busybox', '--', 'cat', '/proc/net/dev']);
    const ifaces = out.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean);
    assert.deepEqual(ifaces, ['lo']);
  });

  test('--net=default: two pods reach each other and the host, the host reaches them; stop + gc leave nothing', async (t) => {
    const w = new PodWorld(t);
    // A server on the host, on every address: the pods reach it at their gateway, 172.16.28.1.
    const server = http.createServer((_req, res) => res.end('host says hi\n'));
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    t.after(() => server.close());
    const hostPort = (server.address() as AddressInfo).port;

    try {
      await twoPods(w, hostPort);
    } finally {
      await collectAll(w);
    }
  });

  async function twoPods(w: PodWorld, hostPort: number): Promise<void> {
    const a = await startPod(w, ['--net=default'], ['httpd', '-f', '-p', '80']);
    const b = await startPod(w, ['--net=default'], ['sleep', '60']);
    const ipA = podIp(w, a);
    const ipB = podIp(w, b);
    assert.notEqual(ipA, ipB);
    const vethA = hostVeth(w, a);

    // host -> pod
    assert.match(await getEventually(`http://${ipA}/etc/passwd`), /^root:x:0:0/m);
    // pod -> pod, and pod -> host, from a third pod on the default network
    // In the background: the host's server is in this process, which spawnSync would block.
    const third = await w.start(['run', '--net=default', img, '--exec=/bin/busybox', '--', 'sh', '-c', `${ncGet(ipA, 80, 'etc/group')} && ${ncGet('172.16.28.1', hostPort, '')}`]).exited;
    assert.equal(third.status, 0, third.stderr);
    const fromPod = third.stdout;
    assert.match(fromPod, /^staff:x:50:app$/m);
    assert.match(fromPod, /^host says hi$/m);
    // Only lo and eth0 inside.
    const devs = rktOk(w, ['run', '--net=default', img, '--exec=/bin/busybox', '--', 'cat', '/proc/net/dev']);
    assert.deepEqual(devs.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort(), ['eth0', 'lo']);

    const list = rktOk(w, ['list', '--full']);
    assert.match(list, new RegExp(`default:ip4=${ipA.replace(/\./g, '\\.')}`), 'rkt list shows the network');

    assert.match(sh('iptables-save', []), new RegExp(a), 'ipMasq rules name the pod while it runs');
    for (const uuid of [a, b]) rktOk(w, ['stop', '--force', uuid]);
    await until(() => w.rkt(['status', a]).stdout.includes('state=exited') && w.rkt(['status', b]).stdout.includes('state=exited'), 'pods to exit');
    const podDirs = w.pods().map((p) => path.join(w.data, 'pods', p));
    rktOk(w, ['gc', '--grace-period=0s']);

    assert.deepEqual(w.pods(), [], 'gc removed every pod');
    const links = sh('ip', ['-o', 'link']);
    assert.ok(!links.includes(`${vethA}@`), `no veth ${vethA} left: ${links}`);
    const addrs = sh('ip', ['-o', 'addr']);
    for (const ip of [ipA, ipB]) assert.ok(!addrs.includes(` ${ip}/`), `no address ${ip} left`);
    const rules = sh('iptables-save', []);
    for (const uuid of [a, b]) assert.ok(!rules.includes(uuid), `no iptables rule naming ${uuid}`);
    for (const dir of podDirs) assert.ok(!fs.existsSync(path.join(dir, 'netns')), `no ${dir}/netns`);
    assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(w.data), 'nothing mounted under the pods');
    assert.ok(!fs.readdirSync('/var/lib/cni/networks/default').some((f) => f === ipA || f === ipB), 'the addresses went back to host-local');
  }

  test('--port forwards a host port to the app port (portmap)', async (t) => {
    const w = new PodWorld(t);
    const hostPort = 20000 + Math.floor(Math.random() * 20000);
    try {
      await forwarded(w, hostPort);
    } finally {
      await collectAll(w);
    }
  });

  async function forwarded(w: PodWorld, hostPort: number): Promise<void> {
    const uuid = await startPod(w, ['--net=default', `--port=http:${hostPort}`], ['httpd', '-f', '-p', '80']);
    podIp(w, uuid);
    // The host's own address on the pod's veth: a local address, so portmap's OUTPUT rule applies.
    assert.match(await getEventually(`http://172.16.28.1:${hostPort}/etc/passwd`), /^root:x:0:0/m);
    assert.match(sh('iptables-save', ['-t', 'nat']), new RegExp(`dport ${hostPort}`));
    rktOk(w, ['stop', '--force', uuid]);
    await until(() => w.rkt(['status', uuid]).stdout.includes('state=exited'), 'pod to exit');
    rktOk(w, ['gc', '--grace-period=0s']);
    const rules = sh('iptables-save', []);
    assert.ok(!rules.includes(uuid), 'no iptables rule naming the pod');
    assert.ok(!rules.includes(`dport ${hostPort}`), 'no forward of the port');
  }

  test('without FFI (RKT_FFI=off): the stage1 takeover joins POD/netns', async (t) => {
    const w = new PodWorld(t);
    try {
      const r = w.rkt(['run', '--net=default', img, '--exec=/bin/busybox', '--', 'ip', '-o', '-4', 'addr', 'show', 'eth0'], { env: { RKT_FFI: 'off' } });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /inet 172\.16\.28\.\d+\/24/);
    } finally {
      await collectAll(w);
    }
    assert.deepEqual(w.pods(), []);
  });

  test('--port names an app port and needs a private network; --net names known networks', (t) => {
    const w = new PodWorld(t);
    const noNet = w.rkt(['run', '--port=http:8080', img]);
    assert.notEqual(noNet.status, 0);
    assert.match(noNet.stderr, /--port needs a network/);
    const noPort = w.rkt(['run', '--net=default', '--port=nope:8080', img]);
    assert.notEqual(noPort.status, 0);
    assert.match(noPort.stderr, /no app of the pod has a port of that name \(ports: http\)/);
    const noNetwork = w.rkt(['run', '--net=nonet', img]);
    assert.notEqual(noNetwork.status, 0);
    assert.match(noNetwork.stderr, /no network nonet/);
  });

  test('a named network from <local-config>/net.d', async (t) => {
    const w = new PodWorld(t);
    fs.mkdirSync(path.join(w.dir, 'etc', 'net.d'), { recursive: true });
    // A subnet inside 172.16.28.0/24, so the test stays in the range it may use.
    fs.writeFileSync(
      path.join(w.dir, 'etc', 'net.d', '10-lan.conf'),
      JSON.stringify({ cniVersion: '0.4.0', name: 'rkt-test-lan', type: 'ptp', ipam: { type: 'host-local', subnet: '172.16.28.128/25' } }),
    );
    const out = rktOk(w, ['run', '--net=rkt-test-lan', img, '--exec=/bin/busybox', '--', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
    assert.match(out, /inet 172\.16\.28\.(1[3-9]\d|2\d\d)\/25/);
    rktOk(w, ['gc', '--grace-period=0s']);
    assert.deepEqual(w.pods(), []);
  });
});
