import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { hostAptSources } from '../../src/debian/apt-sources.ts';
import { loadIndex } from '../../src/debian/repository.ts';
import { UserError } from '../../src/util/errors.ts';
import { tempDir } from '../appc/fixtures/aci-layout.ts';
import { makeDebianRepo } from '../helpers/debian-repo.ts';
import { Gpg } from '../trust/helpers.ts';

// hostAptSources on a made-up /etc/apt: both file formats, as Debian, Ubuntu and
// Raspberry Pi OS write them.

function aptDir(dir: string, files: Record<string, string>): string {
  const apt = join(dir, 'etc', 'apt');
  mkdirSync(join(apt, 'sources.list.d'), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(apt, name), text);
  return apt;
}

test('reads one-line sources: options, comments, deb-src and other transports', async () => {
  const apt = aptDir(await tempDir('apt-one-line'), {
    'sources.list': [
      '# the main archive',
      'deb http://deb.example.org/debian bookworm main contrib # trailing comment',
      'deb-src http://deb.example.org/debian bookworm main',
      'deb [ arch=armhf,arm64 signed-by=/usr/share/keyrings/ports.gpg ] http://ports.example.org/ubuntu-ports noble main universe',
      'deb cdrom:[Debian GNU/Linux 12.5.0 _Bookworm_]/ bookworm main',
      'deb file:/srv/local ./',
      '',
    ].join('\n'),
    'sources.list.d/raspi.list': 'deb [signed-by=/usr/share/keyrings/raspi.gpg] http://archive.example.org/raspbian/ bookworm main\n',
    'sources.list.d/old.list.save': 'deb http://ignored.example.org/ x main\n',
  });
  mkdirSync(join(apt, 'trusted.gpg.d'));
  assert.deepEqual(hostAptSources(apt), [
    { uri: 'http://deb.example.org/debian', suite: 'bookworm', components: ['main', 'contrib'], keyring: join(apt, 'trusted.gpg.d') },
    { uri: 'http://ports.example.org/ubuntu-ports', suite: 'noble', components: ['main', 'universe'], keyring: '/usr/share/keyrings/ports.gpg', architectures: ['armhf', 'arm64'] },
    { uri: 'http://archive.example.org/raspbian/', suite: 'bookworm', components: ['main'], keyring: '/usr/share/keyrings/raspi.gpg' },
  ]);
});

test('reads deb822 sources: several URIs and suites, Enabled: no, an inline Signed-By key', async () => {
  const dir = await tempDir('apt-deb822');
  const gpg = new Gpg(join(dir, 'gnupg'));
  const repo = makeDebianRepo(join(dir, 'r'), { arches: ['armhf'], packages: [{ name: 'hello', version: '1' }], sign: gpg });
  const armored = gpg.run(['--armor', '--export']).toString().trimEnd();
  // deb822 folds the key: each line indented, an empty one written " .".
  const inline = armored.split('\n').map((l) => ` ${l === '' ? '.' : l}`).join('\n');
  const apt = aptDir(dir, {
    'sources.list.d/debian.sources': [
      'Types: deb deb-src',
      'URIs: http://deb.example.org/debian http://mirror.example.org/debian',
      'Suites: bookworm bookworm-updates',
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
      '# disabled',
      'Types: deb',
      'URIs: http://off.example.org/debian',
      'Suites: bookworm',
      'Components: main',
      'Enabled: no',
      '',
      'Types: deb-src',
      'URIs: http://src.example.org/debian',
      'Suites: bookworm',
      'Components: main',
      '',
    ].join('\n'),
    'sources.list.d/local.sources': `Types: deb\nURIs: ${pathToFileURL(repo.root).href}\nSuites: testing\nComponents: main\nArchitectures: armhf\nSigned-By:\n${inline}\n`,
  });
  const sources = hostAptSources(apt);
  const keyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
  assert.deepEqual(sources.slice(0, 4), [
    { uri: 'http://deb.example.org/debian', suite: 'bookworm', components: ['main'], keyring },
    { uri: 'http://deb.example.org/debian', suite: 'bookworm-updates', components: ['main'], keyring },
    { uri: 'http://mirror.example.org/debian', suite: 'bookworm', components: ['main'], keyring },
    { uri: 'http://mirror.example.org/debian', suite: 'bookworm-updates', components: ['main'], keyring },
  ]);
  assert.equal(sources.length, 5);
  const local = sources[4]!;
  assert.deepEqual(local.architectures, ['armhf']);
  assert.match(local.inlineKeys!, /^-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n/);
  assert.equal(local.keyring, undefined);
  // The inline key is the one that signed the repository.
  assert.deepEqual((await loadIndex(local, 'armhf')).map((p) => p.name), ['hello']);
});

test('a host without apt has no sources', async () => {
  assert.deepEqual(hostAptSources(join(await tempDir('apt-none'), 'etc', 'apt')), []);
});

test('a broken line names its file and line', async () => {
  const apt = aptDir(await tempDir('apt-broken'), { 'sources.list': '# ok\ndeb http://deb.example.org/debian\n' });
  assert.throws(() => hostAptSources(apt), (err: Error) => err instanceof UserError && /^apt: .*sources\.list: line 2: "deb http:\/\/deb\.example\.org\/debian" is not a source$/.test(err.message));
});
