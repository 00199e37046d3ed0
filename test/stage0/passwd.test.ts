import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseGroup, parsePasswd, resolveGroup, resolveUser, type IdSources } from '../../src/stage0/passwd.ts';

const PASSWD = [
  '# a comment',
  'root:x:0:0:root:/root:/bin/sh',
  '',
  'www:x:33:33:www-data:/var/www:/usr/sbin/nologin\r',
  '+nis::::::',
  'broken:x:notanumber:1:::',
  'short:x:5',
  '1000:x:2000:2000::/home/n:/bin/sh',
  'www:x:99:99:second entry:/:/bin/false',
].join('\n');

const GROUP = ['root:x:0:', 'www:x:33:alice,bob', 'staff:x:50:'].join('\n');

function sources(over: Partial<IdSources> = {}): IdSources {
  return {
    app: 'web',
    passwd: PASSWD,
    group: GROUP,
    ownerOf: (path) => {
      if (path === '/usr/bin/ping') return { uid: 7, gid: 8 };
      throw new Error(`unexpected ${path}`);
    },
    ...over,
  };
}

describe('parsePasswd and parseGroup', () => {
  it('reads the well-formed lines, skipping comments, NIS and malformed ones', () => {
    assert.deepEqual(
      parsePasswd(PASSWD).map((e) => [e.name, e.uid, e.gid, e.home, e.shell]),
      [
        ['root', 0, 0, '/root', '/bin/sh'],
        ['www', 33, 33, '/var/www', '/usr/sbin/nologin'],
        ['1000', 2000, 2000, '/home/n', '/bin/sh'],
        ['www', 99, 99, '/', '/bin/false'],
      ],
    );
    assert.deepEqual(parseGroup(GROUP)[1], { name: 'www', gid: 33, members: ['alice', 'bob'] });
  });
});

describe('resolveUser and resolveGroup (spec/aci.md)', () => {
  it('looks a name up in the image\'s files; the first entry wins', () => {
    assert.equal(resolveUser('www', sources()), 33);
    assert.equal(resolveGroup('staff', sources()), 50);
  });

  it('takes a number as itself, with or without the files', () => {
    assert.equal(resolveUser('0', sources()), 0);
    assert.equal(resolveUser('4242', sources({ passwd: undefined })), 4242);
    assert.equal(resolveGroup('4294967295', sources({ group: undefined })), 4294967295);
  });

  it('prefers an all-digit user name in /etc/passwd to the number, as the spec says', () => {
    assert.equal(resolveUser('1000', sources()), 2000);
  });

  it('uses the owner of an absolute path', () => {
    assert.equal(resolveUser('/usr/bin/ping', sources()), 7);
    assert.equal(resolveGroup('/usr/bin/ping', sources()), 8);
  });

  it('names the app and what is missing', () => {
    assert.throws(() => resolveUser('nobody', sources()), { name: 'UserError', message: 'app web: user "nobody" is not in the image\'s /etc/passwd' });
    assert.throws(() => resolveGroup('wheel', sources()), { message: 'app web: group "wheel" is not in the image\'s /etc/group' });
    assert.throws(() => resolveUser('www', sources({ passwd: undefined })), {
      message: 'app web: user "www" needs the image\'s /etc/passwd, and the image has none',
    });
    assert.throws(() => resolveUser('4294967296', sources()), { message: /^app web: user 4294967296 is out of range/ });
    assert.throws(() => resolveUser('', sources()), { message: 'app web: user must not be empty' });
  });
});
