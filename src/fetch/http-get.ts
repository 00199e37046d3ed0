import http from 'node:http';
import https from 'node:https';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';

// A small GET over node:http(s) rather than the global fetch: fetch cannot aim a
// request at another address while keeping the name for the Host header, SNI and
// certificate check (the `resolve` option), cannot take extra CA certificates per
// request, and follows an https -> http redirect without asking.

export interface HttpGetOptions {
  /** Follow a redirect from https to plain http (the user allowed insecure transport). */
  allowHttp?: boolean;
  /**
   * Like curl --resolve: "host:port" or "host" -> "address:port" to connect to instead.
   * The request still names the host (Host header, TLS server name and certificate
   * check), so tests can serve example.com from 127.0.0.1 on a random port.
   */
  resolve?: Record<string, string>;
  /** Extra trusted CA certificates (PEM), on top of Node's; NODE_EXTRA_CA_CERTS works too. */
  ca?: string | Buffer;
  /** Accept any certificate (--insecure-options=tls). */
  insecureTls?: boolean;
  /** Give up when the connection is idle this long (connecting, waiting or mid-body). */
  timeoutMs?: number;
  /** Refuse bodies larger than this (a hostile server can send forever). */
  maxBytes?: number;
}

export interface HttpText {
  status: number;
  /** The URL that answered, after redirects. */
  url: string;
  text: string;
}

export interface HttpResponse {
  res: http.IncomingMessage;
  /** The URL that answered, after redirects. */
  url: string;
}

const MAX_REDIRECTS = 10;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** GET `url` and read the body as text, following redirects. Non-2xx statuses are returned, not thrown. */
export async function getText(url: string, opts: HttpGetOptions = {}): Promise<HttpText> {
  const { res, url: answered } = await httpGet(url, opts);
  return { status: res.statusCode ?? 0, url: answered, text: (await readBody(res, opts.maxBytes ?? 1 << 20)).toString('utf8') };
}

/**
 * GET `url` with `headers`, following redirects (never from https down to http unless
 * allowHttp). The caller reads or discards the body of the response it gets.
 */
export async function httpGet(url: string, opts: HttpGetOptions = {}, headers: Record<string, string> = {}): Promise<HttpResponse> {
  let current = new URL(url);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    // Credentials go only to the origin they were meant for: a registry redirects blob
    // downloads to storage servers that must not see (and may refuse) its token.
    if (hop > 0 && current.origin !== new URL(url).origin) headers = withoutAuthorization(headers);
    const res = await request(current, opts, headers);
    const location = res.headers.location;
    if (!REDIRECTS.has(res.statusCode ?? 0) || location === undefined) return { res, url: current.href };
    res.resume();
    const next = new URL(location, current);
    if (current.protocol === 'https:' && next.protocol === 'http:' && !opts.allowHttp) {
      throw new Error(`redirect to ${next.href} would drop https`);
    }
    current = next;
  }
  throw new Error(`more than ${MAX_REDIRECTS} redirects`);
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
}

function request(url: URL, opts: HttpGetOptions, headers: Record<string, string>): Promise<http.IncomingMessage> {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return Promise.reject(new Error(`unsupported scheme ${url.protocol}`));
  }
  const secure = url.protocol === 'https:';
  const port = url.port || (secure ? '443' : '80');
  const target = opts.resolve?.[`${url.hostname}:${port}`] ?? opts.resolve?.[url.hostname];
  const [address, targetPort] = target === undefined ? [url.hostname, port] : splitHostPort(target, port);
  const options: https.RequestOptions = {
    host: address,
    port: targetPort,
    path: `${url.pathname}${url.search}`,
    headers: { ...headers, host: url.host, 'user-agent': 'rkt-arm' },
    servername: isIp(url.hostname) ? undefined : url.hostname,
    ...(secure && opts.ca !== undefined ? { secureContext: contextWith(String(opts.ca)) } : {}),
    ...(secure && opts.insecureTls ? { rejectUnauthorized: false } : {}),
  };
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).get(options, resolve);
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer in ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
  });
}

// Node's `ca` replaces its bundled roots, so they are kept alongside the extra CA. A
// context holding them takes ~25 ms to build on x86 (far longer on a Pi Zero): one per
// CA bundle, shared by every request.
const contexts = new Map<string, SecureContext>();

function contextWith(ca: string): SecureContext {
  let context = contexts.get(ca);
  if (!context) contexts.set(ca, (context = createSecureContext({ ca: [...rootCertificates, ca] })));
  return context;
}

function splitHostPort(target: string, fallbackPort: string): [string, string] {
  const colon = target.lastIndexOf(':');
  return colon < 0 ? [target, fallbackPort] : [target.slice(0, colon), target.slice(colon + 1)];
}

function isIp(hostname: string): boolean {
  return /^[0-9.]+$/.test(hostname) || hostname.startsWith('[');
}

/**
 * The whole body of `res`, refusing (and dropping the connection) past `maxBytes`;
 * `tooLarge` makes the error a caller wants to show.
 */
export async function readBody(
  res: http.IncomingMessage,
  maxBytes: number,
  tooLarge: () => Error = () => new Error(`response larger than ${maxBytes} bytes`),
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      res.destroy();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Whether a request failed because the server's certificate is not trusted (a private CA, a self-signed certificate). */
export function isCertificateError(code: string): boolean {
  return /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL/.test(code);
}
