import type { PackageInfo } from '../../debian/types.ts';

/**
 * The resolved packages in the order dpkg would unpack them: what a package
 * (Pre-)Depends on before it, otherwise by name. The order decides which package wins
 * a path two of them ship, and lets a directory symlink (base-files' /lib -> usr/lib on
 * merged-/usr systems) be in place before the files that go through it. Cycles, which
 * Debian has, are broken where they are met.
 */
export function installOrder(packages: PackageInfo[]): PackageInfo[] {
  const byName = new Map<string, PackageInfo>();
  for (const pkg of packages) byName.set(pkg.name, pkg);
  for (const pkg of packages) for (const p of pkg.provides) if (!byName.has(p.name)) byName.set(p.name, pkg);
  const order: PackageInfo[] = [];
  const seen = new Set<PackageInfo>();
  const visit = (pkg: PackageInfo): void => {
    if (seen.has(pkg)) return;
    seen.add(pkg);
    for (const alternatives of [...pkg.preDepends, ...pkg.depends]) {
      const met = alternatives.map((rel) => byName.get(rel.name)).find((p) => p !== undefined);
      if (met) visit(met);
    }
    order.push(pkg);
  };
  const sorted = [...packages].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const pkg of sorted) visit(pkg);
  return order;
}
