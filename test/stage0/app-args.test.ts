import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEnvAssignment, parseMount, POD_VALUE_FLAGS, splitRunArgs } from '../../src/stage0/app-args.ts';
import { ExitCode } from '../../src/util/errors.ts';

const usage = (message: RegExp) => ({ name: 'UserError', exitCode: ExitCode.usage, message });

describe('splitRunArgs', () => {
  it('hands back the pod flags before the first image untouched', () => {
    const { podArgs, apps } = splitRunArgs(['--net=host', '--interactive', '--dir', '/tmp/d', 'example.com/hello']);
    assert.deepEqual(podArgs, ['--net=host', '--interactive', '--dir', '/tmp/d']);
    assert.deepEqual(apps, [{ image: 'example.com/hello', mounts: [], environment: [] }]);
  });

  it('does not take the value of a pod flag for an image, in either form', () => {
    for (const flag of ['volume', 'set-env', 'hostname', 'stage1-path', 'pull-policy', 'dns', 'dns-search', 'dns-opt', 'hosts-entry']) {
      assert.ok(POD_VALUE_FLAGS.includes(flag), flag);
      const spaced = splitRunArgs([`--${flag}`, 'value', 'img']);
      assert.deepEqual(spaced.podArgs, [`--${flag}`, 'value']);
      assert.equal(spaced.apps[0]!.image, 'img');
      const joined = splitRunArgs([`--${flag}=value`, 'img']);
      assert.deepEqual(joined.podArgs, [`--${flag}=value`]);
      assert.equal(joined.apps[0]!.image, 'img');
    }
  });

  it('reads each app flag, applying it to the image before it', () => {
    const { apps } = splitRunArgs([
      'a.aci',
      '--exec=/bin/sh',
      '--name',
      'web',
      '--user=www',
      '--group',
      '33',
      '--supplementary-gids=4,20',
      '--working-dir',
      '/srv',
      '--readonly-rootfs',
      '--mount',
      'volume=data,target=/var/data',
      '--environment=A=1',
      '--environment',
      'B=x=y',
      '--signature=a.aci.sig',
      'b.aci',
      '--readonly-rootfs=false',
    ]);
    assert.deepEqual(apps, [
      {
        image: 'a.aci',
        exec: '/bin/sh',
        name: 'web',
        user: 'www',
        group: '33',
        supplementaryGIDs: [4, 20],
        workingDir: '/srv',
        readOnlyRootFS: true,
        mounts: [{ volume: 'data', target: '/var/data' }],
        environment: [
          { name: 'A', value: '1' },
          { name: 'B', value: 'x=y' },
        ],
        signature: 'a.aci.sig',
      },
      { image: 'b.aci', readOnlyRootFS: false, mounts: [], environment: [] },
    ]);
  });

  it('takes everything after -- as the app\'s args, up to ---', () => {
    const { apps } = splitRunArgs(['one', '--name=x', '--', '--name=y', '-v', 'plain', '---', 'two', '--', '---', 'three', '--']);
    assert.deepEqual(
      apps.map((a) => [a.image, a.name, a.args]),
      [
        ['one', 'x', ['--name=y', '-v', 'plain']],
        ['two', undefined, []],
        ['three', undefined, []],
      ],
    );
  });

  it('reads a bare word after an image\'s flags as the next image, as rkt does', () => {
    const { apps } = splitRunArgs(['one', 'two', '--exec=/x', 'three']);
    assert.deepEqual(
      apps.map((a) => [a.image, a.exec]),
      [
        ['one', undefined],
        ['two', '/x'],
        ['three', undefined],
      ],
    );
  });

  it('returns no apps when there is no image (the caller decides whether that is allowed)', () => {
    assert.deepEqual(splitRunArgs(['--pod-manifest', 'p.json']), { podArgs: ['--pod-manifest', 'p.json'], apps: [] });
  });

  it('refuses mistakes in one usage line naming the flag', () => {
    const cases: [string[], RegExp][] = [
      [['--', 'x'], /^run: "--" must follow an image$/],
      [['---', 'x'], /^run: "---" must follow an image$/],
      [['--hostname'], /^run: --hostname needs a value$/],
      [['img', '--exec'], /^run: --exec needs a value$/],
      [['img', '--bogus=1'], /^run: unknown flag --bogus for image img$/],
      [['img', '--net=host'], /^run: unknown flag --net for image img \(pod flags go before the first image\)$/],
      [['img', '--name=a', '--name=b'], /^run: --name given twice for image img$/],
      [['img', '--name=Web_1'], /^run: --name "Web_1" must be an AC Name/],
      [['img', '--supplementary-gids=1,x'], /^run: --supplementary-gids "1,x": "x" is not a group ID$/],
      [['img', '--supplementary-gids=4294967296'], /is not a group ID$/],
      [['img', '--working-dir=srv'], /^run: --working-dir "srv" must be an absolute path$/],
      [['img', '--environment=1A=x'], /^run: --environment "1A=x" must be NAME=VALUE/],
      [['img', '--environment=NOVALUE'], /^run: --environment "NOVALUE" must be NAME=VALUE/],
      [['img', '--readonly-rootfs=yes'], /^run: --readonly-rootfs takes true or false, not "yes"$/],
      [['img', '--mount=volume=data'], /^run: --mount "volume=data" must be volume=NAME,target=PATH$/],
      [['img', '--mount=volume=Data,target=/d'], /volume "Data" must be an AC Name/],
      [['img', '--mount=volume=d,target=d'], /target "d" must be an absolute path$/],
      [['img', '--mount=volume=d,path=/d'], /"path=\/d" is not volume=NAME or target=PATH$/],
      [['img', '--', 'a', '---', '---', 'b'], /^run: "---" must follow an image$/],
    ];
    for (const [tokens, message] of cases) assert.throws(() => splitRunArgs(tokens), usage(message), tokens.join(' '));
  });
});

describe('parseEnvAssignment and parseMount', () => {
  it('splits at the first = and allows . and - in names', () => {
    assert.deepEqual(parseEnvAssignment('my.var-1=a=b', '--set-env'), { name: 'my.var-1', value: 'a=b' });
    assert.deepEqual(parseEnvAssignment('EMPTY=', '--set-env'), { name: 'EMPTY', value: '' });
    assert.throws(() => parseEnvAssignment('=x', '--set-env'), usage(/^run: --set-env "=x" must be NAME=VALUE/));
  });

  it('reads target and volume in either order', () => {
    assert.deepEqual(parseMount('target=/a,volume=v'), { volume: 'v', target: '/a' });
    assert.throws(() => parseMount('volume=v,volume=w,target=/a'), usage(/volume given twice$/));
  });
});
