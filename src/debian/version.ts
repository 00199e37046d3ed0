import { UserError } from '../util/errors.ts';

// Debian version comparison, as dpkg's lib/dpkg/version.c does it: epoch as a number,
// then upstream version and revision with verrevcmp. Syntax errors are the ones dpkg
// refuses; what dpkg only warns about (a leading letter, odd characters) compares.

interface ParsedVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

/** Negative, zero or positive as `a` is older than, equal to or newer than `b` (`dpkg --compare-versions`). */
export function compareVersions(a: string, b: string): number {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  return (
    Math.sign(va.epoch - vb.epoch) ||
    Math.sign(verrevcmp(va.upstream, vb.upstream)) ||
    Math.sign(verrevcmp(va.revision, vb.revision))
  );
}

function parseVersion(version: string): ParsedVersion {
  const v = version.trim();
  const bad = (why: string) => new UserError(`version: "${version}" is not a Debian version: ${why}`);
  if (v === '') throw bad('it is empty');
  if (/\s/.test(v)) throw bad('it has embedded spaces');
  const colon = v.indexOf(':');
  let epoch = 0;
  if (colon >= 0) {
    const digits = v.slice(0, colon);
    if (!/^\d+$/.test(digits)) throw bad('the epoch is not a number');
    epoch = Number(digits);
    if (epoch > 2 ** 31 - 1) throw bad('the epoch is too big');
    if (colon === v.length - 1) throw bad('nothing after the epoch');
  }
  const rest = v.slice(colon + 1);
  const hyphen = rest.lastIndexOf('-');
  // dpkg treats a missing revision as empty, which compares equal to "0".
  if (hyphen < 0) return { epoch, upstream: rest, revision: '' };
  if (hyphen === rest.length - 1) throw bad('the revision is empty');
  return { epoch, upstream: rest.slice(0, hyphen), revision: rest.slice(hyphen + 1) };
}

const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isAlpha = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

// Sort weight of one character in a non-digit run: `~` before the end of the string,
// the end before letters, letters before everything else. '' is the end.
function order(c: string): number {
  if (c === '' || isDigit(c)) return 0;
  if (isAlpha(c)) return c.charCodeAt(0);
  if (c === '~') return -1;
  return c.charCodeAt(0) + 256;
}

function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  const at = (s: string, k: number): string => s[k] ?? '';
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(at(a, i))) || (j < b.length && !isDigit(at(b, j)))) {
      const diff = order(at(a, i)) - order(at(b, j));
      if (diff !== 0) return diff;
      i++;
      j++;
    }
    while (at(a, i) === '0') i++;
    while (at(b, j) === '0') j++;
    // Digit runs of any length: the longer (without leading zeros) is larger, else the first differing digit decides.
    let firstDiff = 0;
    while (isDigit(at(a, i)) && isDigit(at(b, j))) {
      if (firstDiff === 0) firstDiff = at(a, i).charCodeAt(0) - at(b, j).charCodeAt(0);
      i++;
      j++;
    }
    if (isDigit(at(a, i))) return 1;
    if (isDigit(at(b, j))) return -1;
    if (firstDiff !== 0) return firstDiff;
  }
  return 0;
}
