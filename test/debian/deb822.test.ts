import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDeb822, stripClearsign } from '../../src/debian/deb822.ts';
import { Gpg } from '../trust/helpers.ts';

// Paragraphs have no prototype; compare them as plain objects.
const plain = (text: string) => parseDeb822(text).map((p) => ({ ...p }));

test('paragraphs, lowercased names, folded and multi-line values, comments', () => {
  const text = [
    '# a comment before anything',
    'Package: hello',
    'Version: 2.10-3',
    'Depends: libc6 (>= 2.34),',
    '  libfoo1',
    'Description: greets',
    ' Hello prints a greeting.',
    ' .',
    '   indented stays indented',
    '# a comment inside a paragraph',
    'MD5sum:   d41d8cd98f00b204e9800998ecf8427e   ',
    '',
    ' \t',
    '',
    'package: second',
    'X-Empty:',
    '',
  ].join('\n');
  assert.deepEqual(plain(text), [
    {
      package: 'hello',
      version: '2.10-3',
      depends: 'libc6 (>= 2.34),\n libfoo1',
      description: 'greets\nHello prints a greeting.\n\n  indented stays indented',
      md5sum: 'd41d8cd98f00b204e9800998ecf8427e',
    },
    { package: 'second', 'x-empty': '' },
  ]);
});

test('CRLF line ends, no final newline, tab continuations and empty texts', () => {
  assert.deepEqual(plain('A: 1\r\nB: x\r\n\ty\r\n\r\nC: 3'), [{ a: '1', b: 'x\ny' }, { c: '3' }]);
  assert.deepEqual(plain(''), []);
  assert.deepEqual(plain('\n\n# only a comment\n\n'), []);
});

test('a field named __proto__ or constructor is an ordinary field (prototype pollution)', () => {
  const [p] = parseDeb822('__proto__: polluted\nConstructor: x\n');
  assert.equal(p!['__proto__'], 'polluted');
  assert.equal(p!['constructor'], 'x');
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  const [q] = parseDeb822('Package: a\n');
  assert.equal(q!['constructor'], undefined, 'a missing field reads as undefined, not as Object');
});

test('malformed texts are refused with the line number', () => {
  const cases: [string, RegExp][] = [
    [' starts with a continuation', /^deb822: line 1: continuation line outside a field$/],
    ['A: 1\n\n continuation after a blank line', /^deb822: line 3: continuation/],
    ['A: 1\nno colon here', /^deb822: line 2: "no colon here" is not a field$/],
    ['A: 1\n: empty name', /^deb822: line 2: /],
    ['A B: 1', /^deb822: line 1: "A B" is not a field name$/],
    ['Package: a\npackage: b', /^deb822: line 2: field "package" appears twice in a paragraph$/],
  ];
  for (const [text, message] of cases) assert.throws(() => parseDeb822(text), { message }, text);
});

const SIGNED_TEXT = [
  'Origin: Debian',
  'SHA256:',
  ' 0123 42 main/binary-armhf/Packages',
  '',
  '-----BEGIN PGP SIGNED MESSAGE-----',
  '- already starts with a dash and a space',
  '---',
  'From the end',
].join('\n');

test('stripClearsign returns exactly what gpg --clearsign signed, dash-escaping undone', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'deb822-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const gpg = new Gpg(join(dir, 'gnupg'));
  const key = gpg.genKey('Archive <archive@example.com>');
  const inRelease = gpg.run(['--local-user', key.uid, '--clearsign'], `${SIGNED_TEXT}\n`).toString();
  assert.match(inRelease, /^- -----BEGIN PGP SIGNED MESSAGE-----$/m, 'gpg dash-escaped the inner header');
  assert.equal(stripClearsign(inRelease), SIGNED_TEXT);
  assert.equal(stripClearsign(inRelease.replaceAll('\n', '\r\n')), SIGNED_TEXT);
  // What gpg itself says was signed (it adds back the final line end, which is not signed).
  assert.equal(gpg.run(['--decrypt'], inRelease).toString(), `${SIGNED_TEXT}\n`);
});

const SIGNATURE = '-----BEGIN PGP SIGNATURE-----\n\niHUEARYKAB0WIQ\n=abcd\n-----END PGP SIGNATURE-----\n';
const wrap = (body: string) => `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n${body}\n${SIGNATURE}`;

test('unsigned text smuggled around or inside a clearsigned message is refused (InRelease injection)', () => {
  assert.equal(stripClearsign(wrap('Suite: x')), 'Suite: x');
  const cases: [string, RegExp][] = [
    ['Suite: plain Release\n', /^clearsign: the text does not start with/],
    [`Suite: evil\n${wrap('Suite: x')}`, /^clearsign: the text does not start with/],
    [`${wrap('Suite: x')}\nSuite: evil\n`, /^clearsign: text after the signature$/],
    [`${wrap('Suite: x')}${wrap('Suite: evil')}`, /^clearsign: text after the signature$/],
    [wrap('Suite: x\n-----BEGIN PGP SIGNED MESSAGE-----'), /^clearsign: line \d+: a line starting with "-" is not dash-escaped$/],
    ['-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\nSuite: evil\n\nx\n' + SIGNATURE, /^clearsign: line 3: "Suite: evil" is not a Hash armor header$/],
    ['-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSuite: x\n', /^clearsign: no "-----BEGIN PGP SIGNATURE-----" line$/],
    [wrap('Suite: x').replace('-----END PGP SIGNATURE-----\n', ''), /^clearsign: no "-----END PGP SIGNATURE-----" line$/],
    ['-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256', /^clearsign: no empty line after the armor headers$/],
  ];
  for (const [text, message] of cases) assert.throws(() => stripClearsign(text), { message }, text);
});
