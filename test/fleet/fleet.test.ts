import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PodJson } from '../../src/pod/format.ts';
import { ACTOOL, HOST_PATH } from '../helpers/pods.ts';
import { deviceRkt, deviceSnapshot, makeFleet, provision, provisionAll, whyNoFleet, type Device, type Fleet, type Provisioned } from './sim.ts';

// The fleet simulation (test/fleet/sim.ts, docs/fleet.md): five devices, each a network
// namespace with its own rkt --dir and configuration, provisioned at once by
// examples/fleet/provision.sh from a static HTTPS server holding the signed per-arch
// images of examples/fleet. Then the same script again, which must change nothing.

const N = 5;

/** GET http://ADDRESS:PORT/ from the host, through the bridge: the device's service itself. */
function get(address: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: address, port, path: '/', timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve(`${res.statusCode} ${body}`));
      })
      .on('error', reject);
  });
}

function statusOf(r: Provisioned): PodJson {
  assert.equal(r.code, 0, `device ${r.device.index}: exit ${r.code}: ${r.stderr}`);
  // One JSON document and nothing else on stdout.
  return JSON.parse(r.stdout) as PodJson;
}

describe(`fleet: ${N} devices provisioned at once`, { skip: whyNoFleet() }, () => {
  let fleet: Fleet;
  let first: Provisioned[];
  const uuids = new Map<Device, string>();

  before(async () => {
    fleet = await makeFleet(N);
  });
  after(async () => {
    await fleet?.destroy();
  });

  it('each device trusts the key, fetches its image by discovery, runs the service and reports it running and ready', async () => {
    first = await provisionAll(fleet.devices);
    for (const r of first) {
      const pod = statusOf(r);
      assert.equal(pod.state, 'running', r.stderr);
      assert.equal(pod.ready, true);
      assert.equal(pod.apps.length, 1);
      assert.equal(pod.apps[0]!.state, 'running');
      assert.equal(pod.apps[0]!.imageName, 'fleet.example.com/hello');
      assert.equal(pod.apps[0]!.imageId, fleet.site.ids['amd64'], 'the amd64 image of the site');
      uuids.set(r.device, pod.uuid);
      assert.match(r.stderr, /Added key [0-9a-f]{40} for prefix fleet\.example\.com\/hello/);
      assert.equal(await get(r.device.address, 8080), '200 hello from x86_64\n');
    }
    // Discovery (a 404 for the name, then the host's page), the image and its signature, per device.
    assert.equal(fleet.server.requests.length, 4 * N, fleet.server.requests.join('\n'));
    const aci = fs.statSync(path.join(fleet.site.dir, 'fleet.example.com/hello-1.0.0-linux-amd64.aci')).size;
    assert.ok(fleet.server.bytes > N * aci && fleet.server.bytes < N * (aci + 4096), `bytes served: ${fleet.server.bytes}`);
  });

  it('running the script again changes nothing, serves nothing and exits 0', async () => {
    const before = fleet.devices.map(deviceSnapshot);
    fleet.server.reset();
    const again = await provisionAll(fleet.devices);
    for (const r of again) {
      const pod = statusOf(r);
      assert.equal(pod.uuid, uuids.get(r.device), 'the same pod, not a second one');
      assert.equal(pod.state, 'running');
      assert.match(r.stderr, /is already trusted for prefix fleet\.example\.com\/hello/);
      assert.match(r.stderr, new RegExp(`pod ${pod.uuid} \\(.*pod\\.uuid\\) is already running: not preparing another`));
    }
    assert.deepEqual(fleet.server.requests, [], 'an image already stored is not asked for (--pull-policy=new)');
    assert.equal(fleet.server.bytes, 0);
    assert.deepEqual(fleet.devices.map(deviceSnapshot), before, 'keys, images, pods and UUID files unchanged');
  });

  it('a device whose service stopped gets a new pod from the stored image on the next run', async () => {
    const device = fleet.devices[1]!;
    const old = uuids.get(device)!;
    assert.equal(deviceRkt(device, ['stop', old]).status, 0);
    assert.equal(deviceRkt(device, ['status', '--wait=20s', old]).status, 0);
    fleet.server.reset();
    const pod = statusOf(await provision(device));
    assert.notEqual(pod.uuid, old);
    assert.equal(pod.state, 'running');
    assert.equal(fleet.server.bytes, 0);
    assert.equal(fs.readFileSync(path.join(device.env['STATE']!, 'pod.uuid'), 'utf8'), `${pod.uuid}\n`);
    uuids.set(device, pod.uuid);
  });

  it('a new version: the script prepares a pod of it, stops the old one and starts the new', async () => {
    // The publisher builds 1.0.1 into the same site: only the new files are added.
    const spec = path.join(fleet.work, 'hello.yaml');
    fs.writeFileSync(spec, fs.readFileSync(spec, 'utf8').replace('version: "1.0.0"', 'version: "1.0.1"'));
    const built = spawnSync(process.execPath, [ACTOOL, 'cross', spec, '--out', fleet.site.dir, '--arch', 'amd64', '--sign-key', path.join(fleet.work, 'release-key.sec.asc')], {
      encoding: 'utf8',
      env: { PATH: HOST_PATH },
    });
    assert.equal(built.status, 0, built.stderr);
    const device = fleet.devices[2]!;
    const old = uuids.get(device)!;
    fleet.server.reset();
    const r = await provision({ ...device, env: { ...device.env, IMAGE: 'fleet.example.com/hello:1.0.1' } });
    const pod = statusOf(r);
    assert.notEqual(pod.uuid, old);
    assert.equal(pod.state, 'running');
    assert.match(r.stderr, /runs fleet\.example\.com\/hello:1\.0\.0, not fleet\.example\.com\/hello:1\.0\.1: preparing a new one/);
    assert.equal(JSON.parse(deviceRkt(device, ['status', '--format=json', old]).stdout).state, 'exited');
    assert.deepEqual(
      fleet.server.requests.filter((q) => q.endsWith('.aci')),
      ['GET /fleet.example.com/hello-1.0.1-linux-amd64.aci'],
    );
    assert.equal(await get(device.address, 8080), '200 hello from x86_64\n');
  });
});
