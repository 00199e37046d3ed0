import { UserError } from '../util/errors.ts';
import { formatRelation, satisfies, type Provided } from './relations.ts';
import type { Alternatives, PackageInfo, Relation } from './types.ts';
import { compareVersions } from './version.ts';

// Which packages an image needs: the requested ones and, recursively, what they
// Depend and Pre-Depend on, for one Debian arch. Recommends and Suggests are not
// followed (apt's --no-install-recommends): an app image carries what must be there.
//
// Essential packages: Debian never states a dependency on an Essential: yes package,
// since every Debian system has them, and following the few stated ones would drag in
// the whole base system (dpkg, bash, coreutils, perl-base...). An app image is not a
// Debian system, so by default a dependency that an essential package can satisfy is
// taken as met and the package is left out. `withEssential` adds the whole essential
// set (and its dependencies) instead. A package requested by name is always included.
//
// Choosing among alternatives (`a | b`): an alternative met by a package already
// selected wins; otherwise each alternative in turn is tried, with its whole closure
// resolved on a copy of the selection, and the first whose closure resolves is kept.
// Within an alternative only its preferred package is tried (the highest version, or
// the one provider), never older versions, and a choice made earlier is never undone
// because of a later conflict: that is an error naming both, not a search. One
// version of each name is selected, as dpkg installs at most one per arch.

export interface ResolveOptions {
  /** The Debian arch of the image (armhf...): packages of this arch or `all` are candidates. */
  arch: string;
  withEssential?: boolean;
}

interface Selected {
  pkg: PackageInfo;
  /** Who needed it, nearest first; empty when requested. */
  chain: string[];
}

type Selection = Map<string, Selected>;

/** What makes a resolution fail, as opposed to bad input: an alternative may still work. */
class Unresolvable extends UserError {}

