import { UserError } from '../util/errors.ts';

// Deb822, the control-file format of Packages, Release and .deb control files
// (deb-control(5), Debian Policy 5.1), and the cleartext-signature wrapper of InRelease.

/**
 * The paragraphs of a deb822 text, each a map from lowercased field name to value.
 * A folded value keeps its continuation lines, joined by "\n", each without its first
 * space or tab; a lone " ." is an empty line. Maps have no prototype, so a field named
 * `__proto__` or `constructor` is just a field.
 */
export function parseDeb822(text: string): Record<string, string>[] {
  const paragraphs: Record<string, string>[] = [];
  let current: Record<string, string> | undefined;
  let last: string | undefined;
  const lines = text.split('\n');
  for (const [n, raw] of lines.entries()) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const bad = (why: string) => new UserError(`deb822: line ${n + 1}: ${why}`);
    // Policy lets parsers take whitespace-only lines as separators; dpkg does.
    if (line.trim() === '') {
      current = undefined;
      last = undefined;
      continue;
    }
    if (line.startsWith('#')) continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (current === undefined || last === undefined) throw bad('continuation line outside a field');
      const body = line.slice(1).trimEnd();
      current[last] += '\n' + (body === '.' ? '' : body);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw bad(`"${line.slice(0, 40)}" is not a field`);
    const name = line.slice(0, colon).toLowerCase();
    if (/\s/.test(name) || name.startsWith('-')) throw bad(`"${line.slice(0, colon)}" is not a field name`);
    if (current === undefined) {
      current = Object.create(null) as Record<string, string>;
      paragraphs.push(current);
    }
    if (Object.hasOwn(current, name)) throw bad(`field "${name}" appears twice in a paragraph`);
    current[name] = line.slice(colon + 1).trim();
    last = name;
  }
  return paragraphs;
}

const BEGIN = '-----BEGIN PGP SIGNED MESSAGE-----';
const SIGNATURE = '-----BEGIN PGP SIGNATURE-----';
const END = '-----END PGP SIGNATURE-----';

/**
 * The signed text of a cleartext-signed message (RFC 4880 section 7), dash-escaping
 * undone and without the line ending before the signature, which is not signed.
 * Strict as apt is since its InRelease bugs (CVE-2013-1051 and kin): nothing may come
 * before the header or after the signature, and an unescaped dash line inside is
 * refused, so no unsigned text can pass for signed. The signature is checked elsewhere.
 */
export function stripClearsign(text: string): string {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const bad = (why: string) => new UserError(`clearsign: ${why}`);
  if (lines[0]?.trimEnd() !== BEGIN) throw bad(`the text does not start with "${BEGIN}"`);
  let i = 1;
  for (; i < lines.length && lines[i] !== ''; i++) {
    // The only header a cleartext signature has (RFC 4880 7), as openpgp.js also insists.
    if (!/^Hash: \S/.test(lines[i]!)) throw bad(`line ${i + 1}: "${lines[i]!.slice(0, 40)}" is not a Hash armor header`);
  }
  if (i === lines.length) throw bad('no empty line after the armor headers');
  const signed: string[] = [];
  for (i++; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trimEnd() === SIGNATURE) break;
    if (line.startsWith('- ')) signed.push(line.slice(2));
    else if (line.startsWith('-')) throw bad(`line ${i + 1}: a line starting with "-" is not dash-escaped`);
    else signed.push(line);
  }
  if (i === lines.length) throw bad(`no "${SIGNATURE}" line`);
  const end = lines.findIndex((l, k) => k > i && l.trimEnd() === END);
  if (end < 0) throw bad(`no "${END}" line`);
  if (lines.slice(end + 1).some((l) => l.trim() !== '')) throw bad('text after the signature');
  return signed.join('\n');
}
