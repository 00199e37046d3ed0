import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UserError, describeError } from '../util/errors.ts';
import { parseDeb822 } from './deb822.ts';
import type { RepoSource } from './types.ts';

// The host's apt sources (sources.list(5)), so a build on a Debian or Raspberry Pi OS
// machine uses the mirrors and keys its owner already chose. Only binary (`deb`)
// sources over http(s) or file: are kept; flat repositories and other transports
// (cdrom:, mirror+, tor+) are left out. Where there is no apt (macOS) there are none.

const SCHEMES = /^(https?|file):/;

/** The `deb` sources apt would use, from `aptDir`'s sources.list and sources.list.d/. */
export function hostAptSources(aptDir = '/etc/apt'): RepoSource[] {
  const files = [join(aptDir, 'sources.list')];
  const dropIns = join(aptDir, 'sources.list.d');
  if (existsSync(dropIns)) files.push(...readdirSync(dropIns).sort().map((f) => join(dropIns, f)));
  const sources: RepoSource[] = [];
  for (const file of files) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) sources.push(...deb822Sources(text, file, aptDir));
    else if (file.endsWith('.list')) sources.push(...oneLineSources(text, file, aptDir));
  }
  return sources.filter((s) => SCHEMES.test(s.uri) && !s.suite?.endsWith('/'));
}

/** `deb [ arch=armhf signed-by=/usr/share/keyrings/x.gpg ] http://deb.debian.org/debian bookworm main` */
function oneLineSources(text: string, file: string, aptDir: string): RepoSource[] {
  const sources: RepoSource[] = [];
  for (const [n, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const m = /^(\S+)\s+(?:\[([^\]]*)\]\s*)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) throw new UserError(`apt: ${file}: line ${n + 1}: "${line.slice(0, 60)}" is not a source`);
    const [, type, options = '', uri, suite, components = ''] = m;
    if (type !== 'deb') continue;
    const opts = new Map(options.trim().split(/\s+/).filter((o) => o !== '').map((o) => o.split('=', 2) as [string, string]));
    sources.push(source(uri!, suite!, words(components), opts.get('signed-by'), opts.get('arch'), aptDir));
  }
  return sources;
}

/** The deb822 form: Types, URIs, Suites, Components, Signed-By, Architectures, Enabled. */
function deb822Sources(text: string, file: string, aptDir: string): RepoSource[] {
  let paragraphs: Record<string, string>[];
  try {
    paragraphs = parseDeb822(text);
  } catch (err) {
    throw new UserError(`apt: ${file}: ${describeError(err)}`, undefined, { cause: err });
  }
  const sources: RepoSource[] = [];
  for (const p of paragraphs) {
    if (!words(p['types']).includes('deb') || p['enabled']?.trim().toLowerCase() === 'no') continue;
    for (const uri of words(p['uris'])) {
      for (const suite of words(p['suites'])) {
        sources.push(source(uri, suite, words(p['components']), p['signed-by'], words(p['architectures']).join(','), aptDir));
      }
    }
  }
  return sources;
}

function source(uri: string, suite: string, components: string[], signedBy: string | undefined, arches: string | undefined, aptDir: string): RepoSource {
  const src: RepoSource = { uri, suite, components };
  const signer = signedBy?.trim();
  if (signer?.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')) {
    src.inlineKeys = `${signer}\n`;
  } else {
    // signed-by may list several keyrings (the first is used), or only fingerprints of
    // keys in the trusted ones (then any trusted key is accepted).
    const keyring = signer?.split(/[\s,]+/).find((s) => s.startsWith('/')) ?? trustedKeyring(aptDir);
    if (keyring !== undefined) src.keyring = keyring;
  }
  if (arches) src.architectures = arches.split(',');
  return src;
}

/** Without signed-by, apt trusts every key in trusted.gpg.d/ (and the legacy trusted.gpg). */
function trustedKeyring(aptDir: string): string | undefined {
  return [join(aptDir, 'trusted.gpg.d'), join(aptDir, 'trusted.gpg')].find((p) => existsSync(p));
}

function words(value: string | undefined): string[] {
  return (value ?? '').split(/\s+/).filter((w) => w !== '');
}
