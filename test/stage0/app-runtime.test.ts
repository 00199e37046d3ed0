import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseImageManifest } from '../../src/appc/image-manifest.ts';
import type { App, RuntimeApp } from '../../src/appc/types.ts';
import type { AppArgs } from '../../src/stage0/app-args.ts';
import {
  appEnvironment,
  applyAppArgs,
  capabilityMask,
  DEFAULT_PATH,
  lookupExec,
  noNewPrivileges,
  parseEnvFile,
  resolveAppRuntime,
  resolveInRoot,
} from '../../src/stage0/app-runtime.ts';

/** An App as a validated manifest has it. */
function app(json: Record<string, unknown> = {}): App {
  return parseImageManifest(JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/x', app: { user: '0', group: '0', exec: ['/bin/x', '-a'], ...json } })).app!;
}

const args = (over: Partial<AppArgs> = {}): AppArgs => ({ image: 'x.aci', mounts: [], environment: [], ...over });

describe('applyAppArgs', () => {
  it('keeps the image\'s app when no flag is given', () => {
    assert.deepEqual(applyAppArgs('x', 'example.com/x', app(), args()), app());
  });

  it('--exec replaces the whole exec, -- ARGS replace exec[1..]', () => {
    assert.deepEqual(applyAppArgs('x', 'i', app(), args({ exec: '/bin/sh' })).exec, ['/bin/sh']);
    assert.deepEqual(applyAppArgs('x', 'i', app(), args({ args: ['-b', 'c'] })).exec, ['/bin/x', '-b', 'c']);
    assert.deepEqual(applyAppArgs('x', 'i', app(), args({ args: [] })).exec, ['/bin/x']);
    assert.deepEqual(applyAppArgs('x', 'i', app(), args({ exec: '/bin/sh', args: ['-c', 'true'] })).exec, ['/bin/sh', '-c', 'true']);
  });

  it('overrides user, group, groups, working directory; --environment replaces a same-named variable', () => {
    const a = applyAppArgs('x', 'i', app({ environment: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] }), args({
      user: 'www',
      group: 'www',
      supplementaryGIDs: [5],
      workingDir: '/srv',
      environment: [{ name: 'A', value: 'new' }],
    }));
    assert.deepEqual([a.user, a.group, a.supplementaryGIDs, a.workingDirectory], ['www', 'www', [5], '/srv']);
    assert.deepEqual(a.environment, [{ name: 'B', value: '2' }, { name: 'A', value: 'new' }]);
  });

  it('gives an image without an app one from --exec, running as root', () => {
    const a = applyAppArgs('x', 'i', undefined, args({ exec: '/bin/true' }));
    assert.deepEqual([a.exec, a.user, a.group], [['/bin/true'], '0', '0']);
  });

  it('refuses an app with nothing to execute, naming it', () => {
    const noExec = { name: 'UserError', message: 'app web: image example.com/web has no exec; give one with --exec after the image' };
    assert.throws(() => applyAppArgs('web', 'example.com/web', undefined, args()), noExec);
    assert.throws(() => applyAppArgs('web', 'example.com/web', app({ exec: [] }), args({ args: ['a'] })), noExec);
  });

  it('does not change the image\'s app', () => {
    const image = app({ environment: [{ name: 'A', value: '1' }] });
    applyAppArgs('x', 'i', image, args({ exec: '/y', environment: [{ name: 'A', value: '2' }] }));
    assert.deepEqual(image, app({ environment: [{ name: 'A', value: '1' }] }));
  });
});

describe('appEnvironment', () => {
  it('sets the ACE variables', () => {
    assert.deepEqual(appEnvironment('web', app(), { set: [] }), [`PATH=${DEFAULT_PATH}`, 'container=rkt', 'AC_APP_NAME=web']);
  });

  it('orders host < ACE < image < --set-env < --environment, and AC_APP_NAME always the app\'s', () => {
    const env = appEnvironment(
      'web',
      app({ environment: [{ name: 'PATH', value: '/opt/bin' }, { name: 'IMG', value: 'image' }, { name: 'S', value: 'image' }] }),
      {
        inherit: { HOME: '/root', IMG: 'host', PATH: '/host/bin', 'BAD NAME': 'x', UNSET: undefined },
        set: [{ name: 'S', value: 'set-env' }, { name: 'E', value: 'set-env' }, { name: 'AC_APP_NAME', value: 'forged' }],
      },
      [{ name: 'E', value: 'environment' }],
    );
    assert.deepEqual(env, ['HOME=/root', 'IMG=image', 'PATH=/opt/bin', 'container=rkt', 'S=set-env', 'E=environment', 'AC_APP_NAME=web']);
  });
});

