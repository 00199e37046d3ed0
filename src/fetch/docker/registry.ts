import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../../util/errors.ts';
import { log } from '../../util/log.ts';
import { httpGet, isCertificateError, readBody, type HttpGetOptions } from '../http-get.ts';
import { basicAuthorization, parseChallenges, pullScope, tokenUrl, type Credentials } from './auth.ts';
import { algorithmOf, checkDigest, digestOf, MANIFEST_ACCEPT, MANIFEST_LIMIT, type Descriptor } from './media.ts';
import { isLoopbackHost } from './reference.ts';

// A client of one repository on a registry (the Docker Registry HTTP API v2 / OCI
// distribution spec), for pulling: manifests and indexes by tag or digest, blobs by
// digest, each checked against its digest.
//
// Transport: HTTPS. A registry on this machine (127.0.0.0/8, ::1, localhost) may answer
// plain HTTP, as Docker assumes for loopback registries; any other needs
// --insecure-options=http (as rkt's docker2aci had it). Either way HTTPS is tried first.
//
// Auth: a request answered 401 is retried once with what the WWW-Authenticate challenge
// asks: a Bearer token from its realm (anonymous, or with the credentials of auth.d/
// when there are some), or Basic credentials. Tokens are kept for the client's life.
//
// Blobs: to a file, resumed with a Range request after a dropped connection (a blob is
// content-addressed, so the rest of it can be asked for without a validator), the
// sha256 computed on the way and checked at the end: a wrong blob is never used.

export interface RegistryOptions {
  http: HttpGetOptions;
  /** --insecure-options=http: any registry may be plain HTTP. */
  allowHttp: boolean;
  /** Looked up on the first challenge only. */
  credentials?: () => Promise<Credentials | undefined>;
  tries?: number;
  retryDelayMs?: number;
}

export interface FetchedManifest {
  bytes: Buffer;
  /** Content-Type as sent. */
  mediaType: string;
  /** The digest of the bytes (computed here, never taken from the server's header). */
  digest: string;
}

class TransientError extends Error {}

const NETWORK_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH']);
const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

export class RegistryClient {
  readonly #host: string;
  readonly #repository: string;
  readonly #opts: RegistryOptions;
  /** "https:" or "http:", once the registry has answered. */
  #scheme: string | undefined;
  #authorization: string | undefined;
  #credentials: Credentials | undefined | null = null;

  constructor(host: string, repository: string, opts: RegistryOptions) {
    this.#host = host;
    this.#repository = repository;
    this.#opts = opts;
  }

  get repository(): string {
    return this.#repository;
  }

  /** Whether the registry is spoken to over plain HTTP (known after the first request). */
  get plainHttp(): boolean {
    return this.#scheme === 'http:';
  }

  /** A manifest or index, by tag or digest; one asked for by digest must have that digest. */
  async manifest(reference: string, expected?: Pick<Descriptor, 'digest' | 'size'>): Promise<FetchedManifest> {
    const what = `${this.#host}/${this.#repository}@${reference}`;
    const res = await this.#get(`/v2/${this.#repository}/manifests/${reference}`, { accept: MANIFEST_ACCEPT }, what);
    const limit = Math.min(expected?.size ?? MANIFEST_LIMIT, MANIFEST_LIMIT);
    const bytes = await readBody(res, limit, () => new UserError(`docker: manifest ${what} is larger than ${limit} bytes`));
    const pinned = expected?.digest ?? (reference.includes(':') ? reference : undefined);
    if (pinned) checkDigest(bytes, pinned, `docker: manifest ${what}`);
    return { bytes, mediaType: String(res.headers['content-type'] ?? ''), digest: pinned ?? digestOf(bytes) };
  }

  /** A small blob (an image config) in memory, checked against its digest. */
  async smallBlob(desc: Descriptor, limit: number): Promise<Buffer> {
    const what = `blob ${desc.digest}`;
    if (desc.size > limit) throw new UserError(`docker: ${what} is ${desc.size} bytes, more than the ${limit} allowed`);
    const res = await this.#get(`/v2/${this.#repository}/blobs/${desc.digest}`, {}, what);
    const bytes = await readBody(res, desc.size, () => new UserError(`docker: ${what} is larger than the ${desc.size} bytes its descriptor says`));
    checkDigest(bytes, desc.digest, `docker: ${what}`);
    return bytes;
  }

