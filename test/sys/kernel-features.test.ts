import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  binfmtEntryFor,
  binfmtHandlerFor,
  binfmtMatches,
  cgroupSupport,
  cgroupVersion,
  controllerProbe,
  elfHeaderFor,
  kernelFeatures,
  namespaceSupport,
  overlaySupport,
  parseBinfmtEntry,
  parseFilesystems,
  parseProcCgroups,
} from '../../src/sys/kernel-features.ts';
import { MNT_DETACH, mount, umount2 } from '../../src/sys/linux.ts';
import { emptyDir, isRoot, root, runNode } from '../helpers/run.ts';

// ---- parsers ----

test('/proc/filesystems: nodev and block filesystems alike', () => {
  const types = parseFilesystems('nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\toverlay\n\tvfat\n');
  assert.deepEqual([...types], ['sysfs', 'tmpfs', 'ext4', 'overlay', 'vfat']);
  assert.equal(parseFilesystems('nodev\tsysfs\n\text4\n').has('overlay'), false);
});

// A Raspberry Pi OS kernel booted without cgroup_enable=memory.
const PI_CGROUPS = `#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t0\t1\t1
cpu\t0\t1\t1
cpuacct\t0\t1\t1
blkio\t0\t1\t1
memory\t0\t1\t0
devices\t0\t44\t1
pids\t0\t1\t1
`;

test('/proc/cgroups: controllers with hierarchy and enabled', () => {
  const controllers = parseProcCgroups(PI_CGROUPS);
  assert.equal(controllers.length, 7);
  assert.deepEqual(controllers[1], { name: 'cpu', hierarchy: 0, enabled: true });
  assert.deepEqual(controllerProbe(controllers, 'cpu'), { ok: true });
  const memory = controllerProbe(controllers, 'memory');
  assert.equal(memory.ok, false);
  assert.match(memory.ok ? '' : memory.reason, /memory cgroup controller is disabled .*cgroup_enable=memory/);
  const absent = controllerProbe(parseProcCgroups('#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t1\t1\t1\n'), 'memory');
  assert.deepEqual(absent, { ok: false, reason: 'the kernel has no memory cgroup controller' });
});

const QEMU_ARM = `enabled
interpreter /usr/libexec/qemu-binfmt/arm-binfmt-P
flags: PF
offset 0
magic 7f454c4601010100000000000000000002002800
mask ffffffffffffff00fffffffffffffffffeffffff
`;
const QEMU_AARCH64 = `enabled
interpreter /usr/bin/qemu-aarch64-static
flags: F
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
`;
const QEMU_ARMEB = `enabled
interpreter /usr/bin/qemu-armeb-static
flags: F
offset 0
magic 7f454c4601020100000000000000000000020028
mask ffffffffffffff00fffffffffffffffffffeffff
`;
const JAR = `enabled
interpreter /usr/bin/jexec
flags: 
offset 0
magic 504b0304
`;

test('a binfmt_misc entry: state, interpreter, flags, magic and mask', () => {
  const e = parseBinfmtEntry(QEMU_ARM);
  assert.equal(e.enabled, true);
  assert.equal(e.interpreter, '/usr/libexec/qemu-binfmt/arm-binfmt-P');
  assert.equal(e.flags, 'PF');
  assert.equal(e.offset, 0);
  assert.equal(e.magic?.toString('hex'), '7f454c4601010100000000000000000002002800');
  assert.equal(e.mask?.length, 20);
  assert.equal(parseBinfmtEntry(QEMU_ARM.replace('enabled', 'disabled')).enabled, false);
  const ext = parseBinfmtEntry('enabled\ninterpreter /usr/bin/wine\nflags: \nextension .exe\n');
  assert.equal(ext.extension, '.exe');
  assert.equal(ext.magic, undefined);
});

