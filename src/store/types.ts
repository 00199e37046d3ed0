import type { Label } from '../appc/types.ts';

// The contract of the image store (src/store/), which fetch, trust, the image
// commands and later the pod code all program against.

/** Where an image came from, kept for `--pull-policy update` (ETag, Cache-Control). */
export interface RemoteInfo {
  /** The URL (or discovery name) the image was fetched from. */
  url: string;
  etag?: string;
  /** Seconds from downloadedAt during which the image counts as fresh (Cache-Control max-age). */
  maxAge?: number;
  /** RFC 3339. */
  downloadedAt: string;
}

/** One image in the store index. */
export interface ImageRecord {
  /** sha512-<128 hex>. */
  id: string;
  name: string;
  labels: Label[];
  /** RFC 3339. */
  importedAt: string;
  /** RFC 3339; updated when the image is rendered or run. */
  lastUsedAt: string;
  /** Bytes of the stored (uncompressed) tar. */
  size: number;
  remote?: RemoteInfo;
}

export interface VerifyProblem {
  /** "blob", "tree" or "index". */
  kind: string;
  /** Image ID or tree ID concerned. */
  id: string;
  problem: string;
  /** True when --repair removed it, so the next fetch or render makes it again. */
  removed: boolean;
}

export interface VerifyReport {
  blobsChecked: number;
  treesChecked: number;
  problems: VerifyProblem[];
  /**
   * Paths below <dir>/cas left by an interrupted fetch, render, rm or gc: temporary
   * files, blobs without a record, incomplete trees. Not damage: `rkt image gc` removes them.
   */
  leftovers: string[];
}

export interface GcReport {
  removedImages: string[];
  removedTrees: string[];
  /** Temporary files and directories left by interrupted writes. */
  removedLeftovers: string[];
}
