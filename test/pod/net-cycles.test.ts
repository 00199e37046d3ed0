import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PodWorld, buildProbeImage, hasCommand, whyNotCni, PROBE_CACHE } from '../helpers/pods.ts';

// The networking issue's promise (docs/networking.md, "What gc cleans up"): gc releases
// every address and removes every rule a pod added, so after many `rkt run --net=default`
// + `rkt gc` cycles (every 5th with --port, through portmap) the host has no leftover
// interface, address, iptables/nft rule, host-local reservation, netns file or mount of
// ours. N = 100 with RKT_LONG_TESTS=1, else 10. Root only, with Debian's
// containernetworking-plugins, iproute2 and iptables.
//
// The host-wide views (links, addresses, rules, host-local files, nsfs mounts) are
// compared with a snapshot taken before the first cycle. Other test files run at the
// same time (scripts/test.sh: --test-concurrency=2) and some start pods on the default
// network too, so a difference is polled for a while before it counts as ours; what is
// ours for certain (the pods' UUIDs, veths, addresses and --dir) is checked at once.

const LONG = process.env['RKT_LONG_TESTS'] === '1';
const CYCLES = LONG ? 100 : 10;
const PORT_EVERY = 5;
const HOST_LOCAL = '/var/lib/cni/networks/default';
/** portmap's shared chains, which stay once made (docs/networking.md). */
const SHARED_CHAIN = /^CNI-HOSTPORT-(DNAT|MASQ|SETMARK)$/;

const skip = whyNotCni();

function out(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

// ---- the host's view, as comparable lines -------------------------------------------

/** Interface names (`ip -o link`), without the peer suffix. */
function links(): string[] {
  return out('ip', ['-o', 'link'])
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(': ')[1]!.split('@')[0]!);
}

/** "IFNAME FAMILY ADDRESS" of every address (`ip -o addr`), lifetimes left out. */
function addrs(): string[] {
  return out('ip', ['-o', 'addr'])
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const f = l.split(/\s+/);
      return `${f[1]} ${f[2]} ${f[3]}`;
    });
}

/**
 * `iptables-save` (and `ip6tables-save`) of all tables as "TABLE LINE": chain
 * declarations without policy counters, rules as they are; comments and COMMIT dropped.
 */
function iptablesRules(): string[] {
  const lines: string[] = [];
  for (const [cmd, fam] of [['iptables-save', 'ip'], ['ip6tables-save', 'ip6']] as const) {
    if (!hasCommand(cmd)) continue;
    let table = '';
    for (const l of out(cmd, []).split('\n')) {
      if (l.startsWith('*')) table = l.slice(1);
      else if (l.startsWith(':')) lines.push(`${fam} ${table} ${l.replace(/\s*\[\d+:\d+\]$/, '')}`);
      else if (l.startsWith('-A ')) lines.push(`${fam} ${table} ${l}`);
    }
  }
  return lines;
}

/** Whether a line new since the snapshot is portmap's shared furniture: its chains, their fixed rules and the jumps to them. */
function sharedPortmapLine(line: string): boolean {
  const [, , rest] = line.split(/^(\S+ \S+) /);
  const r = rest ?? line;
  const decl = /^:(\S+)/.exec(r);
  if (decl) return SHARED_CHAIN.test(decl[1]!);
  const rule = /^-A (\S+) (.*)$/.exec(r);
  if (!rule) return false;
  const [, chain, body] = rule;
  // CNI-HOSTPORT-DNAT holds one jump per forwarded pod: not shared, must be empty again.
  if (chain === 'CNI-HOSTPORT-MASQ' || chain === 'CNI-HOSTPORT-SETMARK') return true;
  return ['PREROUTING', 'OUTPUT', 'POSTROUTING'].includes(chain!) && /-j CNI-HOSTPORT-(DNAT|MASQ)$/.test(body!);
}

