import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { PodJson } from '../src/pod/format.ts';
import { stage1Processes } from '../test/helpers/pods.ts';
import { makeFleet, provision, provisionAll, whyNoFleet, type Device, type Fleet, type Provisioned } from '../test/fleet/sim.ts';
import { benchTmp } from './lib/paths.ts';
import { median, type CaseResult } from './lib/report.ts';
import type { BenchCase, Runner } from './lib/types.ts';

// The fleet simulation of test/fleet/sim.ts at N=20: how long one provisioning script
// (examples/fleet/provision.sh) takes to bring 20 devices, provisioned at once, from
// nothing to a running, healthy service, how many bytes the image server sends them,
// and how long running it again takes when there is nothing to do.

const N = Number(process.env['FLEET_DEVICES'] ?? 20);

let fleet: Fleet | undefined;
/** What each device has now: nothing (fresh) or its service running (provisioned). */
const state = new Map<Device, 'fresh' | 'provisioned'>();
/** Bytes the server sent during each timed run, by runner label. */
const served = new Map<string, number[]>();

function check(results: Provisioned[]): void {
  for (const r of results) {
    if (r.code !== 0) throw new Error(`device ${r.device.index}: provision.sh exited ${r.code}: ${r.stderr.trim().split('\n').pop()}`);
    const pod = JSON.parse(r.stdout) as PodJson;
    if (pod.state !== 'running' || !pod.ready) throw new Error(`device ${r.device.index}: pod ${pod.uuid} is ${pod.state}, ready ${pod.ready}`);
    state.set(r.device, 'provisioned');
  }
}

/** Kills the device's pods (SIGKILL to their stage1, whose mounts die with its namespace) and empties its directories. */
function reset(device: Device): void {
  const data = device.env['RKT_DIR']!;
  for (let i = 0; i < 100; i++) {
    const pids = stage1Processes(data);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    spawnSync('sleep', ['0.02']);
  }
  for (const sub of ['data', 'etc', 'state']) fs.rmSync(path.join(device.dir, sub), { recursive: true, force: true });
  state.set(device, 'fresh');
}

/** Provisions, outside the timing, the devices that are not: every device's script at once, in one shell. */
function provisionSync(devices: Device[]): void {
  const todo = devices.filter((d) => state.get(d) !== 'provisioned');
  if (todo.length === 0) return;
  const script = todo.map((d) => `ip netns exec ${d.netns} env ${envWords(d)} sh ${JSON.stringify(PROVISION_SH)} >/dev/null 2>&1 &`).join('\n');
  const r = spawnSync('sh', ['-c', `${script}\nwait`], { stdio: 'ignore', timeout: 300_000 });
  if (r.status !== 0) throw new Error('fleet: provisioning before the timed run failed');
  for (const d of todo) state.set(d, 'provisioned');
}

const PROVISION_SH = path.resolve(import.meta.dirname, '../examples/fleet/provision.sh');
const envWords = (d: Device) =>
  Object.entries(d.env)
    .map(([k, v]) => `${k}='${v.replaceAll("'", "'\\''")}'`)
    .join(' ');

/**
 * A runner whose devices must be in `want` before each timed run. The harness reads a
 * runner's `output` once just before and once just after each run, outside the timing
 * (bench/pod-start.bench.ts uses the same hook): the "before" read gets them there.
 */
function runner(label: string, devices: () => Device[], want: 'fresh' | 'provisioned'): Runner {
  let reads = 0;
  return {
    label,
    unavailable: () => whyNoFleet() || null,
    fn: async () => {
      const f = fleet!;
      f.server.reset();
      const list = devices();
      check(list.length === 1 ? [await provision(list[0]!)] : await provisionAll(list));
      served.set(label, [...(served.get(label) ?? []), f.server.bytes]);
    },
    get output() {
      if (reads++ % 2 === 0 && fleet) {
        const list = devices();
        if (want === 'fresh') for (const d of list) if (state.get(d) !== 'fresh') reset(d);
        if (want === 'provisioned') provisionSync(list);
      }
      return undefined;
    },
  };
}

const ONE = 'provision 1 device (fresh)';
const ALL = `provision ${N} devices at once (fresh)`;
const AGAIN = `run it again on ${N} devices (nothing to do)`;

export const cases: BenchCase[] = [
  {
    name: `${N} devices, one provisioning script`,
    runs: 3,
    setup: async () => {
      if (whyNoFleet()) return;
      fs.mkdirSync(benchTmp, { recursive: true });
      fleet = await makeFleet(N, benchTmp);
      for (const d of fleet.devices) state.set(d, 'fresh');
    },
    teardown: async () => {
      await fleet?.destroy();
      fleet = undefined;
    },
    baseline: runner(ONE, () => fleet!.devices.slice(0, 1), 'fresh'),
    candidates: [runner(ALL, () => fleet!.devices, 'fresh'), runner(AGAIN, () => fleet!.devices, 'provisioned')],
  },
];

export const notes = `
The fleet simulation of test/fleet/sim.ts (docs/fleet.md) with ${N} devices: each a
network namespace on a bridge with its own \`--dir\` and \`--local-config\`, all running
examples/fleet/provision.sh at once (\`ip netns exec\`) against one static HTTPS server
on the bridge that holds the signed images \`actool cross\` made of examples/fleet
(hello.c for armv6l, armv7l, aarch64 and amd64). Each script trusts the release key,
fetches \`fleet.example.com/hello:1.0.0\` by discovery, prepares the pod, starts it and
waits with \`rkt status --wait-ready\` until its health command (\`hello check\`, run in
the pod) passes, then prints the status. A fresh device has an empty \`--dir\` and
config; before each fresh run the pods of the last one are killed and the directories
emptied, outside the timing. "Again" runs the same script on devices that already run
the service. Setup (the cross build, the key, the namespaces) is not timed.
`;

export function verdict([c]: CaseResult[]): string {
  const lines: string[] = [];
  const wall = (label: string) => median(c!.results.find((r) => r.runner.label === label)?.samples.map((s) => s.wallMs) ?? []);
  const bytes = (label: string) => median(served.get(label) ?? []);
  const one = wall(ONE);
  const all = wall(ALL);
  if (!Number.isNaN(all)) {
    lines.push(`- ${N} devices at once took ${(all / 1000).toFixed(1)} s, ${(all / one).toFixed(1)}x one device alone (${(one / 1000).toFixed(1)} s).`);
    lines.push(`- The server sent ${(bytes(ALL) / 1e6).toFixed(2)} MB for ${N} devices, ${(bytes(ALL) / N / 1e3).toFixed(0)} kB a device (the image, its signature, the discovery page); one device alone: ${(bytes(ONE) / 1e3).toFixed(0)} kB.`);
  }
  const again = wall(AGAIN);
  if (!Number.isNaN(again)) {
    lines.push(`- Running it again took ${(again / 1000).toFixed(1)} s for ${N} devices and the server sent ${bytes(AGAIN)} bytes: nothing was fetched, prepared or started.`);
  }
  if (lines.length === 0) lines.push(`- No verdict: ${c!.results.map((r) => r.note).filter(Boolean).join('; ') || 'no samples'}.`);
  return lines.join('\n');
}
