import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeError } from '../util/errors.ts';

// A native part carried inside the bundle has to become a file before dlopen can map
// it. The file is named by its content hash, so versions never collide, and it is
// checked on every use: another user must not be able to swap the code we execute.

/** Where native parts are unpacked: $RKT_FFI_CACHE, else $XDG_CACHE_HOME/rkt, else the temp dir. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): { dir: string; create: boolean } {
  if (env.RKT_FFI_CACHE) return { dir: path.resolve(env.RKT_FFI_CACHE), create: true };
  const xdg = env.XDG_CACHE_HOME;
  // The XDG spec says relative values are invalid and must be ignored.
  if (xdg && path.isAbsolute(xdg)) return { dir: path.join(xdg, 'rkt'), create: true };
  return { dir: os.tmpdir(), create: false };
}

/**
 * Return the path of a trusted file `name` in `dir` holding the bytes `produce()` gives,
 * writing it first if it is missing or damaged. Throws with a one-line reason.
 */
export function materialize(dir: string, name: string, sha256: string, produce: () => Buffer): string {
  checkDir(dir);
  const file = path.join(dir, name);
  if (trusted(file, sha256)) return file;
  writeAtomically(dir, name, produce());
  if (!trusted(file, sha256)) throw new Error(`\`${file}\` does not hold what was written to it`);
  return file;
}

export function checkDir(dir: string): void {
  const st = fs.statSync(dir);
  if (!st.isDirectory()) throw new Error(`cache dir \`${dir}\` is not a directory`);
  const uid = process.geteuid?.() ?? st.uid;
  if (st.uid !== uid && st.uid !== 0) throw new Error(`cache dir \`${dir}\` belongs to uid ${st.uid}, not to us`);
  // Others may add files to a sticky dir (like /tmp) but not rename or delete ours.
  const sticky = (st.mode & 0o1000) !== 0;
  if ((st.mode & 0o022) !== 0 && !sticky) {
    throw new Error(`cache dir \`${dir}\` is writable by others and not sticky`);
  }
}

/** False when the file is missing or damaged (then it is rewritten); throws when it is not ours. */
function trusted(file: string, sha256: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new Error(describeError(err));
  }
  try {
    const st = fs.fstatSync(fd);
    const uid = process.geteuid?.() ?? st.uid;
    if (!st.isFile() || st.uid !== uid || (st.mode & 0o022) !== 0) {
      throw new Error(`\`${file}\` is not a private file of ours: remove it or set RKT_FFI_CACHE`);
    }
    return createHash('sha256').update(fs.readFileSync(fd)).digest('hex') === sha256;
  } finally {
    fs.closeSync(fd);
  }
}

function writeAtomically(dir: string, name: string, bytes: Buffer): void {
  const tmp = path.join(dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    // 'wx' is O_CREAT|O_EXCL: a planted file or symlink at the temp name makes this fail.
    const fd = fs.openSync(tmp, 'wx', 0o644);
    try {
      fs.writeSync(fd, bytes);
      // fsync so a power cut cannot leave a renamed but empty file; the directory is
      // not synced: a lost rename only costs a rewrite, the hash check catches the rest.
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path.join(dir, name));
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    // The dir says where; the temp file's name would only make the line longer.
    const why = describeError(err).replace(/^\w+ `[^`]*`: /, '');
    throw new Error(`cannot write to the FFI cache \`${dir}\`: ${why} (set RKT_FFI_CACHE to a writable directory)`);
  }
}
