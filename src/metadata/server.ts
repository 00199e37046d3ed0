import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UserError, describeError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { PodHmac, loadHmacKey } from './hmac.ts';
import { PodsByToken, hmacKeyFile, registerService, serviceDir, type Registration } from './registry.ts';
import { ASCII_TYPE, FormError, handle, type MetadataBackend, type MdsResponse } from './routes.ts';

// `rkt metadata-service`: the routes (routes.ts) over node:http, the pods and the store
// of one data directory behind them (registry.ts), registered for stage0 while it listens.

export const DEFAULT_PORT = 18112;
export const DEFAULT_ADDRESS = '127.0.0.1';
/** A signed object is small (a token, a nonce, a CSR): bodies above this are refused. */
export const MAX_FORM_BYTES = 1024 * 1024;
const FORM_TYPE = 'application/x-www-form-urlencoded';

export function createMetadataServer(backend: MetadataBackend): Server {
  const server = createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    void answer(req, res, backend);
  });
  return server;
}

async function answer(req: IncomingMessage, res: ServerResponse, backend: MetadataBackend): Promise<void> {
  let out: MdsResponse;
  try {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    out = await handle({ method: req.method ?? 'GET', path: q < 0 ? url : url.slice(0, q), form: () => readForm(req) }, backend);
  } catch (err) {
    log().error({ err: describeError(err), url: req.url }, 'metadata-service: request failed');
    out = { status: 500, type: ASCII_TYPE, body: 'internal error\n' };
  }
  const body = Buffer.from(out.body, 'utf8');
  res.writeHead(out.status, { 'Content-Type': out.type, 'Content-Length': body.length, 'Cache-Control': 'no-store', ...out.headers });
  // A body not read (an error before the form) would otherwise stall a keep-alive connection.
  if (!req.complete) req.resume();
  res.end(req.method === 'HEAD' ? undefined : body);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? FORM_TYPE).split(';')[0]!.trim().toLowerCase();
  if (type !== FORM_TYPE) throw new FormError(415, `unsupported media type: post the form as ${FORM_TYPE}`);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_FORM_BYTES) throw new FormError(413, `payload too large: at most ${MAX_FORM_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new FormError(413, `payload too large: at most ${MAX_FORM_BYTES} bytes`);
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export interface MetadataService {
  server: Server;
  /** What AC_METADATA_URL starts with: http://<address>:<port>, no token. */
  url: string;
  close(): Promise<void>;
}

/** The URL pods are told: a wildcard listen address is reached at the loopback one. */
export function serviceUrl(address: string, port: number): string {
  const host = address === '0.0.0.0' || address === '' ? '127.0.0.1' : address === '::' ? '::1' : address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Listens on address:port (port 0: any free one) for the pods of `dir`, and registers. */
export async function startMetadataService(opts: { dir: string; port: number; address: string }): Promise<MetadataService> {
  // The data directory as the store makes it (0755), the service's own directory 0700.
  await mkdir(opts.dir, { recursive: true, mode: 0o755 });
  await mkdir(serviceDir(opts.dir), { recursive: true, mode: 0o700 });
  const pods = new PodsByToken(opts.dir);
  const hmac = new PodHmac(await loadHmacKey(hmacKeyFile(opts.dir)));
  const backend: MetadataBackend = {
    podByToken: (t) => pods.podByToken(t),
    imageManifest: (id) => pods.imageManifest(id),
    sign: (uuid, content) => hmac.sign(uuid, content),
    verify: (uuid, content, sig) => hmac.verify(uuid, content, sig),
  };
  const server = createMetadataServer(backend);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new UserError(`metadata-service: ${opts.address}:${opts.port} is already in use: choose another --listen-port`));
      else if (err.code === 'EADDRNOTAVAIL') reject(new UserError(`metadata-service: --listen-address=${opts.address} is not an address of this host`));
      else reject(err);
    });
    server.listen(opts.port, opts.address, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  const url = serviceUrl(opts.address, (server.address() as AddressInfo).port);
  let registration: Registration;
  try {
    registration = await registerService(opts.dir, url);
  } catch (err) {
    await new Promise((done) => server.close(done));
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    server,
    url,
    close() {
      closing ??= (async () => {
        await registration.close();
        server.closeAllConnections();
        await new Promise((done) => server.close(done));
      })();
      return closing;
    },
  };
}