  /**
   * Downloads a blob to `dest` (created or truncated), resuming after drops, and checks
   * its digest. `meter` (a progress meter) is written every byte received.
   */
  async blobToFile(desc: Descriptor, dest: string, meter?: NodeJS.WritableStream, signal?: AbortSignal): Promise<void> {
    const tries = this.#opts.tries ?? 3;
    const handle = await open(dest, 'w');
    const state = { offset: 0, hash: createHash(algorithmOf(desc.digest)) };
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.#blobAttempt(desc, handle, state, meter, signal);
          break;
        } catch (err) {
          if (!isTransient(err)) throw err;
          log().debug({ digest: desc.digest, attempt, offset: state.offset, err }, 'blob download attempt failed');
          if (attempt >= tries) {
            throw new UserError(`docker: blob ${desc.digest}: ${(err as Error).message} (tried ${tries} times); check the network and the registry, then run the command again`, undefined, { cause: err });
          }
          await sleep((this.#opts.retryDelayMs ?? 1000) * 2 ** (attempt - 1));
        }
      }
    } finally {
      await handle.close();
    }
    const got = `${algorithmOf(desc.digest)}:${state.hash.digest('hex')}`;
    if (got !== desc.digest) throw new UserError(`docker: blob ${desc.digest} arrived with digest ${got}: refusing it`);
  }

  async #blobAttempt(
    desc: Descriptor,
    handle: Awaited<ReturnType<typeof open>>,
    state: { offset: number; hash: Hash },
    meter: NodeJS.WritableStream | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (state.offset === desc.size && desc.size > 0) return;
    signal?.throwIfAborted();
    const headers: Record<string, string> = state.offset > 0 ? { range: `bytes=${state.offset}-` } : {};
    const res = await this.#get(`/v2/${this.#repository}/blobs/${desc.digest}`, headers, `blob ${desc.digest}`, true);
    const status = res.statusCode ?? 0;
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
    if (status === 206 && range && Number(range[1]) === state.offset) {
      // Resumed where we stopped.
    } else if (status === 200) {
      if (state.offset > 0) {
        state.offset = 0;
        state.hash = createHash(algorithmOf(desc.digest));
        await handle.truncate(0);
      }
    } else {
      res.resume();
      throw new TransientError(`the registry answered ${status} to a resumed download`);
    }
    const stop = () => res.destroy(new Error('download stopped'));
    signal?.addEventListener('abort', stop, { once: true });
    try {
      await this.#receive(desc, res, handle, state, meter);
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }

  async #receive(desc: Descriptor, res: IncomingMessage, handle: Awaited<ReturnType<typeof open>>, state: { offset: number; hash: Hash }, meter?: NodeJS.WritableStream): Promise<void> {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      if (state.offset + chunk.length > desc.size) {
        res.destroy();
        throw new UserError(`docker: blob ${desc.digest} is larger than the ${desc.size} bytes its descriptor says: refusing it`);
      }
      let done = 0;
      while (done < chunk.length) done += (await handle.write(chunk, done, chunk.length - done, state.offset + done)).bytesWritten;
      state.hash.update(chunk);
      state.offset += chunk.length;
      meter?.write(chunk);
    }
    if (state.offset !== desc.size) throw new TransientError(`the connection closed after ${state.offset} of ${desc.size} bytes`);
  }

  /**
   * GET a registry path, authenticating on a 401 and choosing the scheme on the first
   * request. Statuses other than 2xx become errors, except a 206/200 when `ranged`.
   */
  async #get(path: string, headers: Record<string, string>, what: string, ranged = false): Promise<IncomingMessage> {
    for (let round = 0; ; round++) {
      const res = await this.#send(path, headers);
      const status = res.statusCode ?? 0;
      if (status === 401 && round === 0) {
        const body = await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
        await this.#authenticate(res, body);
        continue;
      }
      if (status >= 200 && status < 300 && (ranged || status !== 206)) return res;
      const body = await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
      if (RETRY_STATUSES.has(status)) throw new TransientError(`the registry answered ${status}`);
      throw this.#statusError(status, what, body);
    }
  }

  async #send(path: string, headers: Record<string, string>): Promise<IncomingMessage> {
    const all = { ...headers, ...(this.#authorization ? { authorization: this.#authorization } : {}) };
    if (this.#scheme) return (await httpGet(`${this.#scheme}//${this.#host}${path}`, this.#opts.http, all)).res;
    try {
      const { res } = await httpGet(`https://${this.#host}${path}`, this.#opts.http, all);
      this.#scheme = 'https:';
      return res;
    } catch (err) {
      if (!this.#mayUseHttp() || !isTlsFailure(err)) throw explain(this.#host, err, this.#mayUseHttp());
      log().debug({ host: this.#host, err }, 'https failed; trying plain http');
      try {
        const { res } = await httpGet(`http://${this.#host}${path}`, { ...this.#opts.http, allowHttp: true }, all);
        this.#scheme = 'http:';
        return res;
      } catch {
        throw explain(this.#host, err, true);
      }
    }
  }

  #mayUseHttp(): boolean {
    return this.#opts.allowHttp || isLoopbackHost(this.#host);
  }

  async #authenticate(res: IncomingMessage, body: Buffer): Promise<void> {
    const challenges = parseChallenges(res.headers['www-authenticate']);
    if (this.#credentials === null) this.#credentials = await this.#opts.credentials?.();
    const creds = this.#credentials;
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      const url = tokenUrl(bearer, pullScope(this.#repository));
      const { res: tokenRes } = await httpGet(url, { ...this.#opts.http, allowHttp: this.#mayUseHttp() }, creds ? { authorization: basicAuthorization(creds) } : {});
      const tokenBody = await readBody(tokenRes, 1 << 20);
      if (tokenRes.statusCode !== 200) {
        throw new UserError(
          `docker: ${this.#host}: the token service ${new URL(url).origin} answered ${tokenRes.statusCode}${creds ? ' to the credentials from auth.d' : ''}: ${registryErrorText(tokenBody) ?? 'no reason given'}`,
        );
      }
      let token: unknown;
      try {
        const doc = JSON.parse(tokenBody.toString('utf8')) as Record<string, unknown>;
        token = doc['token'] ?? doc['access_token'];
      } catch {
        token = undefined;
      }
      if (typeof token !== 'string' || token === '') throw new UserError(`docker: ${this.#host}: the token service sent no token`);
      this.#authorization = `Bearer ${token}`;
      return;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      if (!creds) throw needsCredentials(this.#host, this.#repository, body);
      this.#authorization = basicAuthorization(creds);
      return;
    }
    throw new UserError(`docker: ${this.#host}: the registry asked for authentication it does not name (WWW-Authenticate: ${String(res.headers['www-authenticate'] ?? 'none')})`);
  }

  #statusError(status: number, what: string, body: Buffer): UserError {
    const reason = registryErrorText(body);
    if (status === 401 || status === 403) {
      return new UserError(
        `docker: ${this.#host}: access to ${this.#repository} denied (${status}${reason ? `: ${reason}` : ''}); ` +
          (this.#credentials ? 'the credentials from auth.d are not allowed to pull it' : 'it does not exist, or it needs credentials: see docs/docker.md'),
      );
    }
    if (status === 404) return new UserError(`docker: ${what}: not found on ${this.#host} (${reason ?? '404'})`);
    return new UserError(`docker: ${what}: the registry answered ${status}${reason ? `: ${reason}` : ''}`);
  }
}

/** The first error of a registry's JSON error body: "MANIFEST_UNKNOWN: manifest unknown". */
export function registryErrorText(body: Buffer): string | undefined {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[]; details?: string };
    const first = doc.errors?.[0];
    if (first) return [first.code, first.message].filter(Boolean).join(': ');
    if (typeof doc.details === 'string') return doc.details;
  } catch {
    // not JSON
  }
  return undefined;
}

function needsCredentials(host: string, repository: string, body: Buffer): UserError {
  const reason = registryErrorText(body);
  return new UserError(`docker: ${host}/${repository} needs credentials${reason ? ` (${reason})` : ''}: put them in an auth.d file (docs/docker.md)`);
}

/** An https attempt that failed below HTTP (a plain-HTTP server answers a TLS hello with garbage, or hangs up). */
function isTlsFailure(err: unknown): boolean {
  const code = String((err as NodeJS.ErrnoException).code ?? '');
  const message = err instanceof Error ? err.message : '';
  // A certificate the server did present is never a reason to drop TLS.
  if (/CERT|SELF_SIGNED|UNABLE_TO_|ALTNAME/.test(code)) return false;
  return code === 'EPROTO' || code === 'ECONNRESET' || /wrong version number|packet length|unknown protocol/i.test(`${code} ${message}`);
}

function isTransient(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  const code = (err as NodeJS.ErrnoException).code;
  return code !== undefined && NETWORK_CODES.has(code) && (err as NodeJS.ErrnoException).path === undefined;
}

function explain(host: string, err: unknown, triedHttp: boolean): unknown {
  const code = String((err as NodeJS.ErrnoException).code ?? '');
  if (isCertificateError(code)) {
    return new UserError(`docker: ${host}: the registry's certificate is not trusted (${code}); pass --ca-file with its CA, or --insecure-options=tls to skip the check`, undefined, { cause: err });
  }
  if (isTlsFailure(err) && !triedHttp) {
    return new UserError(`docker: ${host} does not speak HTTPS (${code || (err as Error).message}); pass --insecure-options=http to use plain HTTP with it`, undefined, { cause: err });
  }
  if (code === 'ECONNREFUSED') return new UserError(`docker: ${host}: connection refused; is the registry running there?`, undefined, { cause: err });
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new UserError(`docker: ${host}: host not found`, undefined, { cause: err });
  return err;
}
