import { open, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { progressMeter } from '../util/progress.ts';
import { httpGet, isCertificateError, type HttpGetOptions } from './http-get.ts';

// A download to a file that survives a flaky link (a Pi on Wi-Fi): a dropped or
// truncated transfer is retried a bounded number of times with backoff, and resumed
// with a Range request when the server allows it and the body has not changed
// (If-Range with its validator). Anything else starts over. The caller owns `dest`:
// on failure it may hold part of the body, and the caller removes it.

export interface DownloadOptions extends HttpGetOptions {
  /** The stored copy's ETag: sent as If-None-Match, so a 304 says it is still current. */
  etag?: string;
  /** Attempts in all (default 3). */
  tries?: number;
  /** Wait before the second attempt, doubled before each later one (default 1000 ms). */
  retryDelayMs?: number;
  /** A progress line (bytes, rate, ETA) on `out` (default stderr), only when it is a terminal. */
  progress?: { label: string; out?: NodeJS.WriteStream };
}

export type DownloadResult =
  | { notModified: true; maxAge?: number }
  | { notModified: false; /** After redirects. */ url: string; bytes: number; etag?: string; maxAge?: number };

/** A status that more tries will not change (404, 403...). */
export class HttpStatusError extends UserError {
  constructor(
    readonly url: string,
    readonly status: number,
    statusText: string,
  ) {
    super(`fetch: ${url}: the server answered ${status} ${statusText}`.trimEnd());
  }
}

/** A failure worth another try: the link, not the request, is at fault. */
class TransientError extends Error {}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);
const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

export async function download(url: string, dest: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const tries = opts.tries ?? 3;
  // The validator of the body in `dest` so far; resuming needs one.
  let validator: string | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptDownload(url, dest, opts, validator, (v) => (validator = v));
    } catch (err) {
      if (!isTransient(err)) throw explain(url, err);
      log().debug({ url, attempt, err }, 'download attempt failed');
      if (attempt >= tries) {
        throw new UserError(`fetch: ${url}: ${reason(err, opts)} (tried ${tries} times); check the network and the server, then run the command again`, undefined, { cause: err });
      }
      await sleep((opts.retryDelayMs ?? 1000) * 2 ** (attempt - 1));
    }
  }
}

async function attemptDownload(
  url: string,
  dest: string,
  opts: DownloadOptions,
  validator: string | undefined,
  setValidator: (v: string | undefined) => void,
): Promise<DownloadResult> {
  const offset = validator === undefined ? 0 : await sizeOf(dest);
  const headers: Record<string, string> = {};
  if (offset > 0) Object.assign(headers, { range: `bytes=${offset}-`, 'if-range': validator! });
  else if (opts.etag !== undefined) headers['if-none-match'] = opts.etag;
  const { res, url: answered } = await httpGet(url, opts, headers);
  const status = res.statusCode ?? 0;
  const maxAge = parseMaxAge(res.headers['cache-control']);
  if (status === 304 && offset === 0 && opts.etag !== undefined) {
    res.resume();
    return { notModified: true, maxAge };
  }
  const resumed = status === 206 && offset > 0 && contentRange(res)?.start === offset;
  if (status !== 200 && !resumed) {
    res.resume();
    if (RETRY_STATUSES.has(status)) throw new TransientError(`the server answered ${status}`);
    // A 416, or a range other than the one asked for: start over on the next try.
    if (offset > 0) {
      setValidator(undefined);
      throw new TransientError(`the server answered ${status} to a resumed request`);
    }
    throw new HttpStatusError(url, status, res.statusMessage ?? '');
  }
  const start = resumed ? offset : 0;
  setValidator(strongValidator(res) ?? (resumed ? validator : undefined));
  const length = Number(res.headers['content-length'] ?? NaN);
  const total = resumed ? contentRange(res)?.total : Number.isFinite(length) ? length : undefined;
  const tooLarge = () => new UserError(`fetch: ${url} is larger than the ${opts.maxBytes} bytes expected; refusing the rest`);
  if (opts.maxBytes !== undefined && total !== undefined && total > opts.maxBytes) {
    res.destroy();
    throw tooLarge();
  }
  const progress = opts.progress;
  const meter = progress && progressMeter(`${progress.label}${start > 0 ? ' (resumed)' : ''}`, total === undefined ? undefined : total - start, progress.out);
  // The meter only counts; what it passes on is not needed.
  meter?.resume();
  const handle = await open(dest, start > 0 ? 'r+' : 'w');
  try {
    // Each chunk is on disk before the next is read, so a drop loses nothing received.
    let position = start;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      if (opts.maxBytes !== undefined && position + chunk.length > opts.maxBytes) {
        res.destroy();
        throw tooLarge();
      }
      position += (await handle.write(chunk, 0, chunk.length, position)).bytesWritten;
      meter?.write(chunk);
    }
  } finally {
    meter?.end();
    await handle.close();
  }
  const bytes = await sizeOf(dest);
  if (total !== undefined && bytes !== total) throw new TransientError(`the connection closed after ${bytes} of ${total} bytes`);
  const etag = res.headers.etag;
  return { notModified: false, url: answered, bytes, etag, maxAge };
}

/** Seconds a response may be reused: max-age, or 0 for no-cache / no-store. */
export function parseMaxAge(cacheControl: string | undefined): number | undefined {
  if (cacheControl === undefined) return undefined;
  let maxAge: number | undefined;
  for (const directive of cacheControl.toLowerCase().split(',')) {
    const [key = '', value] = directive.trim().split('=');
    if (key === 'no-cache' || key === 'no-store') return 0;
    if (key === 'max-age' && value !== undefined && /^\d+$/.test(value.replace(/"/g, ''))) maxAge = Number(value.replace(/"/g, ''));
  }
  return maxAge;
}

// If-Range accepts a strong ETag or a Last-Modified date; a weak ETag could resume
// onto a different body.
function strongValidator(res: IncomingMessage): string | undefined {
  const etag = res.headers.etag;
  if (etag !== undefined && !etag.startsWith('W/')) return etag;
  return res.headers['last-modified'];
}

function contentRange(res: IncomingMessage): { start: number; total?: number } | undefined {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), total: m[2] === '*' ? undefined : Number(m[2]) };
}

async function sizeOf(path: string): Promise<number> {
  return (await stat(path).catch(() => undefined))?.size ?? 0;
}

function isTransient(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  const code = (err as NodeJS.ErrnoException).code;
  // A local write error (ENOSPC on the SD card) carries a path; the network's do not.
  return code !== undefined && NETWORK_CODES.has(code) && (err as NodeJS.ErrnoException).path === undefined;
}

/** A one-line error for a failure that is not retried. */
function explain(url: string, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && isCertificateError(code)) {
    return new UserError(
      `fetch: ${url}: the server's certificate is not trusted (${code}); pass --ca-file with its CA, or --insecure-options=tls to skip the check`,
      undefined,
      { cause: err },
    );
  }
  if (err instanceof Error && err.message.includes('would drop https')) {
    return new UserError(`fetch: ${url}: ${err.message}; pass --insecure-options=http to allow it`, undefined, { cause: err });
  }
  return err;
}

function reason(err: unknown, opts: DownloadOptions): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNRESET') return 'the connection dropped';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ETIMEDOUT') return `no data for ${(opts.timeoutMs ?? 10_000) / 1000} s`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  return err instanceof Error ? err.message : String(err);
}
