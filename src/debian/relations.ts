import { UserError } from '../util/errors.ts';
import type { Alternatives, PackageInfo, Relation } from './types.ts';
import { compareVersions } from './version.ts';

// Package relation fields (Depends, Pre-Depends, Provides) as deb-control(5) and
// Policy 7.1 write them: `a (>= 1) | b:any, c [amd64] <!nocheck>`.

/** A virtual package as one real package provides it (`Provides: foo (= 1.0)`). */
export interface Provided {
  name: string;
  version?: string;
  by: PackageInfo;
}

const OPS: Record<string, Relation['op']> = {
  '<<': '<<',
  '<=': '<=',
  '=': '=',
  '>=': '>=',
  '>>': '>>',
  // Obsolete spellings dpkg still reads as their inclusive forms.
  '<': '<=',
  '>': '>=',
};

const ALTERNATIVE =
  /^([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?(?:\s*\(\s*(<<|<=|>=|>>|=|<|>)\s*([^\s()<>=]+)\s*\))?(?:\s*\[([^\]]*)\])?((?:\s*<[^<>]*>)*)$/;

/**
 * The groups of a relation field, alternatives kept in order. Alternatives whose
 * `[arch]` list excludes `arch` are dropped (and a group left empty with them), as are
 * those whose `<profile>` restrictions need a build profile: none is active when
 * installing binary packages.
 */
export function parseRelations(field: string, arch: string): Alternatives[] {
  const groups: Alternatives[] = [];
  for (const group of field.split(',')) {
    if (group.trim() === '') continue;
    const alternatives: Relation[] = [];
    for (const text of group.split('|')) {
      const m = ALTERNATIVE.exec(text.trim());
      if (m === null) throw new UserError(`relations: cannot parse "${oneLine(text)}"`);
      const [, name, archQualifier, op, version, archList, profiles] = m;
      if (archList !== undefined && !archListMatches(archList, arch, text)) continue;
      if (profiles !== undefined && profiles.trim() !== '' && !profilesMatch(profiles)) continue;
      const relation: Relation = { name: name! };
      if (archQualifier !== undefined) relation.arch = archQualifier;
      if (op !== undefined) {
        relation.op = OPS[op];
        relation.version = version;
      }
      alternatives.push(relation);
    }
    if (alternatives.length > 0) groups.push(alternatives);
  }
  return groups;
}

// All lists are positive (`[amd64 armhf]`) or all negated (`[!armel]`), never mixed.
function archListMatches(list: string, arch: string, text: string): boolean {
  const terms = list.trim().split(/\s+/).filter((t) => t !== '');
  const negated = terms.filter((t) => t.startsWith('!'));
  if (terms.length === 0 || (negated.length > 0 && negated.length < terms.length)) {
    throw new UserError(`relations: bad architecture list in "${oneLine(text)}"`);
  }
  const hit = terms.some((t) => archMatches(t.replace(/^!/, ''), arch));
  return negated.length > 0 ? !hit : hit;
}

// Debian's arch wildcards (`any`, `linux-any`, `any-arm`) for the Linux archs only:
// another OS's wildcard (`hurd-any`) matches none of ours.
const CPU: Record<string, string> = { armel: 'arm', armhf: 'arm', arm64: 'arm64', amd64: 'amd64', i386: 'i386' };

function archMatches(pattern: string, arch: string): boolean {
  if (pattern === arch || pattern === 'any') return true;
  const parts = pattern.split('-');
  if (parts.length !== 2) return false;
  const [os, cpu] = parts as [string, string];
  return (os === 'any' || os === 'linux') && (cpu === 'any' || cpu === (CPU[arch] ?? arch));
}

// `<a !b> <c>`: one of the lists must hold, and a list holds when all its terms do.
// No profile is active, so only negated terms (`!nocheck`) hold.
function profilesMatch(profiles: string): boolean {
  const lists = [...profiles.matchAll(/<([^<>]*)>/g)].map((m) => m[1]!.trim().split(/\s+/));
  return lists.some((terms) => terms.every((t) => t.startsWith('!')));
}

const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();

/**
 * Whether a package, or a virtual package one provides, satisfies a relation. An
 * unversioned Provides never satisfies a versioned relation (Policy 7.5). `:any` needs
 * `Multi-Arch: allowed`; `:native` or an arch name, a package of that arch or `all`.
 */
export function satisfies(candidate: PackageInfo | Provided, rel: Relation): boolean {
  if (candidate.name !== rel.name) return false;
  const pkg = 'by' in candidate ? candidate.by : candidate;
  if (rel.arch === 'any') {
    if (pkg.multiArch !== 'allowed') return false;
  } else if (rel.arch !== undefined && rel.arch !== 'native') {
    if (pkg.architecture !== rel.arch && pkg.architecture !== 'all') return false;
  }
  if (rel.op === undefined || rel.version === undefined) return true;
  if (candidate.version === undefined) return false;
  const c = compareVersions(candidate.version, rel.version);
  switch (rel.op) {
    case '<<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '=':
      return c === 0;
    case '>=':
      return c >= 0;
    case '>>':
      return c > 0;
  }
}

/** `libfoo (>= 2.0)`, as Debian writes a relation. */
export function formatRelation(rel: Relation): string {
  const name = rel.arch === undefined ? rel.name : `${rel.name}:${rel.arch}`;
  return rel.op === undefined ? name : `${name} (${rel.op} ${rel.version})`;
}
