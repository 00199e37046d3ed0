import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMAGE_ID_PREFIX } from '../appc/image-id.ts';
import { ExitCode, UserError } from '../util/errors.ts';
import { dockerSource, type DockerSource } from './docker/transport.ts';

// What an image argument names, guessed in CoreOS rkt's order: an image ID; a URL, by
// its scheme; a file when the path is absolute or a regular file of that name exists
// (so a side-loaded image beats the network); an appc name when it has ":" (a
// version); a file when it looks like a path ("./", "../", *.aci); else an appc name.
// Docker and OCI images (docker://, docker-archive:, oci:) are converted (fetch/docker/).

export type ImageSource =
  | { kind: 'id'; id: string }
  | { kind: 'url'; url: string }
  | { kind: 'file'; path: string }
  | { kind: 'name'; ref: string }
  | DockerSource;

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

export function classifySource(arg: string, cwd: string = process.cwd()): ImageSource {
  if (arg.startsWith(IMAGE_ID_PREFIX)) return { kind: 'id', id: arg };
  const scheme = SCHEME.exec(arg)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https') return { kind: 'url', url: arg };
  if (scheme === 'file') return { kind: 'file', path: fileURLToPath(arg) };
  // docker://, docker-archive:, oci: (docs/docker.md).
  const docker = dockerSource(arg, cwd);
  if (docker) return docker;
  if (scheme !== undefined) {
    throw new UserError(`fetch: ${arg}: unsupported scheme "${scheme}://"; use https://, a file path or an image name`, ExitCode.usage);
  }
  if (isAbsolute(arg) || isRegularFile(resolve(cwd, arg))) return { kind: 'file', path: resolve(cwd, arg) };
  if (arg.includes(':')) return { kind: 'name', ref: arg };
  if (arg.includes('./') || arg.endsWith('.aci')) return { kind: 'file', path: resolve(cwd, arg) };
  return { kind: 'name', ref: arg };
}

function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
