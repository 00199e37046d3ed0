import { join } from 'node:path';
import { IMAGE_ID_PREFIX } from '../appc/image-id.ts';

// The store on disk, under <dir>/cas/ (after CoreOS rkt's cas and tree store):
//
//   blob/sha512/<2 hex>/<image id>   the image's UNCOMPRESSED tar: verifying is a plain
//                                     re-hash, rendering needs no decompression
//   manifest/<image id>              the manifest's bytes from the tar, for fast reads
//   signature/<image id>.asc         the detached signature the image was verified with, when
//                                     fetched signed: what `rkt image export-bundle` carries
//   index/<image id>.json            the ImageRecord. Its presence is what makes an image
//                                     stored: it is written last and removed first, so a
//                                     blob or manifest without a record is a leftover of an
//                                     interrupted write or rm, invisible and collected by gc
//   tree/<tree id>/                  an image rendered with its dependencies:
//       rootfs/  manifest            from extractLayers (manifest of the top image)
//       layers                       "<depth> <image id>" per line, in render order
//       .complete                    the tree digest, written last (atomically)
//   tmp/                             every temporary file and directory. Each is flock'ed
//                                     by its writer until renamed into place, so gc removes
//                                     exactly those whose writer is gone
//   locks/                           lock files: index, image-<id>, tree-<tree id>, tmp
//
// tmp/ and the final places are in one filesystem, so every commit is a rename(2).
//
// Lock order: image locks (sorted), then a tree lock, then tmp or index. The last two
// are held for a few syscalls only, and nothing waits for another lock while holding
// them, so no two rkt processes can wait for each other.

const SHA512_DIR = 'sha512';

export class StorePaths {
  readonly root: string;

  constructor(dir: string) {
    this.root = join(dir, 'cas');
  }

  /** Every directory the store needs, parents first. */
  get directories(): string[] {
    return [this.root, join(this.root, 'blob'), this.blobRoot, this.manifestDir, this.signatureDir, this.indexDir, this.treeDir, this.tmpDir, this.locksDir];
  }

  get blobRoot(): string {
    return join(this.root, 'blob', SHA512_DIR);
  }

  /** The shard directory holding a blob: the first two hex digits of the hash. */
  blobShard(id: string): string {
    return join(this.blobRoot, id.slice(IMAGE_ID_PREFIX.length, IMAGE_ID_PREFIX.length + 2));
  }

  blob(id: string): string {
    return join(this.blobShard(id), id);
  }

  get manifestDir(): string {
    return join(this.root, 'manifest');
  }

  manifest(id: string): string {
    return join(this.manifestDir, id);
  }

  get signatureDir(): string {
    return join(this.root, 'signature');
  }

  signature(id: string): string {
    return join(this.signatureDir, `${id}.asc`);
  }

  get indexDir(): string {
    return join(this.root, 'index');
  }

  record(id: string): string {
    return join(this.indexDir, `${id}.json`);
  }

  get treeDir(): string {
    return join(this.root, 'tree');
  }

  tree(treeId: string): string {
    return join(this.treeDir, treeId);
  }

  get tmpDir(): string {
    return join(this.root, 'tmp');
  }

  get locksDir(): string {
    return join(this.root, 'locks');
  }

  /** Exclusive for the moment a record is created, changed or deleted. */
  get indexLock(): string {
    return join(this.locksDir, 'index');
  }

  /** Exclusive while an image is added or removed, shared while it is read. */
  imageLock(id: string): string {
    return join(this.locksDir, `image-${id}`);
  }

  /** Exclusive while a tree is rendered or removed, shared while it is checked or used. */
  treeLock(treeId: string): string {
    return join(this.locksDir, `tree-${treeId}`);
  }

  /** Shared while creating a temporary entry, exclusive while gc sweeps tmp/. */
  get tmpLock(): string {
    return join(this.locksDir, 'tmp');
  }
}
