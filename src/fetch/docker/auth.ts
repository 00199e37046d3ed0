import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../../util/errors.ts';
import { DOCKER_HUB } from './reference.ts';

// Registry authentication: the WWW-Authenticate challenge (Bearer token service or
// Basic), and the credentials to answer it with.
//
// Credentials come from JSON files in auth.d/ of the system then the local configuration
// directory (--system-config, default /usr/lib/rkt; --local-config, default /etc/rkt: a
// file there replaces one of the same name in the system directory, as rkt's own
// configuration does). Two forms are read:
//
//   rkt's:     {"rktKind": "dockerAuth", "rktVersion": "v1",
//               "registries": ["registry.example.com:5000"],
//               "credentials": {"user": "pi", "password": "secret"}}
//   Docker's:  a config.json ({"auths": {"registry.example.com": {"auth": base64("user:password")}}}),
//              copied or linked into auth.d/ (credential helpers and identity tokens are not used)
//
// Docker Hub answers to "docker.io", "index.docker.io", "registry-1.docker.io" and
// "https://index.docker.io/v1/" alike. Files in other forms (rkt's "auth" kind for
// image servers) are skipped.

export interface Credentials {
  user: string;
  password: string;
}

export interface Challenge {
  /** Lowercased: "bearer", "basic". */
  scheme: string;
  params: Record<string, string>;
}

/** The challenges of a WWW-Authenticate header: `Bearer realm="https://auth.example/token",service="x",scope="repository:a:pull"`. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const out: Challenge[] = [];
  for (const value of [header ?? []].flat()) {
    let rest = value.trim();
    while (rest !== '') {
      const scheme = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)\s*/.exec(rest);
      if (!scheme) break;
      rest = rest.slice(scheme[0].length);
      const params: Record<string, string> = {};
      for (;;) {
        const m = /^([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/.exec(rest);
        if (!m) break;
        params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
        rest = rest.slice(m[0].length);
      }
      out.push({ scheme: scheme[1]!.toLowerCase(), params });
      // Whatever is not a parameter (a token68) is skipped up to the next challenge.
      if (Object.keys(params).length === 0) rest = rest.replace(/^[^,]*,?\s*/, '');
    }
  }
  return out;
}

/** The scope a pull of `repository` needs, for a Bearer challenge that names none. */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

/** The token service URL for a Bearer challenge: realm?service=...&scope=... */
export function tokenUrl(challenge: Challenge, scope: string): string {
  const realm = challenge.params['realm'];
  if (!realm) throw new UserError('docker: the registry asked for a token but named no realm to get it from');
  const url = new URL(realm);
  if (challenge.params['service']) url.searchParams.set('service', challenge.params['service']);
  for (const s of (challenge.params['scope'] ?? scope).split(' ')) if (s) url.searchParams.append('scope', s);
  return url.href;
}

export function basicAuthorization(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}`;
}

/** The registry host a credentials key names: scheme, path and Docker Hub's aliases normalized away. */
export function registryKey(key: string): string {
  const host = key
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? DOCKER_HUB : host;
}

/** Credentials per registry key from one parsed auth.d file; empty for files of other kinds. */
export function credentialsFromFile(doc: unknown, file: string): Map<string, Credentials> {
  const out = new Map<string, Credentials>();
  if (typeof doc !== 'object' || doc === null) return out;
  const d = doc as Record<string, unknown>;
  if (d['rktKind'] === 'dockerAuth') {
    const creds = d['credentials'] as Record<string, unknown> | undefined;
    const registries = d['registries'];
    if (!Array.isArray(registries) || typeof creds?.['user'] !== 'string' || typeof creds['password'] !== 'string') {
      throw new UserError(`${file}: a dockerAuth file needs "registries" (a list) and "credentials" with "user" and "password"`);
    }
    for (const r of registries) if (typeof r === 'string') out.set(registryKey(r), { user: creds['user'], password: creds['password'] });
    return out;
  }
  const auths = d['auths'];
  if (typeof auths === 'object' && auths !== null) {
    for (const [key, value] of Object.entries(auths as Record<string, unknown>)) {
      const v = (value ?? {}) as Record<string, unknown>;
      if (typeof v['username'] === 'string' && typeof v['password'] === 'string') {
        out.set(registryKey(key), { user: v['username'], password: v['password'] });
      } else if (typeof v['auth'] === 'string' && v['auth'] !== '') {
        const plain = Buffer.from(v['auth'], 'base64').toString('utf8');
        const colon = plain.indexOf(':');
        if (colon > 0) out.set(registryKey(key), { user: plain.slice(0, colon), password: plain.slice(colon + 1) });
      }
    }
  }
  return out;
}

/** The credentials for `domain` from the auth.d files of `dirs` (system first, local last wins). */
export async function loadCredentials(configDirs: { systemConfig: string; localConfig: string }, domain: string): Promise<Credentials | undefined> {
  const files = new Map<string, string>();
  for (const base of [configDirs.systemConfig, configDirs.localConfig]) {
    const dir = join(base, 'auth.d');
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.endsWith('.json')).sort()) files.set(name, join(dir, name));
  }
  const key = registryKey(domain);
  let found: Credentials | undefined;
  for (const file of [...files.keys()].sort().map((n) => files.get(n)!)) {
    let doc: unknown;
    try {
      doc = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new UserError(`${file}: ${(err as NodeJS.ErrnoException).code ?? 'not valid JSON'}: ${(err as Error).message}`);
    }
    found = credentialsFromFile(doc, file).get(key) ?? found;
  }
  return found;
}
