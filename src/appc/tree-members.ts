import type { AciEntry } from './aci-entry.ts';
import type { TarMember } from './tar-writer.ts';

// A root filesystem held in memory as path -> node (actool cross's package trees,
// Docker layers squashed) turned into the ACI's tar members. Pure.

/** One path of such a tree; a hard link's `linkTo` is the file node it shares content with. */
export interface TreeNode {
  entry: AciEntry;
  body?: Pick<TarMember, 'abs' | 'content' | 'span'>;
  linkTo?: TreeNode;
}

/**
 * The tree (paths relative to the image's root) as tar members under `rootfs/`, sorted
 * bytewise so the same tree always makes the same archive. Each group of hard links is
 * written once as a file, at its first path, and as links to that path after it.
 */
export function rootfsMembers(nodes: ReadonlyMap<string, TreeNode>, rootfsDir: AciEntry): TarMember[] {
  const paths = [...nodes.keys()].map((p) => ({ p, key: Buffer.from(p) }));
  paths.sort((a, b) => Buffer.compare(a.key, b.key));
  const carriers = new Map<TreeNode, string>();
  const members: TarMember[] = [{ entry: { ...rootfsDir, path: 'rootfs' } }];
  for (const { p } of paths) {
    const node = nodes.get(p)!;
    const path = `rootfs/${p}`;
    const file = node.linkTo ?? (node.entry.type === 'file' ? node : undefined);
    if (!file) {
      members.push({ entry: { ...node.entry, path } });
      continue;
    }
    const carrier = carriers.get(file);
    if (carrier === undefined) {
      carriers.set(file, path);
      members.push({ entry: { ...file.entry, path, type: 'file' }, ...file.body });
    } else {
      members.push({ entry: { ...file.entry, path, type: 'link', size: 0, linkname: carrier } });
    }
  }
  return members;
}
