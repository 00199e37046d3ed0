export type AciEntryType =
  | 'file'
  | 'directory'
  | 'symlink'
  | 'link'
  | 'character-device'
  | 'block-device'
  | 'fifo';

/** One member of an image archive, as read from or written to its tar. */
export interface AciEntry {
  /** Relative to the archive root, normalized: "rootfs/usr/bin/x", no "./", no leading or trailing "/". */
  path: string;
  type: AciEntryType;
  /** Permission bits including setuid, setgid and sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Bytes of content; 0 for everything but regular files. */
  size: number;
  /** Symlink target as stored, or the archive path a hard link refers to. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes from pax SCHILY.xattr.* records. */
  xattrs?: Record<string, string>;
}
