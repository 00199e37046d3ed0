import { promises as fsp } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpGet, readBody, type HttpGetOptions } from '../fetch/http-get.ts';
import { ExitCode, UserError } from '../util/errors.ts';

export interface FetchedKey {
  bytes: Buffer;
  /** The path or URL the key came from, for the review and messages. */
  location: string;
  /** Came over HTTPS with a verified certificate: only then may --trust-keys-from-https skip the review. */
  verifiedHttps: boolean;
}

// Public keys, even whole keyrings, are small; a server that sends more is not serving one.
const MAX_KEY_BYTES = 4 << 20;

/**
 * A public key from a file path, a file:// URL or an http(s) URL. Plain HTTP (also
 * after a redirect) is refused unless `allowHttp` (--insecure-options=pubkey).
 */
export async function fetchKey(location: string, opts: HttpGetOptions = {}): Promise<FetchedKey> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(location)?.[1]?.toLowerCase();
  if (scheme === undefined || scheme === 'file') {
    const path = scheme === 'file' ? fileURLToPath(location) : resolve(location);
    const bytes = await fsp.readFile(path).catch((err: NodeJS.ErrnoException) => {
      throw new UserError(`trust: cannot read key file ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.code ?? err.message}`);
    });
    return { bytes, location: path, verifiedHttps: false };
  }
  if (scheme !== 'https' && scheme !== 'http') {
    throw new UserError(`trust: ${location}: unsupported scheme "${scheme}://"; give a key file, or an https:// URL`, ExitCode.usage);
  }
  if (scheme === 'http' && !opts.allowHttp) {
    throw new UserError(`trust: ${location} is plain HTTP, so anyone on the way could swap the key; use https:// or --insecure-options=pubkey`);
  }
  const { res, url } = await httpGet(location, opts).catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`trust: cannot get key ${location}: ${err.code ?? err.message}`);
  });
  if (res.statusCode !== 200) {
    res.resume();
    throw new UserError(`trust: cannot get key ${location}: the server answered ${res.statusCode}`);
  }
  const tooLarge = () => new UserError(`trust: ${location} sent more than ${MAX_KEY_BYTES} bytes, too much for a public key`);
  return { bytes: await readBody(res, MAX_KEY_BYTES, tooLarge), location: url, verifiedHttps: url.startsWith('https:') && !opts.insecureTls };
}
