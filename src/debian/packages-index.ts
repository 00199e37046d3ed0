import { ExitCode, UserError } from '../util/errors.ts';
import { parseRelations } from './relations.ts';
import type { PackageInfo } from './types.ts';

/**
 * The packages of a Packages index (deb822 paragraphs) that install on `repoArch`:
 * those built for it and those of architecture `all`. Others are left out, so a
 * mixed or flat repository can be read for one arch.
 */
export function packagesFrom(paragraphs: Record<string, string>[], repoArch: string): PackageInfo[] {
  const packages: PackageInfo[] = [];
  for (const [n, p] of paragraphs.entries()) {
    const where = p['package'] ? `package "${p['package']}"` : `paragraph ${n + 1}`;
    const field = (name: string): string => {
      const value = p[name];
      if (value === undefined || value === '') throw new UserError(`packages: ${where} has no ${name} field`);
      return value;
    };
    const architecture = field('architecture');
    if (architecture !== repoArch && architecture !== 'all') continue;
    const relations = (name: string) => {
      try {
        return parseRelations(p[name] ?? '', repoArch);
      } catch (err) {
        throw new UserError(`packages: ${where}: ${name}: ${(err as Error).message}`, ExitCode.invalid, {
          cause: err,
        });
      }
    };
    const size = field('size');
    if (!/^\d+$/.test(size)) throw new UserError(`packages: ${where} has a bad size "${size}"`);
    const sha256 = p['sha256']?.toLowerCase();
    if (sha256 !== undefined && !/^[0-9a-f]{64}$/.test(sha256)) throw new UserError(`packages: ${where} has a bad sha256`);
    const info: PackageInfo = {
      name: field('package'),
      version: field('version'),
      architecture,
      depends: relations('depends'),
      preDepends: relations('pre-depends'),
      provides: provides(relations('provides'), where),
      essential: p['essential']?.toLowerCase() === 'yes',
      filename: field('filename'),
      size: Number(size),
    };
    if (sha256 !== undefined) info.sha256 = sha256;
    const multiArch = p['multi-arch']?.toLowerCase();
    if (multiArch) info.multiArch = multiArch;
    const priority = p['priority']?.toLowerCase();
    if (priority) info.priority = priority;
    packages.push(info);
  }
  return packages;
}

// Provides takes no alternatives and only `=` versions (Policy 7.5).
function provides(groups: ReturnType<typeof parseRelations>, where: string): PackageInfo['provides'] {
  return groups.map((group) => {
    const rel = group[0]!;
    if (group.length > 1 || (rel.op !== undefined && rel.op !== '=')) {
      throw new UserError(`packages: ${where}: Provides: only "name" or "name (= version)" may be provided`);
    }
    return rel.version === undefined ? { name: rel.name } : { name: rel.name, version: rel.version };
  });
}