test('ELF headers per arch match the right qemu entries: class, byte order and e_machine', () => {
  const arm = parseBinfmtEntry(QEMU_ARM);
  const aarch64 = parseBinfmtEntry(QEMU_AARCH64);
  const armeb = parseBinfmtEntry(QEMU_ARMEB);
  const jar = parseBinfmtEntry(JAR);
  const matches = (arch: string) =>
    [arm, aarch64, armeb, jar].filter((e) => binfmtMatches(e, elfHeaderFor(arch)!)).map((e) => e.interpreter);
  assert.deepEqual(matches('armv6l'), [arm.interpreter]);
  assert.deepEqual(matches('armv7l'), [arm.interpreter]);
  assert.deepEqual(matches('armv7b'), [armeb.interpreter]);
  assert.deepEqual(matches('aarch64'), [aarch64.interpreter]);
  assert.deepEqual(matches('amd64'), []);
  assert.deepEqual(matches('i386'), []);
  assert.equal(elfHeaderFor('arm'), undefined);
  assert.equal(elfHeaderFor('amd64')!.readUInt16LE(18), 0x3e);
  assert.equal(binfmtMatches({ ...arm, enabled: false }, elfHeaderFor('armv7l')!), false);
});

test('binfmtHandlerFor reads a binfmt_misc directory, skipping status, register, disabled and non-ELF entries', (t) => {
  const dir = emptyDir(t);
  writeFileSync(join(dir, 'status'), 'enabled\n');
  writeFileSync(join(dir, 'register'), '');
  writeFileSync(join(dir, 'jar'), JAR);
  writeFileSync(join(dir, 'a-disabled-arm'), QEMU_ARM.replace('enabled', 'disabled').replace('arm-binfmt-P', 'old'));
  writeFileSync(join(dir, 'qemu-arm'), QEMU_ARM);
  writeFileSync(join(dir, 'qemu-aarch64'), QEMU_AARCH64);
  assert.equal(binfmtHandlerFor('armv6l', dir), '/usr/libexec/qemu-binfmt/arm-binfmt-P');
  assert.equal(binfmtHandlerFor('aarch64', dir), '/usr/bin/qemu-aarch64-static');
  assert.equal(binfmtEntryFor('aarch64', dir)?.flags, 'F');
  assert.equal(binfmtHandlerFor('amd64', dir), undefined);
  assert.equal(binfmtHandlerFor('sparc', dir), undefined);
  writeFileSync(join(dir, 'status'), 'disabled\n');
  assert.equal(binfmtHandlerFor('armv6l', dir), undefined, 'binfmt_misc turned off as a whole');
  assert.equal(binfmtHandlerFor('armv6l', join(dir, 'missing')), undefined);
});

test('cgroup version from a /sys/fs/cgroup layout', (t) => {
  const dir = emptyDir(t);
  const v1 = join(dir, 'v1');
  mkdirSync(join(v1, 'memory'), { recursive: true });
  assert.equal(cgroupVersion(v1), 'v1');
  const hybrid = join(dir, 'hybrid');
  mkdirSync(join(hybrid, 'unified'), { recursive: true });
  writeFileSync(join(hybrid, 'unified', 'cgroup.controllers'), 'memory pids\n');
  assert.equal(cgroupVersion(hybrid), 'hybrid');
  const v2 = join(dir, 'v2');
  mkdirSync(v2);
  writeFileSync(join(v2, 'cgroup.controllers'), 'cpu memory\n');
  assert.equal(cgroupVersion(v2), 'v2');
  const none = join(dir, 'none');
  mkdirSync(none);
  assert.equal(cgroupVersion(none), 'none');
  assert.equal(cgroupVersion(join(dir, 'missing')), 'none');
  const fake = join(dir, 'cgroups');
  writeFileSync(fake, PI_CGROUPS);
  const support = cgroupSupport(fake, v2);
  assert.equal(support.version, 'v2');
  assert.deepEqual(support.cpu, { ok: true });
  assert.equal(support.memory.ok, false);
  assert.match((cgroupSupport(join(dir, 'no-such-file'), v2).cpu as { reason: string }).reason, /cannot read/);
});

