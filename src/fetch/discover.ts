import {
  discoveryUrls,
  missingLabels,
  parseDiscoveryMeta,
  resolveEndpoints,
  type DiscoveryMeta,
  type Endpoints,
  type ImageRef,
} from '../appc/discovery.ts';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { getText, isCertificateError, type HttpGetOptions } from './http-get.ts';

export interface DiscoverOptions extends Omit<HttpGetOptions, 'allowHttp'> {
  /** Also try plain HTTP, after HTTPS, for each discovery URL (and follow redirects to it). */
  insecure?: boolean;
  /** A port for the discovery URLs' host, for servers off 443/80. */
  port?: number;
}

interface Page {
  url: string;
  metas: DiscoveryMeta[];
}

/**
 * Image, signature and public key URLs for an image, walking from its full name up to
 * its host (spec/discovery.md). Image endpoints come from the deepest page that gives
 * any, public keys likewise, so a page at example.com can serve the keys for all of its
 * images while each image's page names its templates. Fails when no page gives an
 * image endpoint; public keys may come back empty.
 */
export async function discover(ref: ImageRef, opts: DiscoverOptions = {}): Promise<Endpoints> {
  const tried: string[] = [];
  const pages: Page[] = [];
  const found: Endpoints = { aci: [], pubkeys: [] };
  for await (const page of discoveryPages(ref.name, opts, tried)) {
    pages.push(page);
    const eps = resolveEndpoints(page.metas, ref.name, ref.labels);
    if (found.aci.length === 0) found.aci = eps.aci;
    if (found.pubkeys.length === 0) found.pubkeys = eps.pubkeys;
    if (found.aci.length > 0 && found.pubkeys.length > 0) break;
  }
  if (found.aci.length === 0) throw noEndpointError(ref, pages, tried);
  return found;
}

/** The pages found walking up from `name`, deepest first; `tried` records each URL asked and why it gave none. */
async function* discoveryPages(name: string, opts: DiscoverOptions, tried: string[]): AsyncGenerator<Page> {
  const urls = discoveryUrls(name, opts.insecure ?? false, opts.port);
  for (let i = 0; i < urls.length; i++) {
    const url = urls[i]!;
    const page = await fetchPage(url, opts);
    tried.push(typeof page === 'string' ? `${url} (${page})` : url);
    if (typeof page === 'string') continue;
    // Plain HTTP is a fallback for a level whose HTTPS page gave nothing, as in the reference.
    if (opts.insecure && url.startsWith('https:')) i++;
    yield page;
  }
}

/** The page's meta tags, or why there is no page. */
async function fetchPage(url: string, opts: DiscoverOptions): Promise<Page | string> {
  try {
    const res = await getText(url, { ...opts, allowHttp: opts.insecure ?? false });
    log().debug({ url, status: res.status, answeredBy: res.url }, 'discovery page');
    return res.status === 200 ? { url, metas: parseDiscoveryMeta(res.text) } : String(res.status);
  } catch (err) {
    log().debug({ url, err }, 'discovery page failed');
    return reason(err);
  }
}

// System and TLS errors carry a code (ECONNREFUSED, DEPTH_ZERO_SELF_SIGNED_CERT) that
// says more in a line than their message.
function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string') return code;
  return err instanceof Error ? err.message : String(err);
}

function noEndpointError(ref: ImageRef, pages: Page[], tried: string[]): UserError {
  for (const page of pages) {
    const missing = missingLabels(page.metas, ref.name, ref.labels);
    if (missing.length > 0) {
      const example = missing.map((l) => `${l}=...`).join(',');
      return new UserError(
        `discovery: the ac-discovery templates for ${ref.name} at ${page.url} need labels ${missing.join(', ')} (${ref.name},${example})`,
      );
    }
  }
  return new UserError(`discovery: no ac-discovery meta tag for ${ref.name} found at ${tried.join(', ')}${tlsHint(tried)}`);
}

// Certificate errors are the commonest cause with a private server, and their codes
// alone do not say what to do. `tried` ends each failed URL with its reason: "(CODE)".
function tlsHint(tried: string[]): string {
  return tried.some((t) => isCertificateError(/\(([^()]*)\)$/.exec(t)?.[1] ?? ''))
    ? '; the server\'s certificate was not trusted: pass --ca-file with its CA certificate (or --insecure-options=tls)'
    : '';
}

/**
 * The public key URLs for an image name prefix (`rkt trust --prefix` without a key):
 * the same walk as `discover`, up from the prefix to its host, stopping at the deepest
 * page whose ac-discovery-pubkeys tags apply to the prefix.
 */
export async function discoverPubkeys(prefix: string, opts: DiscoverOptions = {}): Promise<string[]> {
  const tried: string[] = [];
  for await (const page of discoveryPages(prefix, opts, tried)) {
    const keys = resolveEndpoints(page.metas, prefix, {}).pubkeys;
    if (keys.length > 0) return keys;
  }
  throw new UserError(`discovery: no ac-discovery-pubkeys meta tag for ${prefix} found at ${tried.join(', ')}${tlsHint(tried)}`);
}
