import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import type { PodManifest, Port } from '../../src/appc/types.ts';
import { DEFAULT_NETWORK, describeNetworks, loadNetworks, parseNetFlag, parsePortFlag, resolvePorts, tearDownPodNetwork } from '../../src/stage0/network.ts';
import { emptyDir } from '../helpers/run.ts';

// The pure parts of pod networking (src/stage0/network.ts); real pods on real networks
// are in test/pod/net.test.ts.

test('--net: host, none, or networks by name', () => {
  assert.deepEqual(parseNetFlag('host'), { net: 'host' });
  assert.deepEqual(parseNetFlag('none'), { net: 'none' });
  assert.deepEqual(parseNetFlag('default'), { net: 'private', networks: ['default'] });
  assert.deepEqual(parseNetFlag('default,lan'), { net: 'private', networks: ['default', 'lan'] });
  assert.throws(() => parseNetFlag(''), /network names/);
  assert.throws(() => parseNetFlag('default,host'), /host and none stand alone/);
  assert.throws(() => parseNetFlag('lan,lan'), /named twice/);
  assert.throws(() => parseNetFlag('../x'), /network names/);
});

test('--port NAME:[HOSTIP:]HOSTPORT', () => {
  assert.deepEqual(parsePortFlag('http:8080'), { name: 'http', hostPort: 8080 });
  assert.deepEqual(parsePortFlag('http:192.168.1.20:80'), { name: 'http', hostPort: 80, hostIP: '192.168.1.20' });
  for (const bad of ['http', 'http:0', 'http:65536', ':80', 'http:host:80']) assert.throws(() => parsePortFlag(bad), /NAME:\[HOSTIP:\]HOSTPORT/, bad);
});

test('networks: default built in, the rest from net.d, a net.d default replacing it', (t) => {
  const etc = emptyDir(t);
  assert.deepEqual(loadNetworks(etc, ['default']), [DEFAULT_NETWORK]);
  assert.throws(() => loadNetworks(etc, ['lan']), /no network lan \(known: default;/);
  mkdirSync(join(etc, 'net.d'));
  writeFileSync(join(etc, 'net.d', '10-lan.conf'), JSON.stringify({ name: 'lan', type: 'bridge' }));
  writeFileSync(join(etc, 'net.d', 'notes.txt'), 'not a config');
  assert.deepEqual(loadNetworks(etc, ['lan', 'default']), [{ cniVersion: '0.4.0', name: 'lan', type: 'bridge' }, DEFAULT_NETWORK]);
  writeFileSync(join(etc, 'net.d', '20-default.conf'), JSON.stringify({ cniVersion: '1.0.0', name: 'default', type: 'bridge' }));
  assert.equal(loadNetworks(etc, ['default'])[0]!.type, 'bridge');
  writeFileSync(join(etc, 'net.d', '30-bad.conf'), '{"name": "x"}');
  assert.throws(() => loadNetworks(etc, ['default']), /30-bad\.conf: a CNI network config needs "name" and "type"/);
});

test('ports resolve against the apps', () => {
  const http: Port = { name: 'http', protocol: 'tcp', port: 80, count: 1, socketActivated: false };
  const manifest = { ports: [{ name: 'http', hostPort: 8080 }] } as unknown as PodManifest;
  assert.deepEqual(resolvePorts(manifest, new Map([['web', [http]]])), [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
  assert.throws(() => resolvePorts(manifest, new Map([['web', []]])), /--port http: no app of the pod has a port of that name/);
});

test("rkt list's NETWORKS from POD/net", (t) => {
  const pod = emptyDir(t);
  assert.equal(describeNetworks(pod), '');
  mkdirSync(join(pod, 'net'));
  writeFileSync(join(pod, 'net', 'default.json'), JSON.stringify({ name: 'default', ifname: 'eth0', result: { ips: [{ address: '172.16.28.2/24' }] } }));
  writeFileSync(join(pod, 'net', 'lan.json'), JSON.stringify({ name: 'lan', ifname: 'eth1' }));
  assert.equal(describeNetworks(pod), 'default:ip4=172.16.28.2');
});

test('teardown: a symlink at POD/netns is neither given to the plugins nor unmounted through', { skip: process.getuid?.() !== 0 && 'needs root (mounts a tmpfs)' }, (t) => {
  const dir = emptyDir(t);
  const pod = join(dir, 'pod');
  const outside = mkdtempSync(join(tmpdir(), 'rkt-netns-outside-'));
  const plugins = join(dir, 'plugins');
  mkdirSync(join(pod, 'net'), { recursive: true });
  mkdirSync(plugins);
  const log = join(dir, 'log');
  writeFileSync(join(plugins, 'fake'), `#!/bin/sh\ncat >/dev/null\necho "$CNI_COMMAND netns=$CNI_NETNS" >>${log}\n`);
  chmodSync(join(plugins, 'fake'), 0o755);
  assert.equal(spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', outside]).status, 0);
  t.after(() => {
    spawnSync('umount', [outside]);
    rmSync(outside, { recursive: true, force: true });
  });
  writeFileSync(join(outside, 'kept'), '');
  symlinkSync(outside, join(pod, 'netns'));
  writeFileSync(join(pod, 'net', 'lan.json'), JSON.stringify({ name: 'lan', ifname: 'eth0', cniPath: plugins, conf: { cniVersion: '0.4.0', name: 'lan', type: 'fake' } }));
  tearDownPodNetwork(pod, '00000000-0000-4000-8000-000000000000', () => undefined, plugins);
  assert.ok(existsSync(join(outside, 'kept')), 'the mount the symlink pointed at is still mounted');
  assert.equal(readFileSync(log, 'utf8'), 'DEL netns=\n');
  assert.ok(!existsSync(join(pod, 'netns')));
});

test('teardown: DEL runs plugins from the CNI path, not from a directory a record in the pod names', (t) => {
  const dir = emptyDir(t);
  const pod = join(dir, 'pod');
  const planted = join(dir, 'planted');
  mkdirSync(join(pod, 'net'), { recursive: true });
  mkdirSync(planted);
  const marker = join(dir, 'ran');
  writeFileSync(join(planted, 'fake'), `#!/bin/sh\ncat >/dev/null\ntouch ${marker}\n`);
  chmodSync(join(planted, 'fake'), 0o755);
  writeFileSync(join(pod, 'net', 'lan.json'), JSON.stringify({ name: 'lan', ifname: 'eth0', cniPath: planted, conf: { cniVersion: '0.4.0', name: 'lan', type: 'fake' } }));
  const warnings: string[] = [];
  tearDownPodNetwork(pod, '00000000-0000-4000-8000-000000000000', (l) => warnings.push(l), join(dir, 'cni'));
  assert.ok(!existsSync(marker), 'the planted plugin ran');
  assert.match(warnings.join('\n'), /CNI plugin fake not found/);
});