// ---- the real probes on this machine ----

test('namespaces: all five exist here', () => {
  assert.deepEqual(namespaceSupport(), { ok: true });
});

test('namespaces: a missing one is named with its kernel option', (t) => {
  const dir = emptyDir(t);
  mkdirSync(join(dir, 'ns'));
  for (const ns of ['mnt', 'uts', 'ipc']) writeFileSync(join(dir, 'ns', ns), '');
  assert.deepEqual(namespaceSupport(dir), { ok: false, reason: 'the kernel lacks pid, net namespaces (CONFIG_PID_NS, CONFIG_NET_NS)' });
});

test('cgroups and binfmt here agree with /proc', () => {
  const support = cgroupSupport();
  const text = readFileSync('/proc/cgroups', 'utf8');
  const memoryOn = /^memory\s+\d+\s+\d+\s+1$/m.test(text);
  assert.equal(support.memory.ok, memoryOn);
  assert.notEqual(support.version, 'none');
  const armEntry = existsSync('/proc/sys/fs/binfmt_misc/qemu-arm') ? parseBinfmtEntry(readFileSync('/proc/sys/fs/binfmt_misc/qemu-arm', 'utf8')) : undefined;
  if (armEntry?.enabled) assert.equal(binfmtHandlerFor('armv7l'), armEntry.interpreter);
});

test('overlay: the trial mount works here and leaves nothing behind', { skip: !isRoot && 'needs root (mount)' }, (t) => {
  const dir = emptyDir(t);
  assert.deepEqual(overlaySupport(dir), { ok: true });
  assert.deepEqual(readdirSync(dir), []);
  assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(dir));
  const all = kernelFeatures(dir);
  assert.deepEqual(all.overlay, { ok: true });
  assert.deepEqual(all.namespaces, { ok: true });
});

test('overlay: refused on an overlay (overlay as upper), with a reason; a missing dir is a reason too', { skip: !isRoot && 'needs root (mount)' }, (t) => {
  const dir = emptyDir(t);
  for (const d of ['l', 'u', 'w', 'm']) mkdirSync(join(dir, d));
  mount('overlay', join(dir, 'm'), 'overlay', 0, `lowerdir=${dir}/l,upperdir=${dir}/u,workdir=${dir}/w`);
  try {
    const result = overlaySupport(join(dir, 'm'));
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.reason, /^a trial overlay on .*\/m failed: the kernel refuses this filesystem as an upper layer, as on an overlay or FUSE \(mount .*: einval\)$/);
    assert.deepEqual(readdirSync(join(dir, 'm')), [], 'the trial directory is removed');
  } finally {
    umount2(join(dir, 'm'), MNT_DETACH);
  }
  const gone = overlaySupport(join(dir, 'missing'));
  assert.match(gone.ok ? '' : gone.reason, /^cannot make a trial directory: mkdtemp .*no such file or directory$/);
});

test('overlay: without root the reason says so', (t) => {
  const dir = emptyDir(t);
  chmodSync(dir, 0o777);
  let result: unknown;
  if (isRoot) {
    const script = join(dir, 'probe.mjs');
    writeFileSync(script, `import { overlaySupport } from ${JSON.stringify(join(root, 'src/sys/kernel-features.ts'))};\nconsole.log(JSON.stringify(overlaySupport(process.argv[2])));\n`);
    const r = runNode('--import', ['tsx', script, dir], { cwd: root, asNobody: true });
    assert.equal(r.status, 0, r.stderr);
    result = JSON.parse(r.stdout);
  } else {
    result = overlaySupport(dir);
  }
  assert.deepEqual(result, { ok: false, reason: `a trial overlay on ${dir} failed: mounting needs root` });
  assert.deepEqual(readdirSync(dir).filter((n) => n !== 'probe.mjs'), []);
});
