import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseSpec } from '../../src/build/cross/spec.ts';

const base = '/project';

function specError(text: string): string {
  try {
    parseSpec(text, base);
  } catch (err) {
    return (err as Error).message;
  }
  return 'no error';
}

const MINIMAL = 'name: example.com/hello\nversion: "1.0.0"\narches: [armv7l]\n';

describe('cross spec', () => {
  test('YAML and JSON give the same spec, relative paths taken from the spec directory', () => {
    const yaml = parseSpec(
      `${MINIMAL}files:\n  - { from: "build/app-{arch}", to: /usr/bin/app, mode: "0755" }\n` +
        'repositories:\n  - { uri: debs }\n  - { uri: "http://deb.example/debian", suite: bookworm, components: [main], keyring: k.gpg }\n',
      base,
    );
    const json = parseSpec(
      JSON.stringify({
        name: 'example.com/hello',
        version: '1.0.0',
        arches: ['armv7l'],
        files: [{ from: 'build/app-{arch}', to: '/usr/bin/app', mode: '0755' }],
        repositories: [{ uri: 'debs' }, { uri: 'http://deb.example/debian', suite: 'bookworm', components: ['main'], keyring: 'k.gpg' }],
      }),
      base,
    );
    assert.deepEqual(yaml, json);
    assert.deepEqual(yaml.files, [{ from: 'build/app-{arch}', to: '/usr/bin/app', mode: 0o755 }]);
    assert.deepEqual(yaml.repositories, [
      { uri: '/project/debs' },
      { uri: 'http://deb.example/debian', suite: 'bookworm', components: ['main'], keyring: '/project/k.gpg' },
    ]);
  });

  test('the app section is checked as a manifest app, with its field path', () => {
    assert.equal(specError(`${MINIMAL}app: { exec: [/bin/app], user: "0" }\n`), 'spec: app.group is required');
  });

  test('errors name the field path and the rule, on one line', () => {
    const cases: [string, string][] = [
      [`${MINIMAL}files:\n  - { from: a, to: /a }\n  - { from: b, to: /b }\n  - { from: "build/app-{cpu}", to: /usr/bin/app }\n`,
        'spec: files[2].from "build/app-{cpu}" has an unknown placeholder {cpu} (use {arch} or {debarch})'],
      ['name: example.com/hello\nversion: 1.10\narches: [armv7l]\n', 'spec: version 1.1 must be a string: quote it ("1.1")'],
      ['name: example.com/hello\nversion: "1"\narches: [arm]\n', 'spec: arches[0] "arm" is not a target arch (one of: armv6l, armv7l, aarch64, amd64)'],
      [`${MINIMAL}files: [{ from: a, to: /a, mode: 0755 }]\n`, 'spec: files[0].mode 755 must be an octal mode in quotes, such as "0755"'],
      [`${MINIMAL}files: [{ from: a, to: usr/a }]\n`, 'spec: files[0].to "usr/a" must be an absolute path without . or .. parts'],
      [`${MINIMAL}packges: [busybox]\n`, 'spec: packges is not a field here (known: name, version, arches, app, files, packages, repositories, raspbian, essential, dependencies, labels, annotations)'],
      [`${MINIMAL}labels: { arch: arm }\n`, 'spec: labels.arch is set by actool cross (version from the version field, os and arch per target)'],
      [`${MINIMAL}packages: ["Busybox"]\n`, 'spec: packages[0] "Busybox" is not a Debian package name (NAME, NAME:ARCH or NAME=VERSION)'],
      ['version: "1"\narches: [armv7l]\n', 'spec: name is required'],
      ['name: example.com/hello\nversion: "1"\narches: []\n', 'spec: arches must list at least one arch'],
      [`${MINIMAL}arches: [armv7l]\n`, 'spec: not JSON or YAML: Map keys must be unique at line 4, column 1:'],
    ];
    for (const [text, message] of cases) assert.equal(specError(text), message);
  });

  test('attack: a name with a .. part cannot place images outside DIR', () => {
    assert.equal(
      specError('name: example.com/../../etc\nversion: "1"\narches: [armv7l]\n'),
      'spec: name "example.com/../../etc" has an empty, . or .. part, which cannot name files in the output',
    );
    assert.equal(
      specError('name: example.com/hello\nversion: "../x"\narches: [armv7l]\n'),
      'spec: version "../x" cannot hold "/" or be . or ..: it is part of a file name',
    );
  });
});
