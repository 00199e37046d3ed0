import { canRunArch } from '../appc/compatible-arch.ts';
import { getLabel } from '../appc/labels.ts';
import type { Label } from '../appc/types.ts';

// Whether an image is the one asked for and can run here. Used twice with the same
// rules: to pick a stored image (--pull-policy new/never) and to accept a download.

/** What a fetch asks for. File and URL fetches ask for no name and no labels. */
export interface ImageRequest {
  name?: string;
  /** Labels the user (or a dependency) gave: the image must carry each of them. */
  labels: Record<string, string>;
  /** os/arch filled in from the host: they must match when the image has them. */
  defaults: Record<string, string>;
}

export interface Host {
  os: string;
  arch: string;
}

/** The host's os and arch for the labels a request leaves out (its `defaults`). */
export function hostDefaults(labels: Record<string, string>, host: Host): Record<string, string> {
  return Object.fromEntries(Object.entries({ os: host.os, arch: host.arch }).filter(([k]) => !(k in labels)));
}

/**
 * Why `image` does not answer `req` on `host`, as a one-line message, or undefined
 * when it does. "version=latest" matches any version: it is discovery's default, and
 * images carry their real version.
 */
export function mismatch(image: { name: string; labels: readonly Label[] }, req: ImageRequest, host: Host): string | undefined {
  if (req.name !== undefined && image.name !== req.name) return `the image found for ${req.name} is ${image.name}`;
  const platform = platformProblem(image.name, getLabel(image.labels, 'os'), getLabel(image.labels, 'arch'), host);
  if (platform) return platform;
  for (const [key, want] of Object.entries(req.labels)) {
    if (key === 'version' && want === 'latest') continue;
    const have = getLabel(image.labels, key);
    if (have !== want) return `${image.name} has ${have === undefined ? `no ${key} label` : `${key}=${have}`}, not ${key}=${want} as asked`;
  }
  for (const [key, want] of Object.entries(req.defaults)) {
    const have = getLabel(image.labels, key);
    if (have !== undefined && have !== want && !(key in req.labels)) return `${image.name} has ${key}=${have}, not ${key}=${want} as asked`;
  }
  return undefined;
}

/**
 * Why an image for `os`/`arch` cannot run on `host`, or undefined. An image without
 * an os or arch label (scripts, data) runs anywhere.
 */
export function platformProblem(what: string, os: string | undefined, arch: string | undefined, host: Host): string | undefined {
  const osWrong = os !== undefined && os !== host.os;
  const archWrong = arch !== undefined && !canRunArch(host.arch, arch);
  if (!osWrong && !archWrong) return undefined;
  const add = [osWrong ? `os=${host.os}` : '', archWrong ? `arch=${host.arch}` : ''].filter(Boolean).join(',');
  return (
    `${what} is for ${os ?? host.os}/${arch ?? 'any arch'}, this board runs ${host.os}/${host.arch}; ` +
    `fetch the ${osWrong && archWrong ? `${host.os}/${host.arch}` : archWrong ? host.arch : host.os} image (add ,${add}) or build one`
  );
}
