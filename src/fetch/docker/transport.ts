import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { isDigest } from './reference.ts';

// The image arguments that name Docker and OCI images, told apart by their prefix (the
// containers-transports names skopeo uses). Kept free of heavy imports: every rkt
// command that takes an image argument loads it.
//
//   docker://[REGISTRY[:PORT]/]NAME[:TAG|@DIGEST]   a registry (HTTP API v2)
//   docker-archive:PATH[:NAME:TAG]                   `docker save` output (NAME:TAG picks one of several images)
//   oci:PATH[:REF]  or  oci:PATH@sha256:...          an OCI image layout directory (REF: its ref.name annotation)

export type DockerTransport = 'docker' | 'docker-archive' | 'oci';

export interface DockerSource {
  kind: 'docker';
  transport: DockerTransport;
  /** docker: the reference without "docker://"; oci: a ref name or a digest; docker-archive: a NAME:TAG. */
  ref?: string;
  /** oci, docker-archive: the absolute path of the layout or archive. */
  path?: string;
}

/** The source `arg` names, or undefined when it is not a Docker or OCI image argument. */
export function dockerSource(arg: string, cwd: string = process.cwd()): DockerSource | undefined {
  const docker = /^docker:\/\//i.exec(arg);
  if (docker) return { kind: 'docker', transport: 'docker', ref: arg.slice(docker[0].length) };
  const local = /^(docker-archive|oci):/i.exec(arg);
  if (!local) return undefined;
  const transport = local[1]!.toLowerCase() as DockerTransport;
  const { path, ref } = splitPathRef(arg.slice(local[0].length), transport, cwd);
  return { kind: 'docker', transport, path, ...(ref !== undefined ? { ref } : {}) };
}

function splitPathRef(rest: string, transport: DockerTransport, cwd: string): { path: string; ref?: string } {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  const at = rest.lastIndexOf('@');
  if (transport === 'oci' && at > 0 && isDigest(rest.slice(at + 1))) return { path: abs(rest.slice(0, at)), ref: rest.slice(at + 1) };
  if (existsSync(abs(rest))) return { path: abs(rest) };
  // The path is the longest prefix before a ":" that exists; failing that, the part before
  // the first ":" that is followed by no "/" (a ref has none; a path may have ":" in it).
  for (let i = rest.lastIndexOf(':'); i > 0; i = rest.lastIndexOf(':', i - 1)) {
    if (existsSync(abs(rest.slice(0, i)))) return { path: abs(rest.slice(0, i)), ref: rest.slice(i + 1) };
  }
  const colon = transport === 'oci' ? rest.lastIndexOf(':') : rest.indexOf(':');
  if (colon > 0 && !rest.slice(colon + 1).includes('/')) return { path: abs(rest.slice(0, colon)), ref: rest.slice(colon + 1) };
  return { path: abs(rest) };
}
