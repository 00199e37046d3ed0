import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Real servers on 127.0.0.1 for the fetch tests. A test CA made here with openssl signs
// a certificate for example.com and *.example.com; clients reach the servers through
// the `resolve` option (like curl --resolve), still naming example.com.

export interface TestPki {
  /** The CA certificate (PEM): what a client passes as `ca` / --ca-file. */
  ca: string;
  caFile: string;
  cert: string;
  key: string;
}

let pki: TestPki | undefined;

/** The test CA and server certificate, made once per process and removed at exit. */
export function testPki(): TestPki {
  if (pki) return pki;
  const dir = mkdtempSync(join(tmpdir(), 'test-pki-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  openssl(['req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=rkt test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  openssl(['req', ...ec, '-keyout', file('key.pem'), '-out', file('server.csr'), '-subj', '/CN=example.com']);
  writeFileSync(file('ext'), 'subjectAltName=DNS:example.com,DNS:*.example.com\n');
  openssl(['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-days', '2', '-extfile', file('ext'), '-out', file('cert.pem')]);
  pki = { ca: readFileSync(file('ca.pem'), 'utf8'), caFile: file('ca.pem'), cert: readFileSync(file('cert.pem'), 'utf8'), key: readFileSync(file('key.pem'), 'utf8') };
  return pki;
}

export interface TestServer {
  port: number;
  /** Every request, in order. */
  requests: http.IncomingMessage[];
  /** "host path" of each request, in order. */
  seen: string[];
  /** `resolve` entries pointing `hosts` (default example.com and its subdomains used in tests) here. */
  resolve(...hosts: string[]): Record<string, string>;
  close(): void;
}

/** An HTTPS (with the test CA's certificate) or plain HTTP server on 127.0.0.1. */
export async function serve(secure: boolean, handler: http.RequestListener): Promise<TestServer> {
  const requests: http.IncomingMessage[] = [];
  const seen: string[] = [];
  const listener: http.RequestListener = (req, res) => {
    requests.push(req);
    seen.push(`${req.headers.host} ${new URL(req.url ?? '/', 'http://x').pathname}`);
    handler(req, res);
  };
  const { cert, key } = testPki();
  const server = secure ? https.createServer({ cert, key }, listener) : http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const defaultPort = secure ? 443 : 80;
  return {
    port,
    requests,
    seen,
    resolve: (...hosts) =>
      Object.fromEntries((hosts.length > 0 ? hosts : ['example.com']).map((h) => [`${h}:${defaultPort}`, `127.0.0.1:${port}`])),
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** A port nothing listens on. */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}