/** The packages to install, sorted by name. `requested` holds names or `name=version`. */
export function resolvePackages(requested: string[], index: PackageInfo[], opts: ResolveOptions): PackageInfo[] {
  const resolver = new Resolver(index, opts);
  const roots = requested.map((entry) => resolver.parseRequest(entry));
  if (opts.withEssential) roots.push(...resolver.essentialNames().map((name) => ({ name })));
  const selection: Selection = new Map();
  const pending: Selected[] = [];
  // All roots are selected before any dependency is followed, so that a provider or
  // version named on the command line is the one dependencies find.
  for (const rel of roots) {
    if (resolver.metBySelection(selection, rel)) continue;
    const item = { pkg: resolver.pick(selection, rel, []), chain: [] };
    selection.set(item.pkg.name, item);
    pending.push(item);
  }
  resolver.run(selection, pending);
  return [...selection.values()].map((s) => s.pkg).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

class Resolver {
  /** Candidates by name, newest first. */
  readonly #versions = new Map<string, PackageInfo[]>();
  /** Virtual packages by name: who provides them, each provider's versions newest first. */
  readonly #providers = new Map<string, Provided[]>();
  readonly #arch: string;
  readonly #withEssential: boolean;

  constructor(index: PackageInfo[], opts: ResolveOptions) {
    this.#arch = opts.arch;
    this.#withEssential = opts.withEssential ?? false;
    for (const pkg of index) {
      if (pkg.architecture !== opts.arch && pkg.architecture !== 'all') continue;
      const list = this.#versions.get(pkg.name) ?? [];
      list.push(pkg);
      this.#versions.set(pkg.name, list);
    }
    for (const list of this.#versions.values()) list.sort((a, b) => compareVersions(b.version, a.version));
    for (const list of this.#versions.values()) {
      for (const pkg of list) {
        for (const p of pkg.provides) {
          const providers = this.#providers.get(p.name) ?? [];
          providers.push({ ...p, by: pkg });
          this.#providers.set(p.name, providers);
        }
      }
    }
  }

  parseRequest(entry: string): Relation {
    const m = /^([a-z0-9][a-z0-9+.-]*)(?:=(\S+))?$/.exec(entry.trim());
    if (m === null) throw new UserError(`cross: ${this.#arch}: "${entry}" is not a package (name or name=version)`);
    return m[2] === undefined ? { name: m[1]! } : { name: m[1]!, op: '=', version: m[2] };
  }

  essentialNames(): string[] {
    return [...this.#versions].filter(([, list]) => list[0]!.essential).map(([name]) => name).sort();
  }

  /** Follows the dependencies of each pending package until none is left. */
  run(selection: Selection, pending: Selected[]): void {
    for (let item = pending.shift(); item !== undefined; item = pending.shift()) {
      const chain = [item.pkg.name, ...item.chain];
      for (const group of [...item.pkg.preDepends, ...item.pkg.depends]) {
        const added = this.#meet(selection, group, chain);
        if (added !== undefined) pending.push(added);
      }
    }
  }

  metBySelection(selection: Selection, rel: Relation): boolean {
    const real = selection.get(rel.name);
    if (real !== undefined && satisfies(real.pkg, rel)) return true;
    return (this.#providers.get(rel.name) ?? []).some((p) => selection.get(p.by.name)?.pkg === p.by && satisfies(p, rel));
  }

  /** The package to select for a relation, else an Unresolvable saying why there is none. */
  pick(selection: Selection, rel: Relation, chain: string[]): PackageInfo {
    const versions = this.#versions.get(rel.name) ?? [];
    const taken = selection.get(rel.name);
    const real = taken === undefined ? versions.find((p) => satisfies(p, rel)) : undefined;
    if (real !== undefined) return real;
    const providers = this.#candidateProviders(selection, rel);
    if (providers.length === 1) return providers[0]!.by;
    const preferred = mostImportant(providers);
    if (preferred) return preferred.by;
    const prefix = `cross: ${this.#arch}: `;
    const needed = neededBy(chain);
    if (providers.length > 1) {
      const names = providers.map((p) => p.by.name).join(', ');
      throw new Unresolvable(
        `${prefix}${formatRelation(rel)}${needed} is a virtual package provided by ${names}: name one of them in the package list`,
      );
    }
    if (taken !== undefined) {
      throw new Unresolvable(
        `${prefix}${formatRelation(rel)}${needed} cannot be met: ${rel.name} ${taken.pkg.version} is already selected${neededBy(taken.chain)}`,
      );
    }
    const allProviders = this.#providers.get(rel.name) ?? [];
    if (versions.length === 0 && allProviders.length === 0) {
      throw new Unresolvable(`${prefix}package "${rel.name}"${needed} is not in the repository`);
    }
    throw new Unresolvable(
      `${prefix}no version of ${rel.name} satisfies ${formatRelation(rel)}${needed}: ${what(versions, allProviders, rel)}`,
    );
  }

  /** The newest version of each provider that satisfies `rel`, by provider name; none of a name already selected. */
  #candidateProviders(selection: Selection, rel: Relation): Provided[] {
    const seen = new Set<string>();
    const candidates: Provided[] = [];
    for (const p of this.#providers.get(rel.name) ?? []) {
      if (seen.has(p.by.name) || selection.has(p.by.name) || !satisfies(p, rel)) continue;
      seen.add(p.by.name);
      candidates.push(p);
    }
    return candidates.sort((a, b) => (a.by.name < b.by.name ? -1 : 1));
  }

  /** Meets one dependency group; returns the package it added, whose dependencies are still to follow. */
  #meet(selection: Selection, group: Alternatives, chain: string[]): Selected | undefined {
    if (group.some((rel) => this.metBySelection(selection, rel))) return undefined;
    if (!this.#withEssential && group.some((rel) => this.#isEssential(rel.name))) return undefined;
    if (group.length === 1) {
      const item = { pkg: this.pick(selection, group[0]!, chain), chain };
      selection.set(item.pkg.name, item);
      return item;
    }
    let firstError: Unresolvable | undefined;
    for (const rel of group) {
      try {
        const trial = new Map(selection);
        const item = { pkg: this.pick(trial, rel, chain), chain };
        trial.set(item.pkg.name, item);
        this.run(trial, [item]);
        for (const [name, s] of trial) selection.set(name, s);
        return undefined;
      } catch (err) {
        if (!(err instanceof Unresolvable)) throw err;
        firstError ??= err;
      }
    }
    const others = group.slice(1).map(formatRelation).join(' | ');
    throw new Unresolvable(`${firstError!.message}; nor can its alternatives ${others} be installed`);
  }

  #isEssential(name: string): boolean {
    return (
      this.#versions.get(name)?.some((p) => p.essential) === true ||
      (this.#providers.get(name) ?? []).some((p) => p.by.essential)
    );
  }
}

const neededBy = (chain: string[]): string => (chain.length === 0 ? ' (requested)' : ` (needed by ${chain.join(' <- ')})`);

// What the repository has instead, for an unsatisfiable relation.
// Several providers of a virtual package: like apt, take the one of highest Priority
// when exactly one has it (awk: mawk is `required`, gawk `optional`); a tie stays an
// error that asks the user to choose.
const PRIORITY_RANK: Record<string, number> = { required: 0, important: 1, standard: 2, optional: 3, extra: 4 };

function mostImportant(providers: Provided[]): Provided | undefined {
  const rank = (p: Provided) => PRIORITY_RANK[p.by.priority ?? ''] ?? 5;
  const best = Math.min(...providers.map(rank));
  const top = providers.filter((p) => rank(p) === best);
  return best < 5 && top.length === 1 ? top[0] : undefined;
}

function what(versions: PackageInfo[], providers: Provided[], rel: Relation): string {
  const parts: string[] = [];
  if (versions.length > 0) {
    parts.push(`the repository has ${versions.map((p) => p.version).join(', ')}`);
    if (rel.arch === 'any' && !versions.some((p) => p.multiArch === 'allowed')) parts.push('not Multi-Arch: allowed');
  }
  if (providers.length > 0) {
    const list = providers.map((p) => `${p.by.name} ${p.by.version} (${p.version === undefined ? 'unversioned' : `= ${p.version}`})`);
    parts.push(`it is provided by ${[...new Set(list)].join(', ')}`);
  }
  return parts.join(', ');
}