/** `nft list ruleset` as "TABLE CHAIN RULE" lines (and "TABLE CHAIN" per chain), counters dropped; [] without nft. */
function nftRules(): string[] {
  if (!hasCommand('nft')) return [];
  const lines: string[] = [];
  let table = '';
  let chain = '';
  for (const raw of out('nft', ['list', 'ruleset']).split('\n')) {
    const l = raw.trim().replace(/counter packets \d+ bytes \d+/g, 'counter');
    let m: RegExpExecArray | null;
    if ((m = /^table (\S+ \S+) \{$/.exec(l))) [table, chain] = [m[1]!, ''];
    else if ((m = /^chain (\S+) \{$/.exec(l))) {
      chain = m[1]!;
      lines.push(`${table} ${chain}`);
    } else if (l === '}') {
      if (chain) chain = '';
      else table = '';
    } else if (chain && l && !/^(type |policy )/.test(l)) lines.push(`${table} ${chain} ${l}`);
  }
  return lines;
}

function sharedPortmapNft(line: string): boolean {
  const [, , chain, ...rule] = line.split(' ');
  if (chain && SHARED_CHAIN.test(chain)) return chain !== 'CNI-HOSTPORT-DNAT' || rule.length === 0;
  return /jump CNI-HOSTPORT-(DNAT|MASQ)$/.test(rule.join(' '));
}

/** Files in host-local's directory for the default network, but its bookkeeping (lock, last_reserved_ip.*). */
function reservations(): string[] {
  if (!fs.existsSync(HOST_LOCAL)) return [];
  return fs.readdirSync(HOST_LOCAL).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'));
}

/** Mount points of network namespace files (nsfs) in this mount namespace. */
function nsMounts(): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => / - nsfs /.test(l))
    .map((l) => l.split(' ')[4]!);
}

interface Snapshot {
  links: string[];
  addrs: string[];
  iptables: string[];
  nft: string[];
  reservations: string[];
  nsMounts: string[];
}

function snapshot(): Snapshot {
  return { links: links(), addrs: addrs(), iptables: iptablesRules(), nft: nftRules(), reservations: reservations(), nsMounts: nsMounts() };
}

/** What `now` has that `before` had not (as multisets), minus what `allowed` accepts. */
function extra(before: string[], now: string[], allowed: (l: string) => boolean = () => false): string[] {
  const left = new Map<string, number>();
  for (const l of before) left.set(l, (left.get(l) ?? 0) + 1);
  return now.filter((l) => {
    const n = left.get(l) ?? 0;
    if (n > 0) {
      left.set(l, n - 1);
      return false;
    }
    return !allowed(l);
  });
}

/** Every difference from `base` that is not portmap's shared chains: [] when the host is as it was. */
function leftovers(base: Snapshot): Record<string, string[]> {
  const now = snapshot();
  const diff: Record<string, string[]> = {
    links: extra(base.links, now.links),
    // Gone since the snapshot too: an address the test's pods must not have taken away.
    addrs: [...extra(base.addrs, now.addrs), ...extra(now.addrs, base.addrs).map((a) => `missing: ${a}`)],
    iptables: extra(base.iptables, now.iptables, sharedPortmapLine),
    nft: extra(base.nft, now.nft, sharedPortmapNft),
    reservations: extra(base.reservations, now.reservations),
    nsMounts: extra(base.nsMounts, now.nsMounts),
  };
  return Object.fromEntries(Object.entries(diff).filter(([, v]) => v.length > 0));
}

// ---- the pods ------------------------------------------------------------------------

interface NetRecordJson {
  result?: { ips?: { address: string }[]; interfaces?: { name: string; sandbox?: string }[] };
}

interface PodTrace {
  uuid: string;
  ip: string;
  veth: string;
  hostPort?: number;
}

let img: string;