describe('capabilityMask and noNewPrivileges', () => {
  const iso = (name: string, set: string[]) => ({ name, value: { set } });

  it('is the 14 default capabilities without an isolator', () => {
    // CAP_CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, FSETID 4, KILL 5, SETGID 6, SETUID 7, SETPCAP 8,
    // NET_BIND_SERVICE 10, NET_RAW 13, SYS_CHROOT 18, MKNOD 27, AUDIT_WRITE 29, SETFCAP 31.
    assert.equal(capabilityMask('x', []), 'a80425fb');
  });

  it('removes from the default set, and a capability outside it has no effect', () => {
    const mask = BigInt(`0x${capabilityMask('x', [iso('os/linux/capabilities-remove-set', ['CAP_SYS_CHROOT', 'CAP_MKNOD', 'CAP_SYS_ADMIN'])])}`);
    assert.equal(mask, 0xa80425fbn & ~((1n << 18n) | (1n << 27n)));
  });

  it('keeps only the retain set, which may go beyond the default', () => {
    assert.equal(capabilityMask('x', [iso('os/linux/capabilities-retain-set', ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE'])]), (0x1400).toString(16));
    assert.equal(capabilityMask('x', [iso('os/linux/capabilities-retain-set', ['CAP_CHECKPOINT_RESTORE'])]), (1n << 40n).toString(16));
  });

  it('refuses an unknown capability, naming the app', () => {
    assert.throws(() => capabilityMask('web', [iso('os/linux/capabilities-remove-set', ['CAP_NOPE'])]), {
      message: 'app web: unknown capability CAP_NOPE in its capabilities isolator',
    });
  });

  it('reads no-new-privileges', () => {
    assert.equal(noNewPrivileges([]), false);
    assert.equal(noNewPrivileges([{ name: 'os/linux/no-new-privileges', value: false }]), false);
    assert.equal(noNewPrivileges([{ name: 'os/linux/no-new-privileges', value: true }]), true);
  });
});

describe('parseEnvFile', () => {
  it('reads NAME=VALUE lines, skipping blanks and comments', () => {
    assert.deepEqual(parseEnvFile('# c\nA=1\r\n\n  # indented\nB=two=2\n', 'f'), [
      { name: 'A', value: '1' },
      { name: 'B', value: 'two=2' },
    ]);
    assert.throws(() => parseEnvFile('A=1\nnot a line\n', '/e.env'), { message: '--set-env-file /e.env: line 2 is not NAME=VALUE' });
  });
});

describe('resolveAppRuntime on a tree', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rkt-app-runtime-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;

  /** A tree with rootfs/<files>; a string is a file, { link } a symlink, null a directory. */
  function tree(files: Record<string, string | { link: string } | { exe: string } | null>): { treeId: string; path: string } {
    const path = join(dir, `tree-${n++}`);
    for (const [name, content] of Object.entries(files)) {
      const at = join(path, 'rootfs', name);
      mkdirSync(join(at, '..'), { recursive: true });
      if (content === null) mkdirSync(at, { recursive: true });
      else if (typeof content === 'string') writeFileSync(at, content);
      else if ('link' in content) symlinkSync(content.link, at);
      else {
        writeFileSync(at, content.exe);
        chmodSync(at, 0o755);
      }
    }
    mkdirSync(join(path, 'rootfs'), { recursive: true });
    return { treeId: `deps-sha512-${n}`, path };
  }

  const runtimeApp = (a: App, over: Partial<RuntimeApp> = {}): RuntimeApp => ({
    name: 'web',
    image: { name: 'example.com/web', id: 'sha512-x', labels: [] },
    app: a,
    readOnlyRootFS: false,
    mounts: [],
    annotations: [],
    ...over,
  });

  const resolve = (a: App, t: { treeId: string; path: string }, over: Partial<RuntimeApp> = {}) =>
    resolveAppRuntime({ runtimeApp: runtimeApp(a, over), imageApp: undefined, imageName: 'example.com/web', imageId: 'sha512-x', tree: t, podEnv: { set: [] } });

  it('fills every field of the record', () => {
    const t = tree({ 'etc/passwd': 'root:x:0:0::/root:/bin/sh\nwww:x:33:34::/:/bin/false\n', 'etc/group': 'www:x:34:\nstaff:x:50:\n' });
    const a = app({
      exec: ['/bin/web', '--port', '80'],
      user: 'www',
      group: 'staff',
      supplementaryGIDs: [100, 101],
      workingDirectory: '/srv',
      isolators: [{ name: 'os/linux/no-new-privileges', value: true }],
      eventHandlers: [
        { name: 'pre-start', exec: ['/bin/setup', 'x'] },
        { name: 'post-stop', exec: ['/bin/cleanup'] },
      ],
    });
    assert.deepEqual(resolve(a, t, { readOnlyRootFS: true }), {
      name: 'web',
      imageId: 'sha512-x',
      treeId: t.treeId,
      exec: ['/bin/web', '--port', '80'],
      env: [`PATH=${DEFAULT_PATH}`, 'container=rkt', 'AC_APP_NAME=web'],
      uid: 33,
      gid: 50,
      groups: [100, 101],
      cwd: '/srv',
      caps: 'a80425fb',
      noNewPrivileges: true,
      preStart: ['/bin/setup', 'x'],
      postStop: ['/bin/cleanup'],
      readOnlyRootFS: true,
    });
  });

  it('uses the image\'s app when the pod manifest gives none', () => {
    const t = tree({});
    const r = resolveAppRuntime({
      runtimeApp: { ...runtimeApp(app()), app: undefined },
      imageApp: app({ exec: ['/bin/img'] }),
      imageName: 'i',
      imageId: 'sha512-x',
      tree: t,
      podEnv: { set: [] },
    });
    assert.deepEqual(r.exec, ['/bin/img']);
  });

  it('needs no /etc/passwd for numeric ids', () => {
    const r = resolve(app({ user: '1000', group: '1000' }), tree({}));
    assert.deepEqual([r.uid, r.gid], [1000, 1000]);
  });

  it('looks a bare exec up in PATH inside the rootfs, through symlinks kept inside it', () => {
    const t = tree({ 'usr/bin/busybox': { exe: '' }, bin: { link: 'usr/bin' }, 'usr/local/bin/notexec': 'x' });
    assert.deepEqual(resolve(app({ exec: ['busybox', 'sh'] }), t).exec, ['/usr/bin/busybox', 'sh']);
    // The image's PATH is the one searched; /bin is a link to usr/bin.
    assert.deepEqual(resolve(app({ exec: ['busybox'], environment: [{ name: 'PATH', value: '/bin' }] }), t).exec, ['/bin/busybox']);
    assert.deepEqual(resolve(app({ exec: ['./run'], workingDirectory: '/srv' }), t).exec, ['/srv/run']);
    assert.throws(() => resolve(app({ exec: ['notexec'] }), t), { message: `app web: "notexec" is not in the image's PATH (${DEFAULT_PATH})` });
  });

  it('attack: a symlinked /etc/passwd pointing at the host\'s is read inside the image, not on the host', () => {
    // On the host this would read the real /etc/passwd, where root exists.
    const t = tree({ 'etc/passwd': { link: '/etc/shadow-not-here' } });
    assert.throws(() => resolve(app({ user: 'root' }), t), { message: 'app web: user "root" needs the image\'s /etc/passwd, and the image has none' });
    const up = tree({ 'etc/passwd': { link: '../../../../../../../../etc/hostname' } });
    assert.throws(() => resolve(app({ user: 'root' }), up), { message: /needs the image's \/etc\/passwd/ });
    const loop = tree({ 'etc/passwd': { link: '../../../../etc/passwd' } });
    assert.throws(() => resolve(app({ user: 'root' }), loop), { message: 'app web: /etc/passwd in the image: too many levels of symbolic links' });
  });

  it('attack: a path-form user through a symlink is refused, so no host file\'s owner leaks in', () => {
    const t = tree({ 'bin/ping': 'x', 'usr/bin/ping': { link: '/bin/ping' }, 'lnk/ping': 'x', lnk2: { link: '/lnk' } });
    assert.equal(resolve(app({ user: '/bin/ping', group: '/bin/ping' }), t).uid, process.getuid!());
    assert.throws(() => resolve(app({ user: '/usr/bin/ping' }), t), {
      message: 'app web: user/group path /usr/bin/ping: /usr/bin/ping is a symbolic link in the image; name the file itself',
    });
    assert.throws(() => resolve(app({ group: '/lnk2/ping' }), t), { message: /\/lnk2 is a symbolic link in the image/ });
    assert.throws(() => resolve(app({ user: '/nope' }), t), { message: 'app web: user/group path /nope is not in the image' });
  });

  it('resolveInRoot keeps .. and absolute links inside the root', () => {
    const t = tree({ 'a/b': { link: '../../../..' }, 'c/file': 'x', abs: { link: '/c' } });
    const rootfs = join(t.path, 'rootfs');
    assert.equal(resolveInRoot(rootfs, '/a/b/c/file')?.hostPath, join(rootfs, 'c/file'));
    assert.equal(resolveInRoot(rootfs, '/abs/file')?.hostPath, join(rootfs, 'c/file'));
    assert.equal(resolveInRoot(rootfs, '/c/file/more'), undefined);
    assert.equal(lookupExec(rootfs, ['/not/checked'], '', '/', 'x')[0], '/not/checked');
  });
});
