import { UserError } from '../../util/errors.ts';

// Docker image references (distribution/reference's grammar), the registry they live in
// and the appc name and version a converted image gets. Pure.
//
//   docker://[REGISTRY[:PORT]/]NAME[:TAG][@DIGEST]
//
// The first component is a registry when it has a "." or a ":" or is "localhost";
// otherwise the image is on Docker Hub, where one-component names are "library/NAME".

export interface DockerReference {
  /** host[:port] as written ("docker.io" for Docker Hub). */
  domain: string;
  /** The repository path: "library/busybox", "team/app". */
  repository: string;
  tag?: string;
  /** "sha256:<64 hex>" (or sha512). */
  digest?: string;
}

export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's registry API answers. */
const DOCKER_HUB_API = 'registry-1.docker.io';
const DEFAULT_TAG = 'latest';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;
// A hostname (labels of letters, digits and "-"), an IPv4 address or a bracketed IPv6 one, and a port.
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;

export function isDigest(s: string): boolean {
  return DIGEST.test(s);
}

/** Parses a reference, with or without "docker://"; a reference with neither tag nor digest gets "latest". */
export function parseDockerReference(text: string): DockerReference {
  const raw = text.replace(/^docker:\/\//i, '');
  const fail = (why: string): never => {
    throw new UserError(`docker reference "${text}": ${why}`);
  };
  if (raw === '') fail('no image name');
  let rest = raw;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) fail(`"${digest}" is not a digest (sha256: and 64 lowercase hex digits)`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) fail(`"${tag}" is not a valid tag (letters, digits, "_", "." and "-", at most 128)`);
  }
  const parts = rest.split('/');
  let domain = DOCKER_HUB;
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost')) {
    domain = parts.shift()!;
    if (!DOMAIN.test(domain)) fail(`"${domain}" is not a registry host[:port]`);
  }
  if (domain === 'index.docker.io' || domain === DOCKER_HUB_API) domain = DOCKER_HUB;
  for (const part of parts) {
    if (part !== part.toLowerCase()) fail('repository names must be lowercase');
    if (!COMPONENT.test(part)) fail(`"${part}" is not a valid name component (lowercase letters and digits, separated by ".", "_", "__" or "-")`);
  }
  if (domain === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (repository.length > 255) fail('the name is longer than 255 characters');
  const ref: DockerReference = { domain, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = DEFAULT_TAG;
  return ref;
}

/** The host[:port] whose /v2/ API serves the reference. */
export function registryHost(ref: DockerReference): string {
  return ref.domain === DOCKER_HUB ? DOCKER_HUB_API : ref.domain;
}

/** The manifest to ask the registry for: the digest when pinned, else the tag. */
export function manifestReference(ref: DockerReference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}

/** "docker://host/repo:tag@digest", the form stored as where an image came from. */
export function formatDockerReference(ref: DockerReference): string {
  return `docker://${ref.domain}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/**
 * The AC Identifier of a converted image: "docker.io/library/busybox",
 * "127.0.0.1-5000/app" (a port's ":" and an IPv6 address's brackets cannot be in a name).
 */
export function appcName(domain: string, repository: string): string {
  return appcIdentifier(`${domain}/${repository}`);
}

/** `s` lowercased, with every character an AC Identifier cannot hold made "-", and trimmed to start and end with a letter or digit. */
export function appcIdentifier(s: string): string {
  const mapped = s
    .toLowerCase()
    .replace(/[^a-z0-9._~/-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .replace(/[^a-z0-9]+$/, '');
  return mapped === '' ? 'image' : mapped;
}

/** Whether the registry host is this machine: 127.0.0.0/8, ::1 or localhost, any port. */
export function isLoopbackHost(hostPort: string): boolean {
  const host = hostPort.startsWith('[') ? hostPort.slice(1, hostPort.indexOf(']')) : hostPort.replace(/:\d+$/, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
