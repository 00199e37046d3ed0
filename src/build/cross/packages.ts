import { hostAptSources } from '../../debian/apt-sources.ts';
import { ArchNotInSource, fetchDeb, loadIndex, type RepoOptions } from '../../debian/repository.ts';
import { resolvePackages } from '../../debian/resolve.ts';
import type { PackageInfo, RepoSource } from '../../debian/types.ts';
import type { HttpGetOptions } from '../../fetch/http-get.ts';
import { UserError, withContext } from '../../util/errors.ts';
import { installOrder } from './install-order.ts';
import type { CrossSpec } from './spec.ts';

export interface PackageOptions {
  /** --repository: replaces the spec's repositories. */
  repositories?: RepoSource[];
  cacheDir: string;
  http?: HttpGetOptions;
  insecure?: boolean;
  /** Shared by the arches of one build (RepoOptions.folderIndexes). */
  folderIndexes?: RepoOptions['folderIndexes'];
}

/**
 * The .deb files of the spec's packages and everything they depend on, for one Debian
 * arch, in install order, each verified against its repository's signed index.
 * Repositories come from --repository, else the spec, else the host's apt sources.
 */
export async function packagesFor(spec: CrossSpec, debarch: string, opts: PackageOptions): Promise<{ pkg: PackageInfo; path: string }[]> {
  if (spec.packages.length === 0) return [];
  const sources = opts.repositories ?? (spec.repositories.length > 0 ? spec.repositories : hostAptSources());
  if (sources.length === 0) {
    throw new UserError('the spec names packages but no repository: add repositories to the spec or pass --repository (this host has no apt sources)');
  }
  const { cacheDir, http, insecure, folderIndexes } = opts;
  const sourceOf = new Map<PackageInfo, RepoSource>();
  const skipped: ArchNotInSource[] = [];
  for (const source of sources) {
    const index = await loadIndex(source, debarch, { cacheDir, http, insecure, folderIndexes }).catch((err: unknown) => {
      if (!(err instanceof ArchNotInSource)) throw err;
      skipped.push(err);
      return [];
    });
    for (const pkg of index) sourceOf.set(pkg, source);
  }
  if (skipped.length === sources.length) throw skipped[0]!;
  const chosen = installOrder(resolvePackages(spec.packages, [...sourceOf.keys()], { arch: debarch, withEssential: spec.essential }));
  return Promise.all(
    chosen.map(async (pkg) => {
      const path = await fetchDeb(sourceOf.get(pkg)!, pkg, { cacheDir, http, insecure }).catch((err: unknown) => {
        throw withContext(`package ${pkg.name}`, err, 'cross: ');
      });
      return { pkg, path };
    }),
  );
}