describe('pod networks: run + gc cycles', { skip }, () => {
  before(() => {
    img = buildProbeImage('amd64', path.join(PROBE_CACHE, 'amd64', `net-cycles-${process.pid}.aci`), {
      name: 'example.com/net-cycles',
      app: { ports: [{ name: 'http', protocol: 'tcp', port: 80 }] },
    });
  });
  after(() => fs.rmSync(img, { force: true }));

  test(`${CYCLES} run --net=default + gc cycles leave no interface, address, rule, reservation or netns`, async (t) => {
    t.diagnostic(`${CYCLES} cycles, every ${PORT_EVERY}th with --port${LONG ? ' (RKT_LONG_TESTS=1)' : '; RKT_LONG_TESTS=1 runs 100'}`);
    const w = new PodWorld(t);
    const base = snapshot();
    const traces: PodTrace[] = [];
    const warnings: string[] = [];
    const started = Date.now();
    try {
      for (let i = 0; i < CYCLES; i++) {
        const uuidFile = path.join(w.dir, `uuid-${i}`);
        const hostPort = i % PORT_EVERY === PORT_EVERY - 1 ? 20000 + Math.floor(Math.random() * 20000) : undefined;
        const flags = ['--net=default', ...(hostPort ? [`--port=http:${hostPort}`] : [])];
        const run = w.rkt(['run', `--uuid-file-save=${uuidFile}`, ...flags, img, '--', 'exit', '0']);
        assert.equal(run.status, 0, `cycle ${i}: rkt run ${flags.join(' ')}: ${run.stderr}`);
        const uuid = fs.readFileSync(uuidFile, 'utf8').trim();
        // Until gc an exited pod keeps its network: what it got is in POD/net/default.json.
        const podPath = w.podPath(uuid);
        assert.ok(podPath, `cycle ${i}: pod ${uuid} is there before gc`);
        const record = JSON.parse(fs.readFileSync(path.join(podPath, 'net', 'default.json'), 'utf8')) as NetRecordJson;
        const ip = record.result?.ips?.[0]?.address.split('/')[0] ?? '';
        const veth = record.result?.interfaces?.find((f) => !f.sandbox)?.name ?? '';
        assert.match(ip, /^172\.16\.28\.\d+$/, `cycle ${i}: ${JSON.stringify(record.result)}`);
        assert.ok(veth, `cycle ${i}: a host veth in ${JSON.stringify(record.result)}`);
        traces.push({ uuid, ip, veth, hostPort });

        const gc = w.rkt(['gc', '--grace-period=0s']);
        assert.equal(gc.status, 0, `cycle ${i}: rkt gc: ${gc.stderr}`);
        if (/warn|fail|error/i.test(gc.stderr)) warnings.push(`cycle ${i} (${uuid}): ${gc.stderr.trim()}`);
        assert.deepEqual(w.pods(), [], `cycle ${i}: pods left after gc`);
      }
    } finally {
      t.diagnostic(`${traces.length} cycles in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      // A failed cycle must not leave its pod's network to the world's cleanup (which
      // unmounts POD/netns first, after which DEL no longer finds the rules).
      if (w.pods().length > 0) w.rkt(['gc', '--grace-period=0s']);
    }

    // Ours for certain: checked at once.
    const linkNames = links();
    const addrLines = addrs();
    const rules = iptablesRules().join('\n');
    const nft = nftRules().join('\n');
    const reserved = reservations();
    const mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    const ours = {
      veths: traces.filter((p) => linkNames.includes(p.veth)).map((p) => `${p.veth} (${p.uuid})`),
      // ptp's gateway address (172.16.28.1/32) sits on each pod's host veth, so it goes with
      // it. Other test files' pods may have theirs up now: only our veths count here (the
      // snapshot comparison below, with its grace period, sees everything).
      addresses: addrLines.filter((a) => / inet 172\.16\.28\./.test(a) && traces.some((p) => a.startsWith(`${p.veth} `))),
      iptables: traces.filter((p) => rules.includes(p.uuid)).map((p) => p.uuid),
      nft: traces.filter((p) => nft.includes(p.uuid)).map((p) => p.uuid),
      ports: traces.filter((p) => p.hostPort && new RegExp(`dport ${p.hostPort}\\b`).test(rules)).map((p) => `${p.hostPort} (${p.uuid})`),
      reservations: traces.filter((p) => reserved.includes(p.ip)).map((p) => `${p.ip} (${p.uuid})`),
      mounts: mountinfo.split('\n').filter((l) => l.includes(w.dir)),
    };
    const found = Object.fromEntries(Object.entries(ours).filter(([, v]) => v.length > 0));
    assert.deepEqual(found, {}, `left by the pods:\n${JSON.stringify(found, null, 2)}`);
    assert.deepEqual(warnings, [], 'gc reported no failed DEL');
    // The pod directories (and so their POD/netns files) are gone.
    assert.deepEqual(traces.filter((p) => w.podPath(p.uuid) !== undefined).map((p) => p.uuid), [], 'pod directories (with POD/netns) left');

    // The host as a whole, as before the first cycle (but portmap's shared chains).
    let diff = leftovers(base);
    for (const end = Date.now() + 10_000; Object.keys(diff).length > 0 && Date.now() < end; diff = leftovers(base)) await sleep(250);
    assert.deepEqual(diff, {}, `the host differs from before the first cycle:\n${JSON.stringify(diff, null, 2)}`);
  });
});
