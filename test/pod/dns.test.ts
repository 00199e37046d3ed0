import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { PodWorld, buildProbeImage, whyNotArch, PROBE_CACHE } from '../helpers/pods.ts';

// --dns, --dns-search, --dns-opt and --hosts-entry on real pods (docs/networking.md,
// "DNS and /etc/hosts"): what the app reads in /etc/resolv.conf and /etc/hosts, that it
// cannot write them, and --dns=host. Root only; the app is the host's static busybox in
// the probe image (which has no /etc/resolv.conf or /etc/hosts of its own). No network
// is needed: the pods run with --net=host or --net=none.

const skip = whyNotArch('amd64');
let img: string;

/** What the app sees: resolv.conf, hosts, then whether each could be written. */
const SCRIPT = [
  'cat /etc/resolv.conf',
  'echo ---',
  'cat /etc/hosts',
  'echo ---',
  'for f in /etc/resolv.conf /etc/hosts; do if echo x >> $f; then echo "wrote $f"; else echo "refused $f"; fi; done',
  'exit 0',
].join('; ');

function runPod(w: PodWorld, podFlags: string[], appFlags: string[] = [], env?: Record<string, string>): string[] {
  const r = w.rkt(['run', ...podFlags, img, ...appFlags, '--exec=/bin/busybox', '--', 'sh', '-c', SCRIPT], env ? { env } : {});
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('---\n');
}

describe('pod DNS files', { skip }, () => {
  before(() => {
    img = buildProbeImage('amd64', path.join(PROBE_CACHE, 'amd64', `dns-${process.pid}.aci`), { name: 'example.com/dns-probe' });
  });

  test('--dns, --dns-search, --dns-opt, --hosts-entry: the app reads exactly those files, read-only', (t) => {
    const w = new PodWorld(t);
    const [resolv, hosts, writes] = runPod(w, [
      '--net=none',
      '--hostname=sensor-1',
      '--dns=192.0.2.53',
      '--dns-search=example.com',
      '--dns-opt=ndots:2',
      '--hosts-entry=192.0.2.10=db,db.local',
    ]);
    assert.equal(resolv, 'nameserver 192.0.2.53\nsearch example.com\noptions ndots:2\n');
    assert.equal(hosts, '127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.0.1\tsensor-1\n192.0.2.10\tdb db.local\n');
    assert.equal(writes, 'refused /etc/resolv.conf\nrefused /etc/hosts\n');
  });

  test('--dns=host and --hosts-entry=host: the host files; with a read-only root and without overlay too', (t) => {
    const w = new PodWorld(t);
    const [resolv, hosts, writes] = runPod(w, ['--no-overlay', '--dns=host', '--hosts-entry=host'], ['--readonly-rootfs']);
    assert.equal(resolv, fs.readFileSync('/etc/resolv.conf', 'utf8'));
    assert.equal(hosts, fs.readFileSync('/etc/hosts', 'utf8'));
    assert.equal(writes, 'refused /etc/resolv.conf\nrefused /etc/hosts\n');
  });

  test('the same without FFI (RKT_FFI=off: stage1 takeover executes the plan)', (t) => {
    const w = new PodWorld(t);
    const [resolv, hosts, writes] = runPod(w, ['--dns=192.0.2.53', '--hosts-entry=192.0.2.10=db', '--hostname=zero'], [], { RKT_FFI: 'off' });
    assert.equal(resolv, 'nameserver 192.0.2.53\n');
    assert.equal(hosts, '127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.0.1\tzero\n192.0.2.10\tdb\n');
    assert.equal(writes, 'refused /etc/resolv.conf\nrefused /etc/hosts\n');
  });

  test('no flags, or --dns=none: the image keeps its own files (here, none)', (t) => {
    const w = new PodWorld(t);
    for (const flags of [[], ['--dns=none']]) {
      const r = w.rkt(['run', '--net=host', ...flags, img, '--exec=/bin/busybox', '--', 'sh', '-c', 'ls /etc']);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout.split('\n').filter(Boolean).sort(), ['group', 'passwd'], `${flags.join(' ')}: ${r.stdout}`);
    }
  });

  test('a bad IP is a one-line usage error naming the flag, before any pod is made', (t) => {
    const w = new PodWorld(t);
    for (const [flag, message] of [
      ['--dns=192.0.2.300', /^rkt: --dns=192\.0\.2\.300: not an IP address/],
      ['--hosts-entry=db=192.0.2.10', /^rkt: --hosts-entry=db=192\.0\.2\.10: db is not an IP address$/m],
    ] as const) {
      const r = w.rkt(['run', flag, img]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.deepEqual(w.pods(), []);
  });
});
